// Supervised fine-tuning, and continued pre-training (TRL: SFTTrainer on `text` records, EOS appended,
// packing available; the `cpt` stage checks the data is text): next-token cross-entropy on the tokens
// that carry loss (data.ts decides which), normalised by the loss tokens of the whole optimizer step
// (transformers' num_items_in_batch), so gradient accumulation equals one big batch. TRL's `nll` and
// `dft` loss types. Evaluation reports the loss over all eval tokens and its perplexity.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { LOSS_TYPES } from '../../../core/recipe/defaults.ts';
import type { TrainJob } from '../api.ts';
import { BatchLoader, loadExamples, type Batch } from '../data.ts';
import type { LoraAdapter } from '../lora.ts';
import { causalBias, forward, type LlamaModel } from '../model.ts';
import type { ModelSource } from '../modelSource.ts';
import { headCrossEntropy, type SftLossType } from '../headOps.ts';
import type { MicroBatch, Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

/**
 * One micro-batch's summed token loss times `scale`; `out.correct` gets the count of argmax hits.
 * Only positions that carry loss go through the head (most of the lm_head's cost saved), and the
 * head and the loss run as one chunked op: the [positions, vocab] logits are never held at once.
 */
function batchLoss(model: LlamaModel, lora: LoraAdapter | null, b: Batch, scale: number, lossType: SftLossType, out: { correct?: tf.Tensor }, checkpointLayers: boolean): tf.Scalar {
  const select: number[] = [];
  for (let i = 0; i < b.weights.length; i++) if (b.weights[i]! > 0) select.push(i);
  const sel = Int32Array.from(select);
  const labels = tf.tensor1d(Int32Array.from(select, (i) => b.labels[i]!), 'int32');
  const weights = tf.fill([sel.length], scale) as tf.Tensor1D;
  const lossHead = (hidden: tf.Tensor2D, head: tf.Tensor2D) => headCrossEntropy(hidden, head, labels, weights, lossType, out);
  return forward(
    model,
    { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) },
    { adapter: lora ?? undefined, frozenBase: lora !== null, select: sel, checkpointLayers, lossHead },
  ) as tf.Tensor as tf.Scalar;
}

/**
 * The loss over every loss token of `loader`'s first epoch (token-weighted: the loss of all tokens, not
 * a mean of batch means), its perplexity and the argmax accuracy; without gradient.
 */
export function evalLoss(model: LlamaModel, adapter: LoraAdapter | null, loader: BatchLoader, lossType: SftLossType = 'nll'): { loss: number; perplexity: number; accuracy: number; tokens: number } {
  let nll = 0;
  let correct = 0;
  let count = 0;
  for (let i = 0; i < loader.perEpoch; i++) {
    const b = loader.batchAt(0, i);
    const out: { correct?: tf.Tensor } = {};
    nll += tf.tidy(() => batchLoss(model, adapter, b, 1, lossType, out, false).dataSync()[0]!);
    correct += out.correct!.dataSync()[0]!;
    out.correct!.dispose();
    count += b.lossTokens;
  }
  const loss = nll / Math.max(1, count);
  return { loss, perplexity: Math.exp(loss), accuracy: correct / Math.max(1, count), tokens: count };
}

/**
 * Train and eval examples with their loaders. Records are cut to the loader's row length (max_length,
 * capped by the model's position table), so none overflows a packed row or outruns the positions.
 */
export function prepareData(data: TrainJob['data'], args: TrainingArguments, source: ModelSource, stage: 'sft' | 'cpt' = 'sft') {
  const tok = source.tokenizer;
  const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
  const cut = { ...args, max_length: maxLength };
  const trainSet = loadExamples(data.train, tok, cut, stage);
  const evalSet = data.eval ? loadExamples(data.eval, tok, cut, stage) : null;
  const loader = new BatchLoader(trainSet.examples, { batchSize: args.per_device_train_batch_size, maxLength, packing: args.packing, seed: args.seed, padId: tok.padId, shuffle: true });
  const evalLoader = evalSet ? new BatchLoader(evalSet.examples, { batchSize: args.per_device_eval_batch_size, maxLength, packing: false, seed: args.seed, padId: tok.padId, shuffle: false }) : null;
  return { trainSet, evalSet, loader, evalLoader, maxLength };
}

function objective(data: ReturnType<typeof prepareData>, lossType: SftLossType, ctx: ObjectiveContext): Objective {
  const { model, lora } = ctx;
  const { loader, evalLoader } = data;
  const checkpointLayers = ctx.args.gradient_checkpointing === true;
  const batchOf = (b: MicroBatch) => loader.batchAt(b.epoch, b.index);
  return {
    hasEval: evalLoader !== null,
    normaliser: (step) => Math.max(1, step.reduce((a, b) => a + batchOf(b).lossTokens, 0)),
    micro(mb, normaliser) {
      const b = batchOf(mb);
      const out: { correct?: tf.Tensor } = {};
      return {
        tokens: b.tokens,
        loss: () => batchLoss(model, lora, b, 1 / normaliser, lossType, out, checkpointLayers),
        record(window) {
          window.add('mean_token_accuracy', out.correct!.dataSync()[0]! / Math.max(1, b.lossTokens));
          out.correct!.dispose();
        },
      };
    },
    evaluate(window) {
      const { loss, perplexity, accuracy } = evalLoss(model, lora, evalLoader!, lossType);
      window.add('loss', loss);
      window.add('perplexity', perplexity);
      window.add('mean_token_accuracy', accuracy);
    },
    dispose() {},
  };
}

/** SFT, or continued pre-training (the same objective on `text` data, which the checker then requires). */
function sftStage(stage: 'sft' | 'cpt'): Stage {
  return {
    checkArgs(args) {
      const known = LOSS_TYPES[stage];
      const t = args.loss_type;
      if (t !== undefined && (typeof t !== 'string' || !known.includes(t))) throw new Error(`loss_type \`${String(t)}\` is not an SFT loss; use ${known.join(' or ')}.`);
    },
    load(job, args, source): StageData {
      const data = prepareData(job.data, args, source, stage);
      const notes: string[] = [];
      if (data.trainSet.truncated > 0) {
        const why = data.maxLength < args.max_length ? `the model's max_position_embeddings, below max_length=${args.max_length}` : 'max_length';
        notes.push(`${data.trainSet.truncated} training record(s) were cut to ${data.maxLength} tokens (${why})${stage === 'cpt' && !args.packing ? '; packing: true trains on every token of long documents instead' : ''}`);
      }
      const lossType = (args.loss_type ?? 'nll') as SftLossType;
      return {
        records: data.trainSet.examples.length,
        perEpoch: data.loader.perEpoch,
        memory: { train: data.trainSet.examples, eval: data.evalSet?.examples ?? null, rowsPerExample: 1, maxLength: data.maxLength },
        notes,
        objective: (ctx) => objective(data, lossType, ctx),
      };
    },
  };
}

export const sft = sftStage('sft');
export const cpt = sftStage('cpt');
