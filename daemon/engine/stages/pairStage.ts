// What DPO, CPO/SimPO and ORPO share: preference pairs read and cut as TRL does (preferenceData.ts),
// batched per epoch in a seeded order, each micro-batch run as [chosen ; rejected] rows, its loss
// divided by the step's micro-batch count (transformers' Trainer divides by gradient accumulation
// steps), eval averaged over batches, and (for the stages that have one) the reference model's
// log-probs (reference.ts). A stage adds its loss and metrics (PairLoss).
import type * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { EpochOrder } from '../data.ts';
import { sequenceBatch, type SequenceBatch } from '../logprobs.ts';
import type { LoraAdapter } from '../lora.ts';
import type { LlamaModel } from '../model.ts';
import { loadPairs, pairSequences, type PairExample, type PairSet } from '../preferenceData.ts';
import { ReferenceLogProbs } from '../reference.ts';
import { meanLossObjective } from './meanLossObjective.ts';
import type { Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

/** One micro-batch's loss times `scale`, with TRL's metrics for it put in `out`. `reference`: per pair [chosen, rejected] (stages with a reference). */
export type PairLoss = (model: LlamaModel, lora: LoraAdapter | null, b: SequenceBatch, reference: Float64Array[] | null, scale: number, out: Map<string, number>, checkpointLayers: boolean) => tf.Scalar;

export interface PairStageSpec {
  /** Checks the stage's keys and returns its loss; throws one sentence on a bad value. */
  loss(args: TrainingArguments): PairLoss;
  /** Whether the loss compares with a reference model (DPO) or not (CPO, SimPO, ORPO). */
  reference: boolean;
  /** Score the chosen rows' prompt tokens too (ORPO's NLL covers the whole chosen sequence). */
  scoreChosenPrompt?: boolean;
}

/** A micro-batch's rows: every pair's chosen sequence, then every pair's rejected one. */
export function pairRows(pairs: PairExample[], padId: number, scoreChosenPrompt = false): SequenceBatch {
  const chosen = pairs.map((p) => (scoreChosenPrompt ? { ...p.chosen, scoreFrom: 1 } : p.chosen));
  return sequenceBatch([...chosen, ...pairs.map((p) => p.rejected)], padId);
}

function objective(spec: PairStageSpec, train: PairSet, evalSet: PairSet | null, padId: number, ctx: ObjectiveContext): Objective {
  const { args } = ctx;
  const loss = spec.loss(args);
  const order = new EpochOrder(train.pairs, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true });
  const evalOrder = evalSet ? new EpochOrder(evalSet.pairs, { batchSize: args.per_device_eval_batch_size, seed: args.seed, shuffle: false }) : null;
  const both = (pairs: PairExample[]) => (i: number) => [pairs[i]!.chosen, pairs[i]!.rejected];
  const reference = spec.reference ? new ReferenceLogProbs(ctx.model, both(train.pairs), padId, args.per_device_eval_batch_size, ctx.reference) : null;
  const evalReference = spec.reference && evalSet ? new ReferenceLogProbs(ctx.model, both(evalSet.pairs), padId, args.per_device_eval_batch_size, ctx.reference) : null;
  if (reference && !ctx.lora) {
    const used = new Set<number>();
    for (let m = 0; m < ctx.totalMicroBatches; m++) for (const i of order.batchAt(Math.floor(m / order.perEpoch), m % order.perEpoch).indices) used.add(i);
    ctx.log(`computing the reference log-probs of ${used.size} pair(s)${evalSet ? ` and ${evalSet.pairs.length} eval pair(s)` : ''} from the starting weights (full fine-tuning keeps no second model)`);
    reference.ensure(used);
    evalReference?.ensure(evalSet!.pairs.keys());
  }
  const refsOf = (r: ReferenceLogProbs | null, indices: number[]) => {
    if (!r) return null;
    r.ensure(indices);
    return indices.map((i) => r.get(i));
  };
  return meanLossObjective({
    train: order,
    eval: evalOrder,
    checkpointLayers: args.gradient_checkpointing === true,
    prepare({ items, indices }, split) {
      const refs = refsOf(split === 'train' ? reference : evalReference, indices);
      const b = pairRows(items, padId, spec.scoreChosenPrompt);
      return { tokens: b.tokens, loss: (scale, out, checkpointLayers) => loss(ctx.model, ctx.lora, b, refs, scale, out, checkpointLayers) };
    },
  });
}

/** A preference stage from its loss: data loading, notes and the objective are shared. */
export function pairStage(spec: PairStageSpec): Stage {
  return {
    checkArgs: (args) => void spec.loss(args),
    load(job, args, source): StageData {
      const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
      const train = loadPairs(job.data.train, source.tokenizer, { max_length: maxLength });
      const evalSet = job.data.eval ? loadPairs(job.data.eval, source.tokenizer, { max_length: maxLength }) : null;
      const notes: string[] = [];
      if (train.dropped > 0) notes.push(`${train.dropped} pair(s) dropped: the prompt alone is ${maxLength} tokens or more (max_length), so nothing of their completions would be compared`);
      if (train.truncated > 0) notes.push(`${train.truncated} pair(s) had a sequence cut to ${maxLength} tokens (max_length, keeping the start)`);
      const padId = source.tokenizer.padId;
      return pairStageData(train, evalSet, args, maxLength, notes, (ctx) => objective(spec, train, evalSet, padId, ctx));
    },
  };
}

/** The StageData of a stage trained on pairs: each micro-batch runs chosen and rejected sequences. */
export function pairStageData(train: PairSet, evalSet: PairSet | null, args: TrainingArguments, maxLength: number, notes: string[], build: StageData['objective']): StageData {
  return {
    records: train.pairs.length,
    perEpoch: Math.ceil(train.pairs.length / args.per_device_train_batch_size),
    memory: { train: pairSequences(train.pairs), eval: evalSet ? pairSequences(evalSet.pairs) : null, rowsPerExample: 2, maxLength },
    notes,
    objective: build,
  };
}

/** Per-token statistics of a [chosen ; rejected] batch, summed over each half's completion tokens. */
export function halfSums(b: SequenceBatch, perToken: ArrayLike<number>): { chosen: number; rejected: number; chosenTokens: number; rejectedTokens: number } {
  const B = b.batch / 2;
  const s = { chosen: 0, rejected: 0, chosenTokens: 0, rejectedTokens: 0 };
  for (let i = 0; i < b.rowOf.length; i++) {
    if (!b.inCompletion[i]) continue;
    if (b.rowOf[i]! < B) {
      s.chosen += perToken[i]!;
      s.chosenTokens++;
    } else {
      s.rejected += perToken[i]!;
      s.rejectedTokens++;
    }
  }
  return s;
}

export const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, v) => a + v, 0) / Math.max(1, xs.length);

/** TRL's rewards/* metrics from each pair's chosen and rejected implicit rewards. */
export function recordRewards(out: Map<string, number>, chosen: number[], rejected: number[]): void {
  out.set('rewards/chosen', mean(chosen));
  out.set('rewards/rejected', mean(rejected));
  out.set('rewards/accuracies', mean(chosen.map((v, i) => (v > rejected[i]! ? 1 : 0))));
  out.set('rewards/margins', mean(chosen.map((v, i) => v - rejected[i]!)));
}
