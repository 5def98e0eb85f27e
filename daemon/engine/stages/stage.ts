// What a stage supplies to the training loop (loop.ts): its data, its objective (the loss of one
// micro-batch and what it is normalised by) and its metrics. Everything else (backend, model,
// adapter, optimizer, schedule, checkpoints, samples, logging) is the loop's and the same for all.
import type * as tf from '@tensorflow/tfjs-core';
import type { SampleRecord } from '../../../core/protocol/runs.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainJob } from '../api.ts';
import type { Example } from '../data.ts';
import type { LoraAdapter } from '../lora.ts';
import type { MetricsWindow } from '../metrics.ts';
import type { LinearAdapter, LlamaModel } from '../model.ts';
import type { ModelSource } from '../modelSource.ts';

/** One micro-batch of the training data: the `index`-th of epoch `epoch`. */
export interface MicroBatch {
  epoch: number;
  index: number;
}

/** One micro-batch's work, in the order the loop runs it. */
export interface MicroStep {
  /** The loss divided by the step's normaliser; run under tf.variableGrads (so inside a tidy). */
  loss(): tf.Scalar;
  /** After the gradient: the micro-batch's metrics into the window (and its kept tensors freed). */
  record(window: MetricsWindow): void;
  /** Non-padding tokens the micro-batch fed the model (num_tokens, tokens per second). */
  tokens: number;
}

/** A stage's training objective on a built model. */
export interface Objective {
  /**
   * Work for a whole optimizer step before its micro-batches (GRPO samples the step's completions and
   * scores them here: its advantages and normaliser span the step). `step` is the number of steps done.
   * Returns false when `signal` stopped it before the step was ready (the step is then not trained).
   */
  prepareStep?(batches: MicroBatch[], step: number, signal: AbortSignal): Promise<boolean>;
  /** What each micro-batch's loss in one optimizer step is divided by. */
  normaliser(step: MicroBatch[]): number;
  /** Prepares micro-batch `b` (work outside the gradient, such as reference log-probs, happens here). */
  micro(b: MicroBatch, normaliser: number): MicroStep;
  /** Runs the eval set (when there is one) into `window`, under the stage's metric names (`loss` first). */
  evaluate(window: MetricsWindow): void;
  hasEval: boolean;
  /**
   * Trainable weights the stage adds to the model's (a reward model's `score.weight`), under their
   * transformers names; trained with the rest, saved in checkpoints and outputs (checkpoint.ts).
   */
  head?: Map<string, tf.Variable>;
  /** Frees what the objective holds (reference log-probs live on the host; tensors, if any). */
  dispose(): void;
}

export interface ObjectiveContext {
  model: LlamaModel;
  /** null = full fine-tuning. */
  lora: LoraAdapter | null;
  /**
   * What the reference model is, for stages that have one: the base with this adapter (a continued
   * adapter's frozen starting copy); absent: the base alone (a new adapter off, or full fine-tuning's
   * starting weights).
   */
  reference?: LinearAdapter;
  args: TrainingArguments;
  /** Micro-batches the run will train on (for reference log-probs computed before the first step). */
  totalMicroBatches: number;
  log(line: string): void;
  /** A completion for the samples view (GRPO's groups, with their rewards). */
  sample(record: SampleRecord): void;
}

/** A stage's data, read, checked and tokenized before the model is built. */
export interface StageData {
  /** Training records kept. */
  records: number;
  /** Micro-batches in one epoch. */
  perEpoch: number;
  /** Sequences one micro-batch runs through the model, as examples the memory check sizes a step from. */
  memory: { train: Example[]; eval: Example[] | null; rowsPerExample: number; maxLength: number };
  /** Lines for the run log: records dropped or cut, and why. */
  notes: string[];
  objective(ctx: ObjectiveContext): Objective;
}

export interface Stage {
  /** Checks the stage's arguments (loss types, ranges) before anything is loaded; throws one sentence. */
  checkArgs(args: TrainingArguments): void;
  load(job: TrainJob, args: TrainingArguments, source: ModelSource): StageData;
}
