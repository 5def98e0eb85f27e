// Kahneman-Tversky Optimization (TRL's KTOTrainer): unpaired examples, each a completion that is
// desirable or not. A desirable completion's log-ratio to the reference is pushed above a reference
// point, an undesirable one's below it; the reference point is the batch's KL estimate: the policy's
// and the reference's log-probs of mismatched completions (example i's prompt with example i-1's
// completion, the first with the last), their mean difference clamped at 0, held constant. Examples
// are shuffled per epoch like every stage (TRL needs sequential sampling only because it precomputes
// the mismatched pairs over its dataset; here they are formed within each micro-batch).
import * as tf from '@tensorflow/tfjs-core';
import { LOSS_TYPES } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import { EpochOrder } from '../data.ts';
import { completionLoss, sequenceBatch, sequenceLogProbs, type SequenceBatch } from '../logprobs.ts';
import type { LoraAdapter } from '../lora.ts';
import type { LlamaModel } from '../model.ts';
import { joined, loadUnpaired, type UnpairedSet } from '../preferenceData.ts';
import { ReferenceLogProbs } from '../reference.ts';
import { mean } from './pairStage.ts';
import { meanLossObjective } from './meanLossObjective.ts';
import type { Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

export interface KtoSettings {
  beta: number;
  lossType: 'kto' | 'apo_zero_unpaired';
  desirableWeight: number;
  undesirableWeight: number;
}

export function ktoSettings(args: TrainingArguments): KtoSettings {
  const t = args.loss_type ?? 'kto';
  if (typeof t !== 'string' || !LOSS_TYPES.kto.includes(t)) throw new Error(`loss_type \`${String(t)}\` is not a KTO loss; use one of ${LOSS_TYPES.kto.join(', ')}.`);
  if (t === 'kto' && args.per_device_train_batch_size < 2) {
    throw new Error("KTO's reference point pairs each prompt with another example's completion in the micro-batch; set per_device_train_batch_size to 2 or more.");
  }
  const beta = args.beta ?? 0.1;
  if (!(beta > 0)) throw new Error(`beta is ${beta}; it must be positive.`);
  return { beta, lossType: t as KtoSettings['lossType'], desirableWeight: args.desirable_weight ?? 1, undesirableWeight: args.undesirable_weight ?? 1 };
}

/**
 * KTO's loss on one micro-batch (rows = the examples' prompt + completion), given the reference's
 * log-probs of the rows and the clamped KL estimate `kl`; TRL's metrics into `out`
 * (KTOTrainer._compute_loss).
 */
export function ktoLoss(s: KtoSettings, model: LlamaModel, lora: LoraAdapter | null, b: SequenceBatch, labels: boolean[], reference: ArrayLike<number>, kl: number, scale: number, out: Map<string, number>, checkpointLayers: boolean): tf.Scalar {
  const opts = { adapter: lora ?? undefined, frozenBase: lora !== null, checkpointLayers, want: ['entropy', 'logitMean'] as const };
  return completionLoss(model, b, opts, (lp) => {
    const ratio = tf.sub(lp.sums, tf.tensor1d(Float32Array.from(reference)));
    const desirable = tf.tensor1d(labels.map((l) => (l ? 1 : 0)));
    const undesirable = tf.sub(1, desirable);
    const bk = s.lossType === 'kto' ? kl : 0;
    // desirable: 1 - sigmoid(beta (ratio - kl)); undesirable: 1 - sigmoid(beta (kl - ratio)), or apo_zero_unpaired's sigmoid(beta ratio).
    const chosenLoss = tf.sub(1, tf.sigmoid(tf.mul(tf.sub(ratio, bk), s.beta)));
    const rejectedLoss = s.lossType === 'kto' ? tf.sub(1, tf.sigmoid(tf.mul(tf.sub(bk, ratio), s.beta))) : tf.sigmoid(tf.mul(ratio, s.beta));
    const weighted = tf.add(tf.mul(chosenLoss, tf.mul(desirable, s.desirableWeight)), tf.mul(rejectedLoss, tf.mul(undesirable, s.undesirableWeight)));
    const loss = tf.mean(weighted);

    const logps = lp.sums.dataSync();
    const rewards = Array.from(logps, (v, i) => s.beta * (v - reference[i]!));
    const pick = <T>(xs: ArrayLike<T>, want: boolean) => Array.from(xs).filter((_, i) => labels[i] === want);
    const logitMean = lp.stats.logitMean!.dataSync();
    const logitSum = (want: boolean) => {
      let sum = 0;
      let n = 0;
      b.rowOf.forEach((r, i) => {
        if (labels[r] === want) {
          sum += logitMean[i]!;
          n++;
        }
      });
      return n > 0 ? sum / n : NaN;
    };
    out.set('kl', kl);
    out.set('entropy', mean(lp.stats.entropy!.dataSync()));
    for (const t of Object.values(lp.stats)) t.dispose();
    // A class absent from the micro-batch logs nothing for it (NaN is left out of the window's mean).
    const chosen = pick(rewards, true);
    const rejected = pick(rewards, false);
    out.set('logits/chosen', logitSum(true));
    out.set('logits/rejected', logitSum(false));
    out.set('rewards/chosen', chosen.length ? mean(chosen) : NaN);
    out.set('rewards/rejected', rejected.length ? mean(rejected) : NaN);
    out.set('logps/chosen', chosen.length ? mean(pick(logps, true)) : NaN);
    out.set('logps/rejected', rejected.length ? mean(pick(logps, false)) : NaN);
    out.set('rewards/margins', chosen.length && rejected.length ? mean(chosen) - mean(rejected) : NaN);
    return tf.mul(loss, scale) as tf.Scalar;
  });
}

/** KL = max(0, mean(policy - reference)) over the mismatched rows, held constant (TRL: no gradient). */
export function klEstimate(policy: ArrayLike<number>, reference: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < policy.length; i++) sum += policy[i]! - reference[i]!;
  return Math.max(0, sum / Math.max(1, policy.length));
}

function objective(s: KtoSettings, train: UnpairedSet, evalSet: UnpairedSet | null, padId: number, maxLength: number, ctx: ObjectiveContext): Objective {
  const { args } = ctx;
  // Sequences are keyed i * N + j: example i's prompt with example j's completion (i = j: the example itself).
  const keyed = (set: UnpairedSet) => {
    const N = set.examples.length;
    const seq = (key: number) => [joined(set.examples[Math.floor(key / N)]!.prompt, set.examples[key % N]!.completion, maxLength)];
    return { N, seq, reference: new ReferenceLogProbs(ctx.model, seq, padId, args.per_device_eval_batch_size, ctx.reference) };
  };
  const trainKeys = keyed(train);
  const evalKeys = evalSet ? keyed(evalSet) : null;
  const order = new EpochOrder(train.examples, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true });
  const evalOrder = evalSet ? new EpochOrder(evalSet.examples, { batchSize: args.per_device_eval_batch_size, seed: args.seed, shuffle: false }) : null;
  const keysOf = (N: number, indices: number[]) => ({
    main: indices.map((i) => i * N + i),
    kl: s.lossType === 'kto' ? indices.map((i, k) => i * N + indices[(k - 1 + indices.length) % indices.length]!) : [],
  });
  if (!ctx.lora) {
    const used: number[] = [];
    for (let m = 0; m < ctx.totalMicroBatches; m++) {
      const k = keysOf(trainKeys.N, order.batchAt(Math.floor(m / order.perEpoch), m % order.perEpoch).indices);
      used.push(...k.main, ...k.kl);
    }
    ctx.log(`computing the reference log-probs of ${new Set(used).size} sequence(s) from the starting weights (full fine-tuning keeps no second model)`);
    trainKeys.reference.ensure(used);
    if (evalKeys) for (let i = 0; i < evalOrder!.perEpoch; i++) {
      const k = keysOf(evalKeys.N, evalOrder!.batchAt(0, i).indices);
      evalKeys.reference.ensure([...k.main, ...k.kl]);
    }
  }
  const checkpointLayers = args.gradient_checkpointing === true;
  /** The batch's rows, labels, reference values and KL estimate (all outside the gradient). */
  const prepare = (keys: NonNullable<typeof evalKeys>, set: UnpairedSet, indices: number[]) => {
    const k = keysOf(keys.N, indices);
    keys.reference.ensure([...k.main, ...k.kl]);
    const kl = k.kl.length > 0 ? klEstimate(sequenceLogProbs(ctx.model, sequenceBatch(k.kl.flatMap(keys.seq), padId), ctx.lora ?? undefined), k.kl.map((key) => keys.reference.get(key)[0]!)) : 0;
    return { b: sequenceBatch(k.main.flatMap(keys.seq), padId), labels: indices.map((i) => set.examples[i]!.label), reference: k.main.map((key) => keys.reference.get(key)[0]!), kl };
  };
  return meanLossObjective({
    train: order,
    eval: evalOrder,
    checkpointLayers,
    prepare({ indices }, split) {
      const p = split === 'train' ? prepare(trainKeys, train, indices) : prepare(evalKeys!, evalSet!, indices);
      return { tokens: p.b.tokens, loss: (scale, out, layers) => ktoLoss(s, ctx.model, ctx.lora, p.b, p.labels, p.reference, p.kl, scale, out, layers) };
    },
  });
}

export const kto: Stage = {
  checkArgs: (args) => void ktoSettings(args),
  load(job, args, source): StageData {
    const maxLength = Math.min(args.max_length, source.config.max_position_embeddings);
    const train = loadUnpaired(job.data.train, source.tokenizer, { max_length: maxLength });
    const evalSet = job.data.eval ? loadUnpaired(job.data.eval, source.tokenizer, { max_length: maxLength }) : null;
    const notes: string[] = [];
    if (train.dropped > 0) notes.push(`${train.dropped} example(s) dropped: the prompt alone is ${maxLength} tokens or more (max_length)`);
    // TRL's advice: desirable_weight * desirable / (undesirable_weight * undesirable) within [1, 4/3].
    const s = ktoSettings(args);
    const ratio = (s.desirableWeight * train.desirable) / (s.undesirableWeight * train.undesirable);
    if (ratio < 1 || ratio > 4 / 3) {
      const low = train.undesirable / train.desirable;
      notes.push(`${train.desirable} desirable and ${train.undesirable} undesirable examples: the KTO paper advises desirable_weight * ${train.desirable} / (undesirable_weight * ${train.undesirable}) between 1 and 4/3, e.g. desirable_weight ${(low * s.undesirableWeight).toFixed(2)}-${((4 / 3) * low * s.undesirableWeight).toFixed(2)}`);
    }
    const padId = source.tokenizer.padId;
    const asExample = (e: UnpairedSet['examples'][number]) => {
      const seq = joined(e.prompt, e.completion, maxLength);
      return { ids: seq.ids, target: Uint8Array.from(seq.ids, (_, t) => (t >= seq.completionStart ? 1 : 0)) };
    };
    return {
      records: train.examples.length,
      perEpoch: Math.ceil(train.examples.length / args.per_device_train_batch_size),
      // Each example runs with its mismatched (KL) sequence as well, in a pass without gradient.
      memory: { train: train.examples.map(asExample), eval: evalSet ? evalSet.examples.map(asExample) : null, rowsPerExample: 1, maxLength },
      notes,
      objective: (ctx) => objective(s, train, evalSet, padId, maxLength, ctx),
    };
  },
};
