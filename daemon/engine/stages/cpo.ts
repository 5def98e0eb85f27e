// Contrastive Preference Optimization and SimPO (TRL's experimental CPOTrainer): no reference model;
// the policy's own log-probs of chosen and rejected completions are compared (summed, or averaged
// per token for ipo and simpo), plus cpo_alpha times the NLL of the chosen completions. SimPO is
// loss_type simpo (a target margin simpo_gamma) with cpo_alpha 0; AlphaPO is SimPO on rewards
// (1 - p^-alpha) / alpha. The `simpo` stage is this stage with SimPO's defaults.
import * as tf from '@tensorflow/tfjs-core';
import { LOSS_TYPES } from '../../../core/recipe/defaults.ts';
import type { Stage, TrainingArguments } from '../../../core/recipe/types.ts';
import { completionLoss } from '../logprobs.ts';
import { halfSums, mean, pairStage, recordRewards, type PairLoss } from './pairStage.ts';

export interface CpoSettings {
  beta: number;
  lossType: 'sigmoid' | 'hinge' | 'ipo' | 'simpo';
  labelSmoothing: number;
  cpoAlpha: number;
  simpoGamma: number;
  alpha: number;
}

const logSigmoid = (x: tf.Tensor) => tf.neg(tf.softplus(tf.neg(x)));

/** The recipe's CPO keys with TRL's defaults; `alphapo` is simpo without the NLL term, as TRL's CPOConfig makes it. */
export function cpoSettings(args: TrainingArguments, stage: Stage): CpoSettings {
  const t = args.loss_type ?? 'sigmoid';
  if (typeof t !== 'string' || !LOSS_TYPES[stage].includes(t)) throw new Error(`loss_type \`${String(t)}\` is not a ${stage === 'simpo' ? 'SimPO' : 'CPO'} loss; use one of ${LOSS_TYPES[stage].join(', ')}.`);
  const beta = args.beta ?? 0.1;
  if (!(beta > 0)) throw new Error(`beta is ${beta}; it must be positive.`);
  const labelSmoothing = args.label_smoothing ?? 0;
  if (labelSmoothing < 0 || labelSmoothing >= 0.5) throw new Error(`label_smoothing is ${labelSmoothing}; it is the probability that a pair's labels are flipped, in [0, 0.5).`);
  return {
    beta,
    lossType: t === 'alphapo' ? 'simpo' : (t as CpoSettings['lossType']),
    labelSmoothing,
    cpoAlpha: t === 'alphapo' ? 0 : args.cpo_alpha ?? 1,
    simpoGamma: args.simpo_gamma ?? 0.5,
    alpha: args.alpha ?? 0,
  };
}

/** CPO's loss on a [chosen ; rejected] micro-batch, with TRL's metrics (CPOTrainer.get_batch_loss_metrics). */
export function cpoPairLoss(s: CpoSettings): PairLoss {
  const average = s.lossType === 'ipo' || s.lossType === 'simpo';
  return (model, lora, b, _reference, scale, out, checkpointLayers) => {
    const B = b.batch / 2;
    const opts = { adapter: lora ?? undefined, frozenBase: lora !== null, checkpointLayers, want: ['logitMean'] as const };
    return completionLoss(model, b, opts, (lp) => {
      const logps = average ? tf.div(lp.sums, tf.maximum(tf.tensor1d(b.counts), 1)) : lp.sums;
      const [c, r] = tf.split(logps, 2);
      // AlphaPO's rewards (1 - p^-alpha) / alpha, p = exp(log-prob); plain log-probs when alpha is 0.
      const reward = (x: tf.Tensor) => (s.alpha !== 0 ? tf.div(tf.sub(1, tf.exp(tf.mul(x, -s.alpha))), s.alpha) : x);
      const rc = reward(c!);
      const rr = reward(r!);
      let logits = tf.sub(rc, rr);
      if (s.lossType === 'simpo') logits = tf.sub(logits, s.simpoGamma / s.beta);
      const bl = tf.mul(logits, s.beta);
      const losses =
        s.lossType === 'hinge' ? tf.relu(tf.sub(1, bl))
        : s.lossType === 'ipo' ? tf.square(tf.sub(logits, 1 / (2 * s.beta)))
        : tf.sub(tf.mul(logSigmoid(bl), -(1 - s.labelSmoothing)), tf.mul(logSigmoid(tf.neg(bl)), s.labelSmoothing));
      let loss = tf.mean(losses);
      // The NLL of the chosen completions, one mean over their tokens (TRL skips it when cpo_alpha is 0).
      let nll = 0;
      if (s.cpoAlpha !== 0) {
        const chosenToken = Float32Array.from(b.rowOf, (row, i) => (row < B ? b.inCompletion[i]! : 0));
        const n = chosenToken.reduce((a, v) => a + v, 0);
        const nllTensor = tf.div(tf.neg(tf.sum(tf.mul(lp.tokens, tf.tensor1d(chosenToken)))), Math.max(1, n));
        nll = nllTensor.dataSync()[0]!;
        loss = tf.add(loss, tf.mul(nllTensor, s.cpoAlpha));
      }
      const logitSums = halfSums(b, lp.stats.logitMean!.dataSync());
      lp.stats.logitMean!.dispose();
      recordRewards(out, Array.from(rc.dataSync(), (v) => s.beta * v), Array.from(rr.dataSync(), (v) => s.beta * v));
      out.set('logps/chosen', mean(c!.dataSync()));
      out.set('logps/rejected', mean(r!.dataSync()));
      out.set('logits/chosen', logitSums.chosen / Math.max(1, logitSums.chosenTokens));
      out.set('logits/rejected', logitSums.rejected / Math.max(1, logitSums.rejectedTokens));
      out.set('nll_loss', nll);
      return tf.mul(loss, scale) as tf.Scalar;
    });
  };
}

export const cpo = pairStage({ reference: false, loss: (args) => cpoPairLoss(cpoSettings(args, 'cpo')) });
export const simpo = pairStage({ reference: false, loss: (args) => cpoPairLoss(cpoSettings(args, 'simpo')) });
