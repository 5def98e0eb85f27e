// PPO's clipped losses on one micro-batch as TRL computes them inline in PPOTrainer.train()
// (trl/experimental/ppo/ppo_trainer.py, TRL 1.12.0): the policy's clipped surrogate on the response
// tokens and the value head's clipped squared error up to one past each response, pg + vf_coef·vf,
// and the statistics TRL keeps per micro-batch. Per-token arrays are [B, T] row-major, the rows of
// the micro-batch laid out as the rollout's (ppoMath.ts). Checked against TRL in
// test/unit/engine/ppoGolden.test.ts (fixture: test/fixtures/trl/ppo.json).
import * as tf from '@tensorflow/tfjs-core';
import type { PpoMicroStats } from './ppoMath.ts';

/** The PPOConfig keys the loss reads. */
export interface PpoLossSettings {
  /** Policy ratio clip (TRL's `cliprange`). */
  cliprange: number;
  /** Value prediction clip around the rollout's values (TRL's `cliprange_value`). */
  cliprangeValue: number;
  vfCoef: number;
}

export interface PpoLossInputs {
  /** The policy's per-token log-probs now [B, T] (differentiable); ignored past each response. */
  logps: tf.Tensor2D;
  /** The value head's predictions now [B, T] (differentiable); ignored past one after each response. */
  vpred: tf.Tensor2D;
  /** Rollout log-probs, whitened advantages, returns and values of these rows [B, T] (ppoRollout's). */
  oldLogps: ArrayLike<number>;
  advantages: ArrayLike<number>;
  returns: ArrayLike<number>;
  values: ArrayLike<number>;
  /** ppoRollout's valid / validP1 of these rows. */
  valid: ArrayLike<number>;
  validP1: ArrayLike<number>;
}

export interface PpoLoss {
  /** pg_loss + vf_coef · vf_loss (before the division by gradient accumulation steps). */
  loss: tf.Scalar;
  /** TRL's per-micro-batch statistics, all but the entropy (the caller's, from the logits). */
  stats: Omit<PpoMicroStats, 'entropy'>;
}

const f32 = (x: ArrayLike<number>, shape: [number, number]) => tf.tensor2d(Float32Array.from(x), shape);

/** TRL's masked_mean on tensors: Σ x·m / Σ m. */
const maskedMean = (x: tf.Tensor, mask: tf.Tensor, count: number) => tf.div(tf.sum(tf.mul(x, mask)), count);

/** The PPO loss of one micro-batch and its statistics. Call inside tf.tidy or tf.variableGrads. */
export function ppoLoss(x: PpoLossInputs, s: PpoLossSettings): PpoLoss {
  const [B, T] = x.logps.shape;
  const shape: [number, number] = [B, T];
  const valid = f32(x.valid, shape);
  const validP1 = f32(x.validP1, shape);
  const nValid = sum(x.valid);
  const nValidP1 = sum(x.validP1);

  // Value loss: TRL zeroes vpred past validP1; the rollout's values are 0 there too, so the clip is exact.
  const values = f32(x.values, shape);
  const returns = f32(x.returns, shape);
  const vpred = tf.mul(x.vpred, validP1);
  // clamp(vpred, V − c, V + c) with per-element bounds: min(max(vpred, V − c), V + c).
  const clippedV = tf.minimum(tf.maximum(vpred, tf.sub(values, s.cliprangeValue)), tf.add(values, s.cliprangeValue));
  const vf1 = tf.square(tf.sub(vpred, returns));
  const vf2 = tf.square(tf.sub(clippedV, returns));
  const vfLoss = tf.mul(maskedMean(tf.maximum(vf1, vf2), validP1, nValidP1), 0.5);

  // Policy loss: the log-ratio is 0 past each response (TRL's INVALID_LOGPROB on both sides), so the ratio is 1 there.
  const logRatio = tf.mul(tf.sub(x.logps, f32(x.oldLogps, shape)), valid);
  const ratio = tf.exp(logRatio);
  const adv = f32(x.advantages, shape);
  const pg1 = tf.mul(tf.neg(adv), ratio);
  const pg2 = tf.mul(tf.neg(adv), tf.clipByValue(ratio, 1 - s.cliprange, 1 + s.cliprange));
  const pgLoss = maskedMean(tf.maximum(pg1, pg2), valid, nValid);
  const loss = tf.add(pgLoss, tf.mul(vfLoss, s.vfCoef)) as tf.Scalar;

  const lr = logRatio.dataSync();
  const p1 = pg1.dataSync();
  const p2 = pg2.dataSync();
  const v1 = vf1.dataSync();
  const v2 = vf2.dataSync();
  const r = ratio.dataSync();
  let pgClip = 0;
  let vfClip = 0;
  let sq = 0;
  let ratios = 0;
  for (let i = 0; i < B * T; i++) {
    if (p2[i]! > p1[i]!) pgClip += x.valid[i]!;
    if (v2[i]! > v1[i]!) vfClip += x.validP1[i]!;
    sq += lr[i]! ** 2;
    ratios += r[i]!;
  }
  return {
    loss,
    stats: {
      // approxkl and the ratio are means over every [B, T] cell, padding included (log-ratio 0, ratio 1 there), as TRL takes them.
      approxkl: (0.5 * sq) / (B * T),
      pgClipfrac: pgClip / nValid,
      pgLoss: pgLoss.dataSync()[0]!,
      vfLoss: vfLoss.dataSync()[0]!,
      vfClipfrac: vfClip / nValidP1,
      ratio: ratios / (B * T),
    },
  };
}

function sum(xs: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < xs.length; i++) total += xs[i]!;
  return total;
}
