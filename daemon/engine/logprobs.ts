// Per-token and per-sequence log-probabilities of completions, the quantity every preference and RL
// stage is built on: TRL's `selective_log_softmax(logits[:, :-1], input_ids[:, 1:])` with the prompt
// and padding masked to 0, summed (or averaged) per sequence. Only completion positions go through
// the head (headOps.headLogProbs), so the [positions, vocab] logits are never all held at once.
import * as tf from '@tensorflow/tfjs-core';
import type { LinearAdapter, LlamaModel } from './model.ts';
import { causalBias, forward } from './model.ts';
import { headLogProbs, type TokenStat } from './headOps.ts';

/**
 * One sequence: its token ids; tokens from `completionStart` on are the completion, whose
 * log-probabilities are summed. `scoreFrom` (default: completionStart) scores earlier tokens too,
 * outside the sums (ORPO's NLL covers the prompt as well).
 */
export interface ScoredSequence {
  ids: Int32Array;
  completionStart: number;
  scoreFrom?: number;
}

/** Sequences right-padded into one batch, and the flattened positions whose next token is scored. */
export interface SequenceBatch {
  batch: number;
  length: number;
  ids: Int32Array;
  positions: Int32Array;
  segments: Int32Array;
  /** Position t - 1 of every completion token t, row-major. */
  select: Int32Array;
  /** The completion token each selected position predicts. */
  labels: Int32Array;
  /** The sequence each selected position belongs to. */
  rowOf: Int32Array;
  /** 1 where the selected position predicts a completion token (the others are scored, not summed). */
  inCompletion: Float32Array;
  /** Completion tokens per sequence (TRL's completion_mask.sum(1)). */
  counts: Float32Array;
  /** Non-padding tokens. */
  tokens: number;
}

/** Right-pads `seqs` to the longest one (as TRL's collators do) and lists the completion positions. */
export function sequenceBatch(seqs: ScoredSequence[], padId: number): SequenceBatch {
  const B = seqs.length;
  const T = Math.max(1, ...seqs.map((s) => s.ids.length));
  const ids = new Int32Array(B * T).fill(padId);
  const positions = new Int32Array(B * T);
  const segments = new Int32Array(B * T);
  const select: number[] = [];
  const labels: number[] = [];
  const rowOf: number[] = [];
  const inCompletion: number[] = [];
  const counts = new Float32Array(B);
  let tokens = 0;
  seqs.forEach((s, r) => {
    for (let t = 0; t < s.ids.length; t++) {
      ids[r * T + t] = s.ids[t]!;
      positions[r * T + t] = t;
      segments[r * T + t] = 1;
      if (t >= Math.max(1, s.scoreFrom ?? s.completionStart)) {
        select.push(r * T + t - 1);
        labels.push(s.ids[t]!);
        rowOf.push(r);
        const completion = t >= s.completionStart ? 1 : 0;
        inCompletion.push(completion);
        counts[r]! += completion;
      }
    }
    tokens += s.ids.length;
  });
  return { batch: B, length: T, ids, positions, segments, select: Int32Array.from(select), labels: Int32Array.from(labels), rowOf: Int32Array.from(rowOf), inCompletion: Float32Array.from(inCompletion), counts, tokens };
}

/** What sequenceLogProbs returns: tensors for the caller's loss; statistics kept for its metrics. */
export interface SequenceLogProbs {
  /** Per-token log-probabilities of the selected positions [M] (differentiable). */
  tokens: tf.Tensor1D;
  /** The sum per sequence of the completion tokens' log-probabilities [B] (differentiable). */
  sums: tf.Tensor1D;
  /** Per-token statistics asked for, [M] each (no gradient). */
  stats: Partial<Record<TokenStat, tf.Tensor1D>>;
}

/** Sums per sequence of per-token values [M] as one product with the [B, M] membership matrix (differentiable). */
export function perSequence(values: tf.Tensor1D, rowOf: Int32Array, batch: number): tf.Tensor1D {
  const member = new Float32Array(batch * rowOf.length);
  rowOf.forEach((r, i) => (member[r * rowOf.length + i] = 1));
  return tf.reshape(tf.matMul(tf.tensor2d(member, [batch, rowOf.length]), tf.reshape(values, [-1, 1])), [batch]) as tf.Tensor1D;
}

export interface LogProbOptions {
  /** The adapter to apply; absent = the base model (a LoRA run's reference). */
  adapter?: LinearAdapter;
  frozenBase: boolean;
  checkpointLayers?: boolean;
  want?: readonly TokenStat[];
  /** Log-probs of logits / temperature (GRPO scores its samples at the temperature they were drawn at). */
  temperature?: number;
  /** No gradient will be taken (reference passes that may run while a tape records): the head skips its early input gradient. */
  noGradient?: boolean;
}

/**
 * The model's log-probabilities of each completion token of `b`, and their sums per sequence, then
 * `loss` of them: forward's loss head runs `loss` on the selected rows only, so the value returned
 * is `loss`'s scalar, differentiable through the model. Call inside tf.tidy (or variableGrads).
 */
export function completionLoss(model: LlamaModel, b: SequenceBatch, opts: LogProbOptions, loss: (lp: SequenceLogProbs) => tf.Scalar): tf.Scalar {
  const labels = tf.tensor1d(b.labels, 'int32');
  const lossHead = (hidden: tf.Tensor2D, head: tf.Tensor2D) => {
    const stats: Partial<Record<TokenStat, tf.Tensor1D>> = {};
    const tokens = headLogProbs(hidden, head, labels, opts.want ?? [], stats, undefined, opts.temperature ?? 1, opts.noGradient ? false : undefined);
    const completion = b.inCompletion.every((c) => c === 1) ? tokens : tf.mul(tokens, tf.tensor1d(b.inCompletion));
    return loss({ tokens, sums: perSequence(completion as tf.Tensor1D, b.rowOf, b.batch), stats });
  };
  return forward(
    model,
    { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) },
    { adapter: opts.adapter, frozenBase: opts.frozenBase, select: b.select, checkpointLayers: opts.checkpointLayers, lossHead },
  ) as tf.Tensor as tf.Scalar;
}

/** Summed completion log-probabilities per sequence, without gradient (reference models, scoring). */
export function sequenceLogProbs(model: LlamaModel, b: SequenceBatch, adapter?: LinearAdapter): Float64Array {
  let sums = new Float64Array(0);
  tf.tidy(() => {
    completionLoss(model, b, { adapter, frozenBase: true, noGradient: true }, (lp) => {
      sums = Float64Array.from(lp.sums.dataSync());
      return tf.scalar(0);
    });
  });
  return sums;
}
