// Direct Preference Optimization (TRL's DPOTrainer): chosen and rejected completions of each pair
// run through the policy in one forward pass ([chosen ; rejected] rows), their summed log-probs are
// compared with the reference model's (reference.ts) by the recipe's loss types (dpoLoss.ts), and
// the metrics TRL logs are kept under its names. Each micro-batch's loss is divided by the number of
// micro-batches in the step, as transformers' Trainer does for DPO.
import * as tf from '@tensorflow/tfjs-core';
import { LOSS_TYPES } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { EpochOrder } from '../data.ts';
import { completionLoss, sequenceBatch, type SequenceBatch } from '../logprobs.ts';
import type { LoraAdapter } from '../lora.ts';
import type { MetricsWindow } from '../metrics.ts';
import type { LlamaModel } from '../model.ts';
import { loadPairs, pairSequences, type PairExample, type PairSet } from '../preferenceData.ts';
import { ReferenceLogProbs } from '../reference.ts';
import { dpoLoss, F_DIVERGENCES, type DpoLossType, type DpoSettings, type FDivergence } from './dpoLoss.ts';
import type { Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

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

/** One micro-batch of pairs ([chosen ; rejected] rows): its loss (times `scale`) and, into `out`, TRL's metrics for it. */
export function pairLoss(
  model: LlamaModel,
  lora: LoraAdapter | null,
  b: SequenceBatch,
  reference: Float64Array[],
  settings: DpoSettings,
  scale: number,
  out: Map<string, number>,
  checkpointLayers: boolean,
): tf.Scalar {
  const B = b.batch / 2;
  const chosenToken = Float32Array.from(b.rowOf, (r) => (r < B ? 1 : 0));
  const chosenTokens = chosenToken.reduce((a, v) => a + v, 0);
  const rejectedTokens = b.rowOf.length - chosenTokens;
  const opts = { adapter: lora ?? undefined, frozenBase: lora !== null, checkpointLayers, want: ['entropy', 'correct', 'logitMean'] as const };
  return completionLoss(model, b, opts, (lp) => {
    const [chosen, rejected] = tf.split(lp.sums, 2) as [tf.Tensor1D, tf.Tensor1D];
    const mask = tf.tensor1d(chosenToken);
    const refChosen = Float32Array.from(reference, (r) => r[0]!);
    const refRejected = Float32Array.from(reference, (r) => r[1]!);
    const loss = dpoLoss(
      {
        chosen,
        rejected,
        refChosen: tf.tensor1d(refChosen),
        refRejected: tf.tensor1d(refRejected),
        chosenCount: tf.tensor1d(b.counts.subarray(0, B)),
        rejectedCount: tf.tensor1d(b.counts.subarray(B)),
        chosenTokenSum: tf.sum(tf.mul(lp.tokens, mask)),
        chosenTokens,
      },
      settings,
    );
    // Metrics, as TRL's _compute_loss logs them (means over the micro-batch).
    const c = chosen.dataSync();
    const r = rejected.dataSync();
    const entropy = lp.stats.entropy!.dataSync();
    const correct = lp.stats.correct!.dataSync();
    const logitMean = lp.stats.logitMean!.dataSync();
    let chosenLogits = 0;
    let rejectedLogits = 0;
    let hits = 0;
    logitMean.forEach((v, i) => {
      if (chosenToken[i]) {
        chosenLogits += v;
        hits += correct[i]!;
      } else rejectedLogits += v;
    });
    for (const t of Object.values(lp.stats)) t.dispose();
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, v) => a + v, 0) / Math.max(1, xs.length);
    const rewardsChosen = Array.from(c, (v, i) => settings.beta * (v - refChosen[i]!));
    const rewardsRejected = Array.from(r, (v, i) => settings.beta * (v - refRejected[i]!));
    out.set('entropy', mean(entropy));
    out.set('logits/chosen', chosenTokens > 0 ? chosenLogits / chosenTokens : 0);
    out.set('logits/rejected', rejectedTokens > 0 ? rejectedLogits / rejectedTokens : 0);
    out.set('mean_token_accuracy', chosenTokens > 0 ? hits / chosenTokens : 0);
    out.set('rewards/chosen', mean(rewardsChosen));
    out.set('rewards/rejected', mean(rewardsRejected));
    out.set('rewards/accuracies', mean(rewardsChosen.map((v, i) => (v > rewardsRejected[i]! ? 1 : 0))));
    out.set('rewards/margins', mean(rewardsChosen.map((v, i) => v - rewardsRejected[i]!)));
    out.set('logps/chosen', mean(c));
    out.set('logps/rejected', mean(r));
    return tf.mul(loss, scale) as tf.Scalar;
  }) as tf.Scalar;
}

/** A micro-batch's rows: every pair's chosen sequence, then every pair's rejected one. */
export function rows(pairs: PairExample[], padId: number): SequenceBatch {
  return sequenceBatch([...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)], padId);
}

function objective(train: PairSet, evalSet: PairSet | null, settings: DpoSettings, padId: number, ctx: ObjectiveContext): Objective {
  const { args } = ctx;
  const order = new EpochOrder(train.pairs, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true });
  const both = (pairs: PairExample[]) => (i: number) => [pairs[i]!.chosen, pairs[i]!.rejected];
  const reference = new ReferenceLogProbs(ctx.model, both(train.pairs), padId, args.per_device_eval_batch_size);
  const evalOrder = evalSet ? new EpochOrder(evalSet.pairs, { batchSize: args.per_device_eval_batch_size, seed: args.seed, shuffle: false }) : null;
  const evalReference = evalSet ? new ReferenceLogProbs(ctx.model, both(evalSet.pairs), padId, args.per_device_eval_batch_size) : null;
  if (!ctx.lora) {
    const used = new Set<number>();
    for (let m = 0; m < ctx.totalMicroBatches; m++) for (const i of order.batchAt(Math.floor(m / order.perEpoch), m % order.perEpoch).indices) used.add(i);
    ctx.log(`computing the reference log-probs of ${used.size} pair(s)${evalSet ? ` and ${evalSet.pairs.length} eval pair(s)` : ''} from the starting weights (full fine-tuning keeps no second model)`);
    reference.ensure(used);
    evalReference?.ensure(evalSet!.pairs.keys());
  }
  const checkpointLayers = args.gradient_checkpointing === true;
  const record = (window: MetricsWindow, out: Map<string, number>) => {
    for (const [k, v] of out) window.add(k, v);
  };
  return {
    hasEval: evalOrder !== null,
    normaliser: (step) => step.length,
    micro(mb, normaliser) {
      const { items, indices } = order.batchAt(mb.epoch, mb.index);
      reference.ensure(indices);
      const b = rows(items, padId);
      const out = new Map<string, number>();
      return {
        tokens: b.tokens,
        loss: () => pairLoss(ctx.model, ctx.lora, b, indices.map((i) => reference.get(i)), settings, 1 / normaliser, out, checkpointLayers),
        record: (window) => record(window, out),
      };
    },
    evaluate(window) {
      for (let i = 0; i < evalOrder!.perEpoch; i++) {
        const { items, indices } = evalOrder!.batchAt(0, i);
        evalReference!.ensure(indices);
        const out = new Map<string, number>();
        const loss = tf.tidy(() => pairLoss(ctx.model, ctx.lora, rows(items, padId), indices.map((k) => evalReference!.get(k)), settings, 1, out, false).dataSync()[0]!);
        window.add('loss', loss);
        record(window, out);
      }
    },
    dispose() {},
  };
}

export const dpo: Stage = {
  checkArgs(args) {
    dpoSettings(args);
  },
  load(job, args, source): StageData {
    const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
    const train = loadPairs(job.data.train, source.tokenizer, { max_length: maxLength });
    const evalSet = job.data.eval ? loadPairs(job.data.eval, source.tokenizer, { max_length: maxLength }) : null;
    const notes: string[] = [];
    if (train.dropped > 0) notes.push(`${train.dropped} pair(s) dropped: the prompt alone is ${maxLength} tokens or more (max_length), so nothing of their completions would be compared`);
    if (train.truncated > 0) notes.push(`${train.truncated} pair(s) had a sequence cut to ${maxLength} tokens (max_length, keeping the start)`);
    const settings = dpoSettings(args);
    const padId = source.tokenizer.padId;
    return {
      records: train.pairs.length,
      perEpoch: Math.ceil(train.pairs.length / args.per_device_train_batch_size),
      memory: { train: pairSequences(train.pairs), eval: evalSet ? pairSequences(evalSet.pairs) : null, rowsPerExample: 2, maxLength },
      notes,
      objective: (ctx) => objective(train, evalSet, settings, padId, ctx),
    };
  },
};
