// GRPO's policy loss as TRL 1.16 computes it (trl/trainer/grpo_trainer.py, GRPOTrainer._compute_loss),
// on per-token log-probs laid out as TRL's right-padded completions [B, T]: importance ratio against the
// policy that sampled the completions (per token, or per sequence = GSPO), the clipped surrogate (or
// CISPO / SAPO / VESPO's weightings), the k3 KL to the reference, the aggregation each loss type
// uses, and the metrics TRL logs. Every loss type TRL has. Checked against TRL's own numbers in
// test/unit/engine/grpoGolden.test.ts (fixture: test/fixtures/trl/grpo.json).
import * as tf from '@tensorflow/tfjs-core';

export type GrpoLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo' | 'cispo' | 'sapo' | 'luspo' | 'vespo';
export const GRPO_LOSS_TYPES: readonly GrpoLossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo'];
/** 'sequence' is GSPO: one ratio per completion, the exp of its mean per-token log-ratio. */
export type ImportanceSamplingLevel = 'token' | 'sequence';

export interface GrpoLossSettings {
  lossType: GrpoLossType;
  /** Lower clip range (TRL's `epsilon`). */
  epsilonLow: number;
  /** Upper clip range (TRL's `epsilon_high`, defaulting to `epsilon`); CISPO's cap on the ratio. */
  epsilonHigh: number;
  /** KL coefficient; 0 = no reference model. */
  beta: number;
  importanceSamplingLevel: ImportanceSamplingLevel;
  /** Two-sided clipping: the unclipped ratio is capped at delta (null = off). */
  delta: number | null;
  /** Multiply the per-token KL by the importance ratio (TRL's default since the DeepSeek-V3.2 correction). */
  useBiasCorrectionKl: boolean;
  /** dr_grpo's constant denominator per sequence. */
  maxCompletionLength: number;
  sapoTemperaturePos: number;
  sapoTemperatureNeg: number;
  vespoKPos: number;
  vespoLambdaPos: number;
  vespoKNeg: number;
  vespoLambdaNeg: number;
  /** Drop negative-advantage sequences whose mean log(old/new) exceeds this (null = off). */
  offPolicyMaskThreshold: number | null;
  /** Keep only the top fraction of completion tokens by entropy in the policy term (1 = all). */
  topEntropyQuantile: number;
}

/** GRPOConfig's loss keys under TRL's names (a recipe's keys), all optional. */
export interface GrpoLossKeys {
  loss_type?: string;
  epsilon?: number;
  epsilon_high?: number | null;
  beta?: number;
  importance_sampling_level?: string;
  delta?: number | null;
  use_bias_correction_kl?: boolean;
  max_completion_length?: number;
  sapo_temperature_pos?: number;
  sapo_temperature_neg?: number;
  vespo_k_pos?: number;
  vespo_lambda_pos?: number;
  vespo_k_neg?: number;
  vespo_lambda_neg?: number;
  off_policy_mask_threshold?: number | null;
  top_entropy_quantile?: number;
  entropy_coef?: number;
}

/** The loss settings from TRL-named keys, with GRPOConfig 1.16's defaults; refuses what TRL or Anneal can't do, in one sentence. */
export function grpoLossSettings(k: GrpoLossKeys): GrpoLossSettings {
  const lossType = (k.loss_type ?? 'dapo') as GrpoLossType;
  if (!GRPO_LOSS_TYPES.includes(lossType)) throw new Error(`loss_type \`${k.loss_type}\` is not a GRPO loss; use one of ${GRPO_LOSS_TYPES.join(', ')}.`);
  const level = k.importance_sampling_level ?? 'token';
  if (level !== 'token' && level !== 'sequence') throw new Error(`importance_sampling_level \`${level}\` is not known; use token or sequence (GSPO).`);
  if ((k.entropy_coef ?? 0) !== 0) throw new Error('entropy_coef is not supported yet (the per-token entropies carry no gradient); leave it at 0.');
  const quantile = k.top_entropy_quantile ?? 1;
  if (!(quantile >= 0 && quantile <= 1)) throw new Error(`top_entropy_quantile is ${quantile}; it is a fraction of tokens in [0, 1].`);
  const epsilon = k.epsilon ?? 0.2;
  return {
    lossType,
    epsilonLow: epsilon,
    epsilonHigh: k.epsilon_high ?? epsilon,
    beta: k.beta ?? 0,
    importanceSamplingLevel: level,
    delta: k.delta ?? null,
    useBiasCorrectionKl: k.use_bias_correction_kl ?? true,
    maxCompletionLength: k.max_completion_length ?? 512,
    sapoTemperaturePos: k.sapo_temperature_pos ?? 1,
    sapoTemperatureNeg: k.sapo_temperature_neg ?? 1.05,
    vespoKPos: k.vespo_k_pos ?? 2,
    vespoLambdaPos: k.vespo_lambda_pos ?? 3,
    vespoKNeg: k.vespo_k_neg ?? 3,
    vespoLambdaNeg: k.vespo_lambda_neg ?? 2,
    offPolicyMaskThreshold: k.off_policy_mask_threshold ?? null,
    topEntropyQuantile: quantile,
  };
}

/** One micro-batch. Per-token arrays are [B, T] row-major, right-padded like TRL's completions. */
export interface GrpoLossInputs {
  /** The policy's per-token log-probs of the completion tokens (differentiable). Values off the mask are ignored. */
  logps: tf.Tensor2D;
  /** 1 on tokens that count (TRL's completion_mask, times tool_mask; all 0 for a masked-out truncated completion). */
  mask: ArrayLike<number>;
  /** One advantage per completion. */
  advantages: ArrayLike<number>;
  /** Log-probs under the policy that sampled the completions; null = the current policy (ratio exactly 1, TRL's detach). */
  oldLogps: ArrayLike<number> | null;
  /** Reference log-probs; needed when beta != 0. */
  refLogps: ArrayLike<number> | null;
  /** Per-token entropies in nats (no gradient): the `entropy` metric and the top-entropy mask. */
  entropies: ArrayLike<number>;
  /** Active completion tokens in the whole generation batch (dapo / cispo / vespo's denominator). */
  numItemsInBatch: number;
  /** Micro-batches in this optimizer step (the loss is divided by it; dapo's denominator is scaled by it). */
  gradientAccumulationSteps: number;
  /** Optimizer micro-batches one generation batch is cut into (TRL's steps_per_generation, default = GAS). */
  stepsPerGeneration: number;
}

export interface GrpoLoss {
  loss: tf.Scalar;
  /** The metrics TRL's _compute_loss logs for this micro-batch, under its names. */
  metrics: Record<string, number>;
}

/**
 * Per-token values of each row's completion tokens ([M], rows in order, as sequenceBatch lists the
 * positions that predict them) laid out [B, width] with 0 past each completion's end. A product
 * with a 0/1 placement matrix, so it is differentiable without a scatter (whose gradient is a
 * gather, and a gather's gradient needs UnsortedSegmentSum, which wasm lacks); exact, since every
 * output sums one value.
 */
export function completionGrid(values: tf.Tensor1D, lengths: readonly number[], width: number): tf.Tensor2D {
  const m = values.shape[0];
  const place = new Float32Array(lengths.length * width * m);
  let offset = 0;
  lengths.forEach((n, r) => {
    for (let t = 0; t < n; t++) place[(r * width + t) * m + offset + t] = 1;
    offset += n;
  });
  if (offset !== m) throw new Error(`completionGrid: the lengths add up to ${offset}, not the ${m} values given.`);
  return tf.reshape(tf.matMul(tf.tensor2d(place, [lengths.length * width, m]), tf.reshape(values, [m, 1])), [lengths.length, width]) as tf.Tensor2D;
}

/** completionGrid for plain numbers (entropies, reference log-probs). */
export function completionGridValues(values: ArrayLike<number>, lengths: readonly number[], width: number): Float32Array {
  const out = new Float32Array(lengths.length * width);
  let offset = 0;
  lengths.forEach((n, r) => {
    for (let t = 0; t < n; t++) out[r * width + t] = values[offset + t]!;
    offset += n;
  });
  return out;
}

/** torch.quantile's default (linear interpolation between the two nearest ranks). */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * VESPO's gamma weight per sequence, φ(w) = exp(λ + k·log w − λ·w) with w the sequence's clamped
 * importance ratio, k and λ by the advantage's sign (TRL's get_gamma_weights; no gradient).
 */
function gammaWeights(logRatio: ArrayLike<number>, mask: ArrayLike<number>, adv: ArrayLike<number>, B: number, T: number, s: GrpoLossSettings): Float32Array {
  const floor = Math.log(1e-8);
  return Float32Array.from({ length: B }, (_, b) => {
    let seq = 0;
    for (let t = 0; t < T; t++) seq += Math.min(20, Math.max(-20, logRatio[b * T + t]!)) * mask[b * T + t]!;
    const logW = Math.min(20, Math.max(floor, seq));
    const nonNegative = adv[b]! >= 0;
    const k = nonNegative ? s.vespoKPos : s.vespoKNeg;
    const lambda = Math.max(1e-4, nonNegative ? s.vespoLambdaPos : s.vespoLambdaNeg);
    const phi = Math.exp(lambda + k * logW - lambda * Math.exp(logW));
    return Number.isFinite(phi) ? phi : 0;
  });
}

/**
 * TRL's global_masked_mean: the mean over active tokens of [B, T] values, or, for a sequence-level
 * quantity (`mask` null, [B] values), the plain mean over sequences (one with no active token counts).
 */
function globalMean(values: ArrayLike<number>, mask: ArrayLike<number> | null): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const m = mask ? mask[i]! : 1;
    sum += values[i]! * m;
    count += m;
  }
  return sum / Math.max(1, count);
}

/** TRL's masked_seq_mean: per sequence, the mean over its active tokens (NaN when it has none), or the value itself (`mask` null). */
function sequenceMeans(values: ArrayLike<number>, mask: ArrayLike<number> | null, B: number): number[] {
  if (!mask) return Array.from(values);
  const T = values.length / B;
  return Array.from({ length: B }, (_, b) => {
    let sum = 0;
    let count = 0;
    for (let t = 0; t < T; t++) {
      sum += values[b * T + t]! * mask[b * T + t]!;
      count += mask[b * T + t]!;
    }
    return sum / count;
  });
}

/** Min / max ignoring NaN; NaN when every value is NaN (TRL's nanmin / nanmax). */
function nanExtreme(xs: number[], pick: (...v: number[]) => number): number {
  const kept = xs.filter((v) => !Number.isNaN(v));
  return kept.length ? pick(...kept) : NaN;
}

/** GRPO's loss on one micro-batch (already divided for gradient accumulation, as TRL's is) and its metrics. */
export function grpoLoss(x: GrpoLossInputs, s: GrpoLossSettings): GrpoLoss {
  const [B, T] = x.logps.shape;
  const mask = tf.tensor2d(Float32Array.from(x.mask), [B, T]);
  const adv = tf.tensor2d(Float32Array.from(x.advantages), [B, 1]);
  const logps = x.logps;
  const current = logps.dataSync();
  const sequence = s.importanceSamplingLevel === 'sequence';
  const metrics: Record<string, number> = {};

  // log(π/π_old), zeroed off the mask so padding can never overflow the exp (TRL masks those tokens later instead).
  const old = tf.tensor2d(Float32Array.from(x.oldLogps ?? current), [B, T]);
  const logRatio = tf.mul(tf.sub(logps, old), mask);
  const tokens = tf.maximum(tf.sum(mask, 1, true), 1);
  const logWeights = sequence ? tf.div(tf.sum(logRatio, 1, true), tokens) : logRatio;
  let ratio = tf.exp(logWeights);

  let kl: tf.Tensor | null = null;
  if (s.beta !== 0) {
    if (!x.refLogps) throw new Error('beta is not 0 but no reference log-probs were given.');
    // k3 estimator of KL(π || π_ref) per token: exp(d) - d - 1 with d = log π_ref - log π.
    const d = tf.mul(tf.sub(tf.tensor2d(Float32Array.from(x.refLogps), [B, T]), logps), mask);
    kl = tf.sub(tf.sub(tf.exp(d), d), 1);
    if (s.useBiasCorrectionKl) kl = tf.mul(kl, ratio);
  }

  const advValues = Float32Array.from(x.advantages);
  const clipFamily = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'luspo'].includes(s.lossType);
  let perToken: tf.Tensor;
  let phi: Float32Array | null = null;
  if (s.lossType === 'cispo') {
    // The capped ratio is a constant weight on the REINFORCE term (TRL detaches it).
    const capped = tf.tensor(Float32Array.from(ratio.dataSync(), (w) => Math.min(w, s.epsilonHigh)), ratio.shape);
    perToken = tf.neg(tf.mul(tf.mul(capped, adv), logps));
  } else if (clipFamily) {
    const clipped = tf.clipByValue(ratio, 1 - s.epsilonLow, 1 + s.epsilonHigh);
    if (s.delta !== null) ratio = tf.minimum(ratio, s.delta);
    perToken = tf.neg(tf.minimum(tf.mul(ratio, adv), tf.mul(clipped, adv)));
  } else if (s.lossType === 'sapo') {
    const tau = tf.tensor2d(Float32Array.from(advValues, (a) => (a > 0 ? s.sapoTemperaturePos : s.sapoTemperatureNeg)), [B, 1]);
    const soft = tf.div(tf.mul(tf.sigmoid(tf.mul(tau, tf.sub(ratio, 1))), 4), tau);
    perToken = tf.neg(tf.mul(soft, adv));
  } else {
    phi = gammaWeights(logRatio.dataSync(), x.mask, advValues, B, T, s);
    perToken = tf.neg(tf.mul(tf.mul(tf.tensor2d(phi, [B, 1]), adv), logps));
  }

  if (s.offPolicyMaskThreshold !== null) {
    // Keep a sequence unless its advantage is negative and its mean log(π_old/π) is above the threshold.
    const keep = Float32Array.from({ length: B }, (_, b) => {
      let sum = 0;
      let count = 0;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const gap = (x.oldLogps ? x.oldLogps[i]! : current[i]!) - current[i]!;
        sum += (Number.isNaN(gap) ? 0 : gap) * x.mask[i]!;
        count += x.mask[i]!;
      }
      return advValues[b]! >= 0 || sum / Math.max(1, count) <= s.offPolicyMaskThreshold! ? 1 : 0;
    });
    perToken = tf.mul(perToken, tf.tensor2d(keep, [B, 1]));
  }
  if (s.topEntropyQuantile < 1) {
    const active = Array.from(x.entropies).filter((_, i) => x.mask[i]! > 0);
    const threshold = active.length ? quantile(active, 1 - s.topEntropyQuantile) : Infinity;
    const high = Float32Array.from(x.entropies, (h, i) => (x.mask[i]! > 0 && h >= threshold ? 1 : 0));
    perToken = tf.mul(perToken, tf.tensor2d(high, [B, T]));
  }
  if (kl) perToken = tf.add(perToken, tf.mul(kl, s.beta));

  // Aggregation: what each loss type divides the masked per-token sum by.
  const masked = tf.mul(perToken, mask);
  const gas = x.gradientAccumulationSteps;
  let loss: tf.Tensor;
  switch (s.lossType) {
    case 'grpo':
    case 'sapo':
      loss = tf.div(tf.mean(tf.div(tf.sum(masked, 1), tf.reshape(tokens, [B]))), gas);
      break;
    case 'bnpo':
      loss = tf.div(tf.sum(masked), Math.max(1, sumOf(x.mask)) * gas);
      break;
    case 'dr_grpo':
      loss = tf.div(tf.sum(masked), B * s.maxCompletionLength * gas);
      break;
    case 'dapo':
    case 'cispo':
    case 'vespo':
      // num_items_in_batch spans the generation batch; scaled to this accumulation window (one process).
      loss = tf.div(tf.sum(masked), (Math.max(1, x.numItemsInBatch) * gas) / x.stepsPerGeneration);
      break;
    case 'luspo':
      loss = tf.div(tf.mean(tf.sum(masked, 1)), gas);
      break;
  }

  // Metrics. A sequence-level ratio ([B, 1]) is averaged over sequences, a per-token one over active tokens.
  if (kl) metrics.kl = globalMean(kl.dataSync(), x.mask);
  metrics.entropy = globalMean(x.entropies, x.mask);
  const w = ratio.dataSync();
  const ratioMask = sequence ? null : x.mask;
  const advOf = (i: number) => advValues[sequence ? i : Math.floor(i / T)]!;
  if (clipFamily) {
    const low = Float32Array.from(w, (v, i) => (v < 1 - s.epsilonLow && advOf(i) < 0 ? 1 : 0));
    const high = Float32Array.from(w, (v, i) => (v > 1 + s.epsilonHigh && advOf(i) > 0 ? 1 : 0));
    const region = low.map((v, i) => Math.max(v, high[i]!));
    metrics['clip_ratio/low_mean'] = globalMean(low, ratioMask);
    metrics['clip_ratio/high_mean'] = globalMean(high, ratioMask);
    metrics['clip_ratio/region_mean'] = globalMean(region, ratioMask);
    metrics['clip_ratio/low_min'] = nanExtreme(sequenceMeans(low, ratioMask, B), Math.min);
    metrics['clip_ratio/high_max'] = nanExtreme(sequenceMeans(high, ratioMask, B), Math.max);
  } else if (s.lossType === 'cispo') {
    metrics.cispo_clip_ratio = globalMean(Float32Array.from(w, (v, i) => (v > s.epsilonHigh && advOf(i) > 0 ? 1 : 0)), ratioMask);
  } else if (phi) {
    metrics['vespo/phi_seq_mean'] = globalMean(phi, null);
  }
  return { loss: loss as tf.Scalar, metrics };
}

function sumOf(xs: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i]!;
  return sum;
}
