// Odds Ratio Preference Optimization (TRL's experimental ORPOTrainer): no reference model. The loss
// is the NLL of the whole chosen sequence (prompt included, as TRL computes it: its labels are every
// attended token) minus beta times the mean log-sigmoid of the log odds ratio of the chosen over the
// rejected completion, whose log-probs are averaged per token.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { completionLoss } from '../logprobs.ts';
import { halfSums, mean, pairStage, recordRewards, type PairLoss } from './pairStage.ts';

const logSigmoid = (x: tf.Tensor) => tf.neg(tf.softplus(tf.neg(x)));
/** log(1 - exp(x)) for x < 0. */
const log1mexp = (x: tf.Tensor) => tf.log1p(tf.neg(tf.exp(x)));

export function orpoBeta(args: TrainingArguments): number {
  const beta = args.beta ?? 0.1;
  if (!(beta > 0)) throw new Error(`beta is ${beta}; ORPO's beta (lambda in the paper) weighs the odds-ratio term and must be positive.`);
  if (args.loss_type !== undefined) throw new Error('ORPO has one loss (NLL plus the odds-ratio term); remove loss_type.');
  return beta;
}

/** ORPO's loss on a [chosen ; rejected] micro-batch whose chosen rows score the prompt too, with TRL's metrics. */
export function orpoPairLoss(beta: number): PairLoss {
  return (model, lora, b, _reference, scale, out, checkpointLayers) => {
    const B = b.batch / 2;
    const opts = { adapter: lora ?? undefined, frozenBase: lora !== null, checkpointLayers, want: ['logitMean'] as const };
    return completionLoss(model, b, opts, (lp) => {
      const logps = tf.div(lp.sums, tf.maximum(tf.tensor1d(b.counts), 1));
      const [c, r] = tf.split(logps, 2);
      const logOdds = tf.sub(tf.sub(c!, r!), tf.sub(log1mexp(c!), log1mexp(r!)));
      const ratio = logSigmoid(logOdds);
      // Every scored token of the chosen rows (positions 1.. of prompt + chosen), one mean.
      const chosenRow = Float32Array.from(b.rowOf, (row) => (row < B ? 1 : 0));
      const n = chosenRow.reduce((a, v) => a + v, 0);
      const nll = tf.div(tf.neg(tf.sum(tf.mul(lp.tokens, tf.tensor1d(chosenRow)))), Math.max(1, n));
      const loss = tf.sub(nll, tf.mul(tf.mean(ratio), beta));
      const logitSums = halfSums(b, lp.stats.logitMean!.dataSync());
      lp.stats.logitMean!.dispose();
      const cv = Array.from(c!.dataSync());
      const rv = Array.from(r!.dataSync());
      recordRewards(out, cv.map((v) => beta * v), rv.map((v) => beta * v));
      out.set('logps/chosen', mean(cv));
      out.set('logps/rejected', mean(rv));
      out.set('logits/chosen', logitSums.chosen / Math.max(1, logitSums.chosenTokens));
      out.set('logits/rejected', logitSums.rejected / Math.max(1, logitSums.rejectedTokens));
      out.set('nll_loss', nll.dataSync()[0]!);
      out.set('log_odds_ratio', mean(ratio.dataSync()));
      out.set('log_odds_chosen', mean(logOdds.dataSync()));
      return tf.mul(loss, scale) as tf.Scalar;
    });
  };
}

export const orpo = pairStage({ reference: false, scoreChosenPrompt: true, loss: (args) => orpoPairLoss(orpoBeta(args)) });
