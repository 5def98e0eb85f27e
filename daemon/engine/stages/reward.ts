// Reward modelling (TRL's RewardTrainer): a scalar head on the last token (scoreHead.ts) learns to
// score the chosen completion above the rejected one, Bradley-Terry: -log sigmoid(r_c - r_r - margin),
// the optional `margin` column subtracted, plus center_rewards_coefficient * mean((r_c + r_r)^2) to
// keep the rewards centred. The head is trained with the adapter (PEFT's modules_to_save) or the
// whole model, and saved so transformers/PEFT load it as a sequence classifier (checkpoint.ts).
// Pairs longer than max_length are dropped, as TRL filters them (a cut answer would be scored).
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { EpochOrder } from '../data.ts';
import type { LoraAdapter } from '../lora.ts';
import type { LlamaModel } from '../model.ts';
import { loadPairs, type PairExample, type PairSet } from '../preferenceData.ts';
import { newScoreHead, rewardLoss, SCORE_HEAD } from '../scoreHead.ts';
import { mean, pairRows, pairStageData } from './pairStage.ts';
import { meanLossObjective } from './meanLossObjective.ts';
import type { Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

export function rewardCoefficient(args: TrainingArguments): number {
  if (args.loss_type !== undefined) throw new Error('Reward modelling has one loss (Bradley-Terry); remove loss_type.');
  const c = args.center_rewards_coefficient ?? 0;
  if (!(c >= 0)) throw new Error(`center_rewards_coefficient is ${c}; it must be 0 or more (TRL recommends 0.01).`);
  return c;
}

/** The Bradley-Terry loss of a [chosen ; rejected] micro-batch (times `scale`), with TRL's metrics in `out`. */
export function pairRewardLoss(model: LlamaModel, lora: LoraAdapter | null, score: tf.Tensor2D, pairs: PairExample[], padId: number, center: number, scale: number, out: Map<string, number>, checkpointLayers: boolean): tf.Scalar {
  const b = pairRows(pairs, padId);
  const B = pairs.length;
  return rewardLoss(model, lora ?? undefined, lora !== null, score, b, padId, (rewards) => {
    const [c, r] = tf.split(rewards, 2);
    const margin = tf.tensor1d(pairs.map((p) => p.margin ?? 0));
    let loss = tf.mean(tf.softplus(tf.neg(tf.sub(tf.sub(c!, r!), margin)))); // -log sigmoid(x) = softplus(-x)
    if (center > 0) loss = tf.add(loss, tf.mul(tf.mean(tf.square(tf.add(c!, r!))), center));
    const all = Array.from(rewards.dataSync());
    const chosen = all.slice(0, B);
    const rejected = all.slice(B);
    out.set('accuracy', mean(chosen.map((v, i) => (v > rejected[i]! ? 1 : 0))));
    out.set('margin', mean(chosen.map((v, i) => v - rejected[i]!)));
    out.set('min_reward', Math.min(...all));
    out.set('mean_reward', mean(all));
    out.set('max_reward', Math.max(...all));
    return tf.mul(loss, scale) as tf.Scalar;
  }, checkpointLayers);
}

function objective(center: number, train: PairSet, evalSet: PairSet | null, padId: number, ctx: ObjectiveContext): Objective {
  const { args, model } = ctx;
  // TRL seeds before building the model, whose new score head is drawn N(0, initializer_range).
  const score = newScoreHead(model.config.hidden_size, args.seed, (model.config as { initializer_range?: number }).initializer_range ?? 0.02);
  const head = new Map([[SCORE_HEAD, score]]);
  const order = new EpochOrder(train.pairs, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true });
  const evalOrder = evalSet ? new EpochOrder(evalSet.pairs, { batchSize: args.per_device_eval_batch_size, seed: args.seed, shuffle: false }) : null;
  const s2 = score as tf.Tensor as tf.Tensor2D;
  return meanLossObjective({
    train: order,
    eval: evalOrder,
    checkpointLayers: args.gradient_checkpointing === true,
    head,
    prepare: ({ items }) => ({
      tokens: items.reduce((a, p) => a + p.chosen.ids.length + p.rejected.ids.length, 0),
      loss: (scale, out, layers) => pairRewardLoss(model, ctx.lora, s2, items, padId, center, scale, out, layers),
    }),
    dispose: () => score.dispose(),
  });
}

export const reward: Stage = {
  checkArgs: (args) => void rewardCoefficient(args),
  load(job, args, source): StageData {
    const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
    const options = { stage: 'reward', overLength: 'drop' } as const;
    const train = loadPairs(job.data.train, source.tokenizer, { max_length: maxLength }, options);
    const evalSet = job.data.eval ? loadPairs(job.data.eval, source.tokenizer, { max_length: maxLength }, options) : null;
    const notes: string[] = [];
    const dropped = train.dropped + train.truncated;
    if (dropped > 0) notes.push(`${dropped} pair(s) dropped: longer than max_length=${maxLength} tokens (TRL filters them rather than score a cut answer)`);
    const center = rewardCoefficient(args);
    const padId = source.tokenizer.padId;
    return pairStageData(train, evalSet, args, maxLength, notes, (ctx) => objective(center, train, evalSet, padId, ctx));
  },
};
