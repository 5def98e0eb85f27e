// Proximal Policy Optimization with a learned reward (TRL's experimental PPOTrainer, RLHF as in
// Ziegler et al. 2019). Each rollout: one completion per prompt for per_device_train_batch_size ×
// gradient_accumulation_steps prompts, sampled from the policy (rollout.ts) and stopped at EOS (TRL's
// stop_token="eos"); the trained reward model (`reward_model_path`, a reward run's output) scores the
// policy's tokens; the policy and the value head (valueHead.ts) give the rollout's log-probs and
// values, the reference (the base with the LoRA adapter off, or a continued adapter's frozen start)
// its log-probs; ppoMath turns them into per-token rewards (KL penalty, the score after the last
// token), GAE advantages and returns. Then num_ppo_epochs passes over the rollout in a fresh order
// each, one optimizer step per pass (TRL steps every gradient_accumulation_steps micro-batches), each
// micro-batch on ppoLoss's clipped policy + value loss ÷ GAS. Metrics under TRL's names, once per
// rollout. Where this differs from TRL 1.12.0 (the last TRL with PPO), and why:
//   * the value head shares the policy's backbone (TRL: a separate value model, a second model copy);
//   * generation always stops at EOS (TRL's default stop_token=None runs every response to
//     response_length; its example scripts set "eos"); top_k / top_p are off, as in TRL;
//   * the learning rate follows the loop's schedule per optimizer step (TRL's steps once per rollout);
//   * `policy/entropy_avg` averages the entropy over response tokens (TRL's also over padding cells,
//     where the model reads pad tokens); logits are divided by temperature, not temperature + 1e-7;
//   * full fine-tuning with kl_coef > 0 is refused: the reference would be a second copy of the model.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { ChatTokenizer } from '../../../core/tokenize/index.ts';
import { EpochOrder } from '../data.ts';
import { sequenceBatch, type ScoredSequence, type SequenceBatch } from '../logprobs.ts';
import { hashSeed, Rng } from '../rng.ts';
import { loadPrompts, sampleRollout, shownPrompt, type PromptExample, type Rollout, type SamplingSettings } from '../rollout.ts';
import { sequenceRewards } from '../scoreHead.ts';
import { openScoringModel, type ScoringModel } from '../scoringModel.ts';
import { newValueHead, policyValueLoss, policyValues, VALUE_HEAD } from '../valueHead.ts';
import { completionGrid, completionGridValues } from './grpoLoss.ts';
import { ppoLoss, type PpoLossSettings } from './ppoLoss.ts';
import { maskedMean, ppoRollout, ppoUpdateMetrics, type PpoMicroStats, type PpoRewardSettings, type PpoRollout } from './ppoMath.ts';
import type { MicroBatch, Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

export interface PpoSettings {
  sampling: SamplingSettings;
  rewards: PpoRewardSettings;
  loss: PpoLossSettings;
  numPpoEpochs: number;
  numMiniBatches: number;
  rewardModel: string;
}

type Keys = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** PPOConfig's keys under TRL's names with TRL 1.12's defaults; refuses what TRL or Anneal can't do, in one sentence. */
export function ppoSettings(args: TrainingArguments): PpoSettings {
  const k = args as unknown as Keys;
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const whole = (name: string, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${name} is ${v}; it is a whole number, 1 or more.`);
    return v;
  };
  const numPpoEpochs = whole('num_ppo_epochs', num(k.num_ppo_epochs) ?? 4);
  const numMiniBatches = whole('num_mini_batches', num(k.num_mini_batches) ?? 1);
  if (accum % numMiniBatches !== 0) {
    throw new Error(`num_mini_batches (${numMiniBatches}) must divide gradient_accumulation_steps (${accum}): a rollout of per_device_train_batch_size × gradient_accumulation_steps prompts is cut into mini-batches of whole micro-batches.`);
  }
  const klEstimator = (k.kl_estimator as string | undefined) ?? 'k1';
  if (klEstimator !== 'k1' && klEstimator !== 'k3') throw new Error(`kl_estimator \`${klEstimator}\` is not known; use k1 (TRL's default) or k3.`);
  const whitenRewards = k.whiten_rewards === true;
  const miniBatch = (args.per_device_train_batch_size * accum) / numMiniBatches;
  if (whitenRewards && miniBatch < 8) throw new Error(`whiten_rewards needs mini-batches of at least 8 responses (TRL's rule); this one is ${miniBatch}: raise per_device_train_batch_size or gradient_accumulation_steps.`);
  const penalty = num(k.missing_eos_penalty) ?? null;
  if (penalty !== null && !(penalty >= 0)) throw new Error(`missing_eos_penalty is ${penalty}; it is subtracted from the score of a response without EOS, so give a positive number.`);
  const unit = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new Error(`${name} is ${v}; it is in [0, 1].`);
    return v;
  };
  const rewardModel = k.reward_model_path;
  if (typeof rewardModel !== 'string' || rewardModel === '') {
    throw new Error('PPO needs a trained reward model to score completions: set `reward_model_path` to a reward run\'s output (stage: reward), e.g. `reward_model_path: runs/reward/output`.');
  }
  const responseLength = whole('response_length', num(k.response_length) ?? 53);
  return {
    sampling: { maxCompletion: responseLength, temperature: args.temperature ?? 0.7, topP: 1, topK: 0 },
    rewards: { klCoef: num(k.kl_coef) ?? 0.05, klEstimator, whitenRewards, missingEosPenalty: penalty, gamma: unit('gamma', num(k.gamma) ?? 1), lam: unit('lam', num(k.lam) ?? 0.95) },
    loss: { cliprange: num(k.cliprange) ?? 0.2, cliprangeValue: num(k.cliprange_value) ?? 0.2, vfCoef: num(k.vf_coef) ?? 0.1 },
    numPpoEpochs,
    numMiniBatches,
    rewardModel,
  };
}

/** One rollout, scored and turned into advantages, with what its micro-batches need. */
interface RolloutState {
  /** prompt + completion per row, and one pad after a completion shorter than the widest, so the state after EOS is scored too. */
  seqs: ScoredSequence[];
  /** Positions each row contributes to the [B, T] grid: its tokens, plus the one after EOS when it fits. */
  spans: number[];
  math: PpoRollout;
  /** The statistics of the micro-batches trained so far, for TRL's per-rollout averages. */
  stats: PpoMicroStats[];
  /** Rows per PPO epoch, in that epoch's order. */
  orders: Map<number, number[]>;
}

function objective(prompts: PromptExample[], s: PpoSettings, tok: ChatTokenizer, ctx: ObjectiveContext): Objective {
  const { args, model } = ctx;
  if (s.rewards.klCoef !== 0 && !ctx.lora) {
    throw new Error('PPO with kl_coef > 0 keeps the policy near a reference model: with LoRA that is the base (the adapter left out); full fine-tuning would need a second copy of the model. Use LoRA (`lora: {}`), or kl_coef 0.');
  }
  const per = args.per_device_train_batch_size;
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const rows = per * accum;
  const microsPerRollout = accum * s.numPpoEpochs;
  const order = new EpochOrder(prompts, { batchSize: rows, seed: args.seed, shuffle: true });
  const perEpoch = order.perEpoch * microsPerRollout;
  const indexOf = (b: MicroBatch) => b.epoch * perEpoch + b.index;
  const config = model.config as { hidden_size: number; initializer_range?: number };
  const vHead = newValueHead(config.hidden_size, hashSeed(args.seed, 0x76), config.initializer_range ?? 0.02);
  const v2 = vHead as tf.Tensor as tf.Tensor2D;
  const temperature = s.sampling.temperature;
  const showEvery = Math.max(1, Math.round((args.logging_steps * accum) / microsPerRollout));
  let scorer: ScoringModel | null = null;
  const rollouts = new Map<number, RolloutState>();

  /** Rollout `r`'s prompts: a batch of the epoch's order, topped up from the epoch's start when it is the short last one. */
  const promptsOf = (r: number): PromptExample[] => {
    const epoch = Math.floor(r / order.perEpoch);
    const items = [...order.batchAt(epoch, r % order.perEpoch).items];
    const first = order.batchAt(epoch, 0).items;
    for (let i = 0; items.length < rows; i++) items.push(first[i % first.length]!);
    return items;
  };

  const openScorer = async (signal: AbortSignal, step: number): Promise<ScoringModel> => {
    if (scorer) return scorer;
    const opened = await openScoringModel(s.rewardModel, args.seed, signal);
    if (!opened.head) {
      opened.dispose();
      throw new Error(`${s.rewardModel} has no score head, so it cannot be PPO's reward model: give the output of a reward run (stage: reward) or a *ForSequenceClassification model.`);
    }
    if (opened.config.vocab_size !== model.config.vocab_size) {
      opened.dispose();
      throw new Error(`The reward model ${s.rewardModel} has a vocabulary of ${opened.config.vocab_size} tokens and the policy ${model.config.vocab_size}: PPO scores the policy's tokens, as TRL does, so train the reward model from the policy's base.`);
    }
    scorer = opened;
    // TRL's value model starts as the reward model; here the value head starts as its score head. On resume the checkpoint's head stands.
    if (step === 0 && opened.head.shape[1] === config.hidden_size) {
      vHead.assign(opened.head);
      ctx.log(`value head: initialised from the reward model's score head (${opened.description})`);
    }
    return opened;
  };

  /** Per-token values [rows × T] of a pass over `idx` rows, in chunks of a micro-batch. */
  const scoreRows = (state: Pick<RolloutState, 'seqs' | 'spans'>, T: number, adapter: ObjectiveContext['reference'] | undefined) => {
    const logps = new Float64Array(state.seqs.length * T);
    const values = new Float64Array(state.seqs.length * T);
    for (let from = 0; from < state.seqs.length; from += per) {
      const to = Math.min(state.seqs.length, from + per);
      const out = policyValues(model, v2, sequenceBatch(state.seqs.slice(from, to), tok.padId), { adapter, frozenBase: true, temperature });
      const spans = state.spans.slice(from, to);
      logps.set(completionGridValues(out.logps, spans, T), from * T);
      values.set(completionGridValues(out.values, spans, T), from * T);
    }
    return { logps, values };
  };

  const rewardScores = (sc: ScoringModel, r: Rollout): number[] => {
    const seqs = r.rows.map((p, i) => ({ ids: Int32Array.from([...p.ids, ...r.completions[i]!]), completionStart: p.ids.length }));
    const out: number[] = [];
    for (let from = 0; from < seqs.length; from += per) {
      out.push(...sequenceRewards(sc.model, sc.lora ?? undefined, sc.head!, sequenceBatch(seqs.slice(from, from + per), sc.tokenizer.padId), sc.tokenizer.padId));
    }
    return out;
  };

  /** Samples and scores rollout `r`, first trained at optimizer step `step` (0-based); null when stopped. */
  const makeRollout = async (r: number, step: number, signal: AbortSignal): Promise<RolloutState | null> => {
    const sc = await openScorer(signal, step);
    const rollout = await sampleRollout(model, ctx.lora ?? undefined, tok, promptsOf(r), s.sampling, args.seed, r, signal);
    if (!rollout) return null;
    const lengths = rollout.completions.map((c) => Math.max(1, c.length));
    const T = Math.max(...lengths);
    const seqs = rollout.rows.map((p, i) => {
      const c = rollout.completions[i]!;
      return { ids: Int32Array.from([...p.ids, ...c, ...(c.length < T ? [tok.padId] : [])]), completionStart: p.ids.length };
    });
    const state = { seqs, spans: seqs.map((q, i) => q.ids.length - rollout.rows[i]!.ids.length) };
    const policy = scoreRows(state, T, ctx.lora ?? undefined);
    // Without an adapter there is no reference (kl_coef is 0, checked above): the KL is 0.
    const ref = ctx.lora ? scoreRows(state, T, ctx.reference).logps : policy.logps;
    const scores = rewardScores(sc, rollout);
    const math = ppoRollout({ lengths, ended: rollout.truncated.map((t) => !t), logprobs: policy.logps, refLogprobs: ref, values: policy.values, scores }, s.rewards);
    if (r % showEvery === 0) {
      rollout.rows.forEach((p, i) => {
        const adv = maskedMean(math.advantages.subarray(i * T, (i + 1) * T), math.valid.subarray(i * T, (i + 1) * T));
        ctx.sample({
          step: step + 1,
          prompt: shownPrompt(p.prompt),
          completion: rollout.texts[i]!,
          scored: { group: i, rewards: { reward_model: scores[i]! }, reward: math.scores[i]!, advantage: adv, length: rollout.completions[i]!.length, truncated: rollout.truncated[i]! },
        });
      });
    }
    if (signal.aborted) return null;
    return { ...state, math, stats: [], orders: new Map() };
  };

  const head = new Map([[VALUE_HEAD, vHead]]);
  return {
    hasEval: false,
    head,
    async prepareStep(batches, step, signal) {
      const needed = [...new Set(batches.map((b) => Math.floor(indexOf(b) / microsPerRollout)))];
      for (const r of [...rollouts.keys()]) if (!needed.includes(r)) rollouts.delete(r);
      for (const r of needed) {
        if (rollouts.has(r)) continue;
        const made = await makeRollout(r, step, signal);
        if (!made) return false;
        rollouts.set(r, made);
      }
      return true;
    },
    // Each micro-batch's loss is divided by the accumulation steps, as accelerator.backward does.
    normaliser: () => accum,
    micro(mb, normaliser) {
      const m = indexOf(mb);
      const r = Math.floor(m / microsPerRollout);
      const state = rollouts.get(r);
      if (!state) throw new Error(`micro-batch ${mb.epoch}:${mb.index} was not sampled at the start of its step`);
      const epoch = Math.floor((m % microsPerRollout) / accum);
      const k = m % accum;
      // A fresh order of the rollout's rows each PPO epoch (TRL's np.random.permutation), seeded by rollout and epoch.
      if (!state.orders.has(epoch)) state.orders.set(epoch, new Rng(hashSeed(args.seed, r, 0x70, epoch)).permutation(rows));
      const idx = state.orders.get(epoch)!.slice(k * per, (k + 1) * per);
      const { math } = state;
      const T = math.T;
      const pick = (x: ArrayLike<number>) => idx.flatMap((b) => Array.from(x).slice(b * T, (b + 1) * T));
      const seqs = idx.map((b) => state.seqs[b]!);
      const spans = idx.map((b) => state.spans[b]!);
      const valid = pick(math.valid);
      let stats: PpoMicroStats | null = null;
      return {
        tokens: seqs.reduce((a, q) => a + q.ids.length, 0),
        loss: () => {
          const b: SequenceBatch = sequenceBatch(seqs, tok.padId);
          const opts = { adapter: ctx.lora ?? undefined, frozenBase: ctx.lora !== null, checkpointLayers: args.gradient_checkpointing === true, temperature, entropy: true };
          return policyValueLoss(model, v2, b, opts, (pv) => {
            const entropy = completionGridValues(pv.entropy!.dataSync(), spans, T);
            pv.entropy!.dispose();
            const out = ppoLoss(
              { logps: completionGrid(pv.logps, spans, T), vpred: completionGrid(pv.values, spans, T), oldLogps: pick(math.logprobs), advantages: pick(math.advantages), returns: pick(math.returns), values: pick(math.values), valid, validP1: pick(math.validP1) },
              s.loss,
            );
            stats = { ...out.stats, entropy: maskedMean(entropy, valid) };
            return tf.div(out.loss, normaliser) as tf.Scalar;
          });
        },
        record(window) {
          state.stats.push(stats!);
          // TRL logs once per rollout, after its last PPO epoch: the rollout's objective/* and the update's averages.
          if (epoch === s.numPpoEpochs - 1 && k === accum - 1) {
            const update = ppoUpdateMetrics(state.stats, s.numPpoEpochs * s.numMiniBatches * accum);
            for (const [name, v] of Object.entries({ ...math.metrics, ...update, episode: (r + 1) * rows })) window.add(name, v);
          }
        },
      };
    },
    evaluate() {},
    dispose() {
      (scorer as ScoringModel | null)?.dispose();
      vHead.dispose();
    },
  };
}

export const ppo: Stage = {
  checkArgs: (args) => void ppoSettings(args),
  load(job, args, source): StageData {
    const s = ppoSettings(args);
    const context = source.config.max_position_embeddings;
    const prompts = loadPrompts(job.data.train, source.tokenizer, context, 'ppo');
    const longest = Math.max(...prompts.map((p) => p.ids.length));
    const length = Math.min(context, longest + s.sampling.maxCompletion + 1);
    const rows = args.per_device_train_batch_size * Math.max(1, args.gradient_accumulation_steps);
    const rolloutsPerEpoch = Math.ceil(prompts.length / rows);
    return {
      records: prompts.length,
      perEpoch: rolloutsPerEpoch * Math.max(1, args.gradient_accumulation_steps) * s.numPpoEpochs,
      memory: { train: prompts.map(() => ({ ids: new Int32Array(length), target: new Uint8Array(length) })), eval: null, rowsPerExample: 1, maxLength: length },
      notes: [
        `reward model ${s.rewardModel}; ${rows} prompt(s) per rollout, one completion each, up to ${s.sampling.maxCompletion} tokens at temperature ${s.sampling.temperature}; ${s.numPpoEpochs} PPO epoch(s) per rollout (one optimizer step each)`,
      ],
      objective: (ctx) => objective(prompts, s, source.tokenizer, ctx),
    };
  },
};
