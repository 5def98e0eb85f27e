// Direct Preference Optimization (TRL's DPOTrainer): chosen and rejected completions of each pair
// run through the policy in one forward pass ([chosen ; rejected] rows), their summed log-probs are
// compared with the reference model's (reference.ts) by the recipe's loss types (dpoLoss.ts), and
// the metrics TRL logs are kept under its names. Data, batching and the reference: pairStage.ts.
import * as tf from '@tensorflow/tfjs-core';
import { LOSS_TYPES } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { completionLoss } from '../logprobs.ts';
import { dpoLoss, F_DIVERGENCES, type DpoLossType, type DpoSettings, type FDivergence } from './dpoLoss.ts';
import { halfSums, mean, pairStage, recordRewards, type PairLoss } from './pairStage.ts';

/** The recipe's DPO keys with TRL's defaults; refuses values TRL would refuse, in one sentence. */
export function dpoSettings(args: TrainingArguments): DpoSettings {
  const types = args.loss_type === undefined ? ['sigmoid'] : Array.isArray(args.loss_type) ? args.loss_type : [args.loss_type];
  for (const t of types) {
    if (!LOSS_TYPES.dpo.includes(t)) throw new Error(`loss_type \`${t}\` is not a DPO loss; use one of ${LOSS_TYPES.dpo.join(', ')}.`);
  }
  const weights = args.loss_weights ?? types.map(() => 1);
  if (weights.length !== types.length) throw new Error(`loss_weights has ${weights.length} value(s) for ${types.length} loss type(s); give one weight per loss_type.`);
  const f = args.f_divergence_type ?? 'reverse_kl';
  if (!(F_DIVERGENCES as readonly string[]).includes(f)) throw new Error(`f_divergence_type \`${f}\` is not known; use one of ${F_DIVERGENCES.join(', ')}.`);
  const labelSmoothing = args.label_smoothing ?? 0;
  if (labelSmoothing < 0 || labelSmoothing >= 0.5) throw new Error(`label_smoothing is ${labelSmoothing}; it is the probability that a pair's labels are flipped, in [0, 0.5).`);
  if (types.includes('exo_pair') && labelSmoothing === 0) throw new Error('loss_type exo_pair needs label_smoothing > 0 (TRL suggests 1e-3).');
  const beta = args.beta ?? 0.1;
  if (!(beta > 0)) throw new Error(`beta is ${beta}; it must be positive (TRL's default 0.1; the seeds use 0.1-0.5).`);
  return {
    beta,
    lossTypes: types as DpoLossType[],
    lossWeights: weights,
    labelSmoothing,
    fDivergence: f as FDivergence,
    alphaCoef: args.f_alpha_divergence_coef ?? 0.5,
    discopopTau: args.discopop_tau ?? 0.05,
  };
}

/** DPO's loss on a [chosen ; rejected] micro-batch, with TRL's metrics (DPOTrainer._compute_loss). */
export function dpoPairLoss(settings: DpoSettings): PairLoss {
  return (model, lora, b, reference, scale, out, checkpointLayers) => {
    const B = b.batch / 2;
    const chosenToken = Float32Array.from(b.rowOf, (r) => (r < B ? 1 : 0));
    const opts = { adapter: lora ?? undefined, frozenBase: lora !== null, checkpointLayers, want: ['entropy', 'correct', 'logitMean'] as const };
    return completionLoss(model, b, opts, (lp) => {
      const [chosen, rejected] = tf.split(lp.sums, 2) as [tf.Tensor1D, tf.Tensor1D];
      const refChosen = Float32Array.from(reference!, (r) => r[0]!);
      const refRejected = Float32Array.from(reference!, (r) => r[1]!);
      const logits = halfSums(b, lp.stats.logitMean!.dataSync());
      const loss = dpoLoss(
        {
          chosen,
          rejected,
          refChosen: tf.tensor1d(refChosen),
          refRejected: tf.tensor1d(refRejected),
          chosenCount: tf.tensor1d(b.counts.subarray(0, B)),
          rejectedCount: tf.tensor1d(b.counts.subarray(B)),
          chosenTokenSum: tf.sum(tf.mul(lp.tokens, tf.tensor1d(chosenToken))),
          chosenTokens: logits.chosenTokens,
        },
        settings,
      );
      // Metrics, as TRL's _compute_loss logs them (means over the micro-batch).
      const c = chosen.dataSync();
      const r = rejected.dataSync();
      const hits = halfSums(b, lp.stats.correct!.dataSync());
      out.set('entropy', mean(lp.stats.entropy!.dataSync()));
      out.set('logits/chosen', logits.chosen / Math.max(1, logits.chosenTokens));
      out.set('logits/rejected', logits.rejected / Math.max(1, logits.rejectedTokens));
      out.set('mean_token_accuracy', hits.chosen / Math.max(1, hits.chosenTokens));
      for (const t of Object.values(lp.stats)) t.dispose();
      recordRewards(out, Array.from(c, (v, i) => settings.beta * (v - refChosen[i]!)), Array.from(r, (v, i) => settings.beta * (v - refRejected[i]!)));
      out.set('logps/chosen', mean(c));
      out.set('logps/rejected', mean(r));
      return tf.mul(loss, scale) as tf.Scalar;
    });
  };
}

export const dpo = pairStage({ reference: true, loss: (args) => dpoPairLoss(dpoSettings(args)) });
