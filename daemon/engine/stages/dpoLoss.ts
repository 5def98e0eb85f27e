// DPO's losses as TRL 1.16 computes them (trl/trainer/dpo_trainer.py, DPOTrainer._compute_loss), on
// the summed completion log-probabilities of chosen and rejected sequences and their reference
// values. Every loss type TRL has; several at once are weighted and summed (MPO). Checked against
// TRL's own numbers in test/unit/engine/preferenceGolden.test.ts (fixtures: test/fixtures/trl/).
import * as tf from '@tensorflow/tfjs-core';

/** The names core/recipe/defaults.ts lists in LOSS_TYPES.dpo (what recipes are checked against). */
export type DpoLossType =
  | 'sigmoid' | 'hinge' | 'ipo' | 'exo_pair' | 'nca_pair' | 'robust' | 'bco_pair' | 'sppo_hard'
  | 'aot' | 'aot_unpaired' | 'apo_zero' | 'apo_down' | 'discopop' | 'sft' | 'sigmoid_norm';

export const F_DIVERGENCES = ['reverse_kl', 'forward_kl', 'js_divergence', 'alpha_divergence'] as const;
export type FDivergence = (typeof F_DIVERGENCES)[number];

export interface DpoSettings {
  beta: number;
  lossTypes: DpoLossType[];
  lossWeights: number[];
  labelSmoothing: number;
  fDivergence: FDivergence;
  alphaCoef: number;
  discopopTau: number;
}

/** The batch's pieces: policy sums [B] (differentiable), reference sums and completion token counts [B] (constants). */
export interface DpoInputs {
  chosen: tf.Tensor1D;
  rejected: tf.Tensor1D;
  refChosen: tf.Tensor1D;
  refRejected: tf.Tensor1D;
  chosenCount: tf.Tensor1D;
  rejectedCount: tf.Tensor1D;
  /** Summed log-probs of all chosen completion tokens (differentiable) and their number: the `sft` term. */
  chosenTokenSum: tf.Scalar;
  chosenTokens: number;
}

// log(sigmoid(x)) = -softplus(-x). Not tf.logSigmoid: its gradient reads its input from a closure, which
// tfjs has disposed by the backward pass when the input is an intermediate (as every one here is).
const logSigmoid = (x: tf.Tensor) => tf.neg(tf.softplus(tf.neg(x)));
/**
 * Ascending sort of a 1-D tensor, differentiable (torch.sort's values): a product with the sorting
 * permutation (a gather's gradient needs UnsortedSegmentSum, which wasm lacks).
 */
function sorted(x: tf.Tensor1D): tf.Tensor1D {
  const n = x.shape[0];
  const order = Array.from(x.dataSync(), (v, i) => [v, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  const permutation = new Float32Array(n * n);
  order.forEach((from, to) => (permutation[to * n + from] = 1));
  return tf.reshape(tf.matMul(tf.tensor2d(permutation, [n, n]), tf.reshape(x, [n, 1])), [n]) as tf.Tensor1D;
}

/** f'(t) of the chosen f-divergence at t = exp(logratio): the scores whose difference is compared. */
function scores(logratio: tf.Tensor1D, s: DpoSettings): tf.Tensor {
  switch (s.fDivergence) {
    case 'reverse_kl':
      return logratio;
    case 'forward_kl':
      return tf.sub(1, tf.exp(tf.neg(logratio)));
    case 'js_divergence':
      return tf.add(Math.log(2), logSigmoid(logratio));
    case 'alpha_divergence': {
      // alpha -> 1 is reverse KL; otherwise (t^(a-1) - 1) / (a-1), the exponent clamped at 80 as TRL does in float32.
      if (Math.abs(s.alphaCoef - 1) < 1e-6) return logratio;
      const t = tf.minimum(tf.mul(logratio, s.alphaCoef - 1), 80);
      return tf.mul(tf.sub(tf.exp(t), 1), 1 / (s.alphaCoef - 1));
    }
  }
}

/** Per-sequence loss [B] of one loss type. */
function perSequence(type: DpoLossType, x: DpoInputs, s: DpoSettings): tf.Tensor {
  const { beta, labelSmoothing: eps } = s;
  const chosenRatio = tf.sub(x.chosen, x.refChosen) as tf.Tensor1D;
  const rejectedRatio = tf.sub(x.rejected, x.refRejected) as tf.Tensor1D;
  const cs = scores(chosenRatio, s);
  const rs = scores(rejectedRatio, s);
  const delta = tf.sub(cs, rs);
  const bd = tf.mul(delta, beta);
  const smoothed = (d: tf.Tensor) => tf.sub(tf.mul(logSigmoid(d), -(1 - eps)), tf.mul(logSigmoid(tf.neg(d)), eps));
  switch (type) {
    case 'sigmoid':
      return tf.neg(logSigmoid(bd));
    case 'hinge':
      return tf.relu(tf.sub(1, bd));
    case 'ipo': {
      // Scores per completion token (TRL: confirmed with the IPO authors), then (delta - 1/(2 beta))^2.
      const d = tf.sub(tf.div(cs, tf.maximum(x.chosenCount, 1)), tf.div(rs, tf.maximum(x.rejectedCount, 1)));
      return tf.square(tf.sub(d, 1 / (2 * beta)));
    }
    case 'exo_pair': {
      const qw = tf.sigmoid(bd);
      const ql = tf.sigmoid(tf.neg(bd));
      return tf.add(tf.mul(qw, tf.sub(logSigmoid(bd), Math.log1p(-eps))), tf.mul(ql, tf.sub(logSigmoid(tf.neg(bd)), Math.log(eps))));
    }
    case 'nca_pair': {
      const c = tf.mul(chosenRatio, beta);
      const r = tf.mul(rejectedRatio, beta);
      return tf.sub(tf.sub(tf.neg(logSigmoid(c)), tf.mul(logSigmoid(tf.neg(c)), 0.5)), tf.mul(logSigmoid(tf.neg(r)), 0.5));
    }
    case 'robust':
      return tf.div(tf.add(tf.mul(logSigmoid(bd), -(1 - eps)), tf.mul(logSigmoid(tf.neg(bd)), eps)), 1 - 2 * eps);
    case 'bco_pair':
      return tf.sub(tf.neg(logSigmoid(tf.mul(chosenRatio, beta))), logSigmoid(tf.mul(rejectedRatio, -beta)));
    case 'sppo_hard':
      return tf.add(tf.square(tf.sub(chosenRatio, 0.5 / beta)), tf.square(tf.add(rejectedRatio, 0.5 / beta)));
    case 'aot': {
      const d = tf.sub(sorted(tf.sub(x.chosen, x.rejected) as tf.Tensor1D), sorted(tf.sub(x.refChosen, x.refRejected) as tf.Tensor1D));
      return smoothed(tf.mul(d, beta));
    }
    case 'aot_unpaired':
      return smoothed(tf.mul(tf.sub(sorted(chosenRatio), sorted(rejectedRatio)), beta));
    case 'apo_zero':
      return tf.add(tf.sub(1, tf.sigmoid(tf.mul(chosenRatio, beta))), tf.sigmoid(tf.mul(rejectedRatio, beta)));
    case 'apo_down':
      return tf.add(tf.sigmoid(tf.mul(chosenRatio, beta)), tf.sub(1, tf.sigmoid(tf.mul(tf.sub(chosenRatio, rejectedRatio), beta))));
    case 'discopop': {
      const m = tf.sigmoid(tf.div(bd, s.discopopTau));
      return tf.add(tf.mul(tf.neg(logSigmoid(bd)), tf.sub(1, m)), tf.mul(tf.exp(tf.neg(bd)), m));
    }
    case 'sft':
      // The mean negative log-likelihood of every chosen completion token, the same for each row.
      return tf.mul(tf.ones([x.chosen.shape[0]]), tf.div(tf.neg(x.chosenTokenSum), Math.max(1, x.chosenTokens)));
    case 'sigmoid_norm': {
      const d = tf.sub(tf.div(cs, tf.maximum(x.chosenCount, 1)), tf.div(rs, tf.maximum(x.rejectedCount, 1)));
      return tf.neg(logSigmoid(tf.mul(d, beta)));
    }
  }
}

/** sum_k loss_weights[k] * mean(per-sequence loss of loss type k). */
export function dpoLoss(x: DpoInputs, s: DpoSettings): tf.Scalar {
  let total: tf.Tensor = tf.scalar(0);
  s.lossTypes.forEach((type, k) => {
    total = tf.add(total, tf.mul(tf.mean(perSequence(type, x, s)), s.lossWeights[k]!));
  });
  return total as tf.Scalar;
}
