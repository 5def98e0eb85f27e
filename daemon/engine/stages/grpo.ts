// Group Relative Policy Optimization (TRL's GRPOTrainer): at the start of each optimizer step, every
// prompt of the step's micro-batches gets num_generations completions sampled from the policy (KV
// cache, temperature/top_p/top_k, max_completion_length); reward functions score them (built-ins
// from core/rewards, user modules in a worker thread, rewards/); grpoAdvantages turns the scores
// into advantages over each group and grpoLoss pushes the policy toward the better completions.
// One generation per step (TRL's steps_per_generation = gradient accumulation) and one pass over it
// (num_iterations 1, so the importance ratio is 1 and the old log-probs are the current ones). With
// beta > 0 the k3 KL to the reference (the base with the LoRA adapter left out) joins the loss.
import * as tf from '@tensorflow/tfjs-core';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { createBuiltinReward, checkRewardValues } from '../../../core/rewards/index.ts';
import type { RewardSpec, TrainingArguments } from '../../../core/recipe/types.ts';
import type { Turns } from '../../../core/datasets/types.ts';
import type { ChatTokenizer } from '../../../core/tokenize/index.ts';
import { DataError, EpochOrder, readRecords } from '../data.ts';
import { completionLoss, sequenceBatch, type ScoredSequence } from '../logprobs.ts';
import { hashSeed, Rng } from '../rng.ts';
import { UserReward } from '../rewards/userReward.ts';
import { generateBatch } from '../sample.ts';
import { grpoAdvantages, type AdvantageSettings } from './grpoAdvantages.ts';
import { completionGrid, completionGridValues, grpoLoss, grpoLossSettings, type GrpoLossSettings } from './grpoLoss.ts';
import type { MicroBatch, Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

interface PromptExample {
  prompt: Turns;
  ids: Int32Array;
  columns: Record<string, unknown>;
  line: number;
}

interface GrpoSettings {
  generations: number;
  maxCompletion: number;
  temperature: number;
  topP: number;
  topK: number;
  maskTruncated: boolean;
  loss: GrpoLossSettings;
  advantages: Omit<AdvantageSettings, 'weights'>;
}

type Keys = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function grpoSettings(args: TrainingArguments): GrpoSettings {
  const k = args as unknown as Keys;
  const loss = grpoLossSettings({ ...k, max_completion_length: args.max_completion_length ?? 512 } as never);
  const generations = args.num_generations ?? 8;
  if (!(generations >= 2)) throw new Error(`num_generations is ${generations}; GRPO compares completions within a group, so it needs at least 2.`);
  if (args.per_device_train_batch_size % generations !== 0) {
    throw new Error(`per_device_train_batch_size (${args.per_device_train_batch_size}) counts completions and must be a multiple of num_generations (${generations}).`);
  }
  if ((num(k.num_iterations) ?? 1) !== 1) throw new Error('num_iterations > 1 is not supported yet; leave it at 1.');
  const scale = (k.scale_rewards as string | undefined) ?? 'group';
  return {
    generations,
    maxCompletion: args.max_completion_length ?? 512,
    temperature: args.temperature ?? 1,
    topP: num(k.top_p) ?? 1,
    topK: num(k.top_k) ?? 0,
    maskTruncated: k.mask_truncated_completions === true,
    loss,
    advantages: { numGenerations: generations, scaleRewards: scale as AdvantageSettings['scaleRewards'], aggregation: ((k.multi_objective_aggregation as string | undefined) ?? 'sum_then_normalize') as AdvantageSettings['aggregation'] },
  };
}

function loadPrompts(path: string, tokenizer: ChatTokenizer, maxPrompt: number): PromptExample[] {
  const out: PromptExample[] = [];
  for (const { line, record } of readRecords(path, 'grpo')) {
    if (record.format !== 'prompt-only') throw new DataError(`${path} line ${line + 1} is a ${record.format} record; GRPO needs prompts ({"prompt": ...}, with the columns its rewards read).`);
    const ids = tokenizer.encodeRecord(record, { lossOn: 'all' }).ids;
    if (ids.length >= maxPrompt) throw new DataError(`${path} line ${line + 1}: the prompt is ${ids.length} tokens, leaving no room for a completion within the model's context; shorten it.`);
    out.push({ prompt: record.prompt, ids: Int32Array.from(ids), columns: record.extra, line });
  }
  if (out.length === 0) throw new DataError(`${path} has no prompt to sample from.`);
  return out;
}

/** A reward function ready to call on a generation batch: a built-in, or a user module in its worker. */
interface LoadedReward {
  name: string;
  weight: number;
  call(inputs: Record<string, unknown>, rows: number): Promise<(number | null)[]>;
  close(): Promise<void>;
}

async function loadRewards(specs: RewardSpec[], maxCompletion: number): Promise<LoadedReward[]> {
  const out: LoadedReward[] = [];
  for (const spec of specs) {
    if (spec.file) {
      const user = await UserReward.load(spec.file);
      out.push({ name: spec.name || user.name, weight: spec.weight ?? 1, call: (inputs) => user.call(inputs as never), close: () => user.close() });
    } else {
      const fn = createBuiltinReward({ name: spec.name, column: spec.column, options: spec.options }, { max_completion_length: maxCompletion, readText: (p) => nodeFiles.readText(p) });
      out.push({ name: spec.name, weight: spec.weight ?? 1, call: async (inputs, rows) => checkRewardValues(spec.name, fn(inputs as never), rows), close: async () => {} });
    }
  }
  return out;
}

/** One micro-batch's sampled rows, ready for the loss. */
interface Prepared {
  seqs: ScoredSequence[];
  /** The reference's per-token log-probs laid out [B, width] (beta > 0), else null. */
  refLogps: Float32Array | null;
  lengths: number[];
  mask: Float32Array;
  advantages: Float64Array;
  width: number;
  tokens: number;
}

function objective(prompts: PromptExample[], s: GrpoSettings, specs: RewardSpec[], tok: ChatTokenizer, ctx: ObjectiveContext): Objective {
  const { args, model } = ctx;
  if (s.loss.beta !== 0 && !ctx.lora) {
    throw new Error('GRPO with beta > 0 keeps the policy near a reference model: with LoRA that is the base (the adapter left out); full fine-tuning would need a second copy of the model. Use LoRA (`lora: {}`), or beta 0 (TRL\'s default).');
  }
  const order = new EpochOrder(prompts, { batchSize: args.per_device_train_batch_size / s.generations, seed: args.seed, shuffle: true });
  const prepared = new Map<string, Prepared>();
  const pending = new Map<string, number>();
  const key = (b: MicroBatch) => `${b.epoch}:${b.index}`;
  let stepMetrics: Record<string, number> = {};
  const stop = tok.stopIds.length > 0 ? tok.stopIds : [tok.eosId];
  // Loaded at the first step (a user module's worker starts then): a bad module fails the run there.
  let rewards: LoadedReward[] | null = null;
  return {
    hasEval: false,
    async prepareStep(batches, step) {
      rewards ??= await loadRewards(specs, s.maxCompletion);
      prepared.clear();
      // Every micro-batch's prompts, each repeated num_generations times: one generation batch.
      const items = batches.flatMap((b) => order.batchAt(b.epoch, b.index).items);
      const rows = items.flatMap((p) => Array.from({ length: s.generations }, () => p));
      const completions = generateBatch(model, rows.map((p) => Array.from(p.ids)), {
        maxNewTokens: s.maxCompletion,
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK,
        stopIds: stop,
        keepStop: true,
        rng: new Rng(hashSeed(args.seed, step, 0x67)),
        adapter: ctx.lora ?? undefined,
      });
      const truncated = completions.map((c) => c.length === 0 || !stop.includes(c[c.length - 1]!));
      const texts = completions.map((c) => tok.decode(c.filter((id) => !stop.includes(id)), { skipSpecial: true }));
      const conversational = rows.map((p) => typeof p.prompt !== 'string');
      const inputs: Record<string, unknown> = {
        prompts: rows.map((p) => p.prompt),
        completions: texts.map((t, i) => (conversational[i] ? [{ role: 'assistant', content: t }] : t)),
        completion_ids: completions,
        trainer_state: { global_step: step },
      };
      for (const column of new Set(rows.flatMap((p) => Object.keys(p.columns)))) inputs[column] = rows.map((p) => p.columns[column] ?? null);
      const loaded = rewards;
      const scores = await Promise.all(loaded.map((r) => r.call(inputs, rows.length)));
      const matrix = rows.map((_, i) => scores.map((col) => col[i] ?? NaN));
      const adv = grpoAdvantages(matrix, loaded.map((r) => r.name), { ...s.advantages, weights: loaded.map((r) => r.weight) });
      // TRL's completion_mask: up to and including the EOS; a truncated completion masked out entirely when asked.
      const lengths = completions.map((c) => c.length);
      const numItems = completions.reduce((a, c, i) => a + (s.maskTruncated && truncated[i] ? 0 : c.length), 0);
      const terminated = lengths.filter((_, i) => !truncated[i]);
      stepMetrics = {
        ...adv.metrics,
        'completions/mean_length': mean(lengths),
        'completions/min_length': Math.min(...lengths),
        'completions/max_length': Math.max(...lengths),
        'completions/clipped_ratio': truncated.filter(Boolean).length / rows.length,
        'completions/mean_terminated_length': terminated.length ? mean(terminated) : 0,
        'completions/min_terminated_length': terminated.length ? Math.min(...terminated) : 0,
        'completions/max_terminated_length': terminated.length ? Math.max(...terminated) : 0,
      };
      if ((adv.metrics.frac_reward_zero_std ?? 0) >= 0.75 && step % args.logging_steps === 0) {
        ctx.log(`step ${step + 1}: ${Math.round(adv.metrics.frac_reward_zero_std! * 100)}% of groups got equal rewards for every completion, so they give no learning signal (advantage 0): the task is too hard or too easy for the model; adjust the rewards or the data`);
      }
      const per = args.per_device_train_batch_size;
      batches.forEach((b, k) => {
        const slice = (xs: number[]) => xs.slice(k * per, (k + 1) * per);
        const ls = slice(lengths);
        const seqs = rows.slice(k * per, (k + 1) * per).map((p, i) => {
          const c = completions[k * per + i]!;
          const ids = new Int32Array(p.ids.length + c.length);
          ids.set(p.ids);
          ids.set(c, p.ids.length);
          return { ids, completionStart: p.ids.length };
        });
        const width = Math.max(1, ...ls);
        // The reference (adapter off, or a continued adapter's frozen start) scores the same tokens at the same temperature.
        let refLogps: Float32Array | null = null;
        if (s.loss.beta !== 0) {
          tf.tidy(() => {
            completionLoss(model, sequenceBatch(seqs, tok.padId), { adapter: ctx.reference, frozenBase: true, temperature: s.temperature }, (lp) => {
              refLogps = completionGridValues(lp.tokens.dataSync(), ls, width);
              return tf.scalar(0);
            });
          });
        }
        const active = ls.map((n, i) => (s.maskTruncated && truncated[k * per + i] ? 0 : n));
        prepared.set(key(b), { seqs, refLogps, lengths: ls, mask: completionGridValues(active.map((n, i) => Array.from({ length: ls[i]! }, (_, t) => (t < n ? 1 : 0))).flat(), ls, width), advantages: adv.advantages.slice(k * per, (k + 1) * per), width, tokens: seqs.reduce((a, q) => a + q.ids.length, 0) });
        pending.set(key(b), numItems);
      });
    },
    normaliser: () => 1,
    micro(mb) {
      const p = prepared.get(key(mb));
      if (!p) throw new Error(`micro-batch ${key(mb)} was not sampled at the start of its step`);
      const numItems = pending.get(key(mb))!;
      const first = prepared.keys().next().value === key(mb);
      let metrics: Record<string, number> = {};
      return {
        tokens: p.tokens,
        loss: () => {
          const b = sequenceBatch(p.seqs, tok.padId);
          const opts = { adapter: ctx.lora ?? undefined, frozenBase: ctx.lora !== null, checkpointLayers: args.gradient_checkpointing === true, want: ['entropy'] as const, temperature: s.temperature };
          return completionLoss(model, b, opts, (lp) => {
            const entropies = completionGridValues(lp.stats.entropy!.dataSync(), p.lengths, p.width);
            lp.stats.entropy!.dispose();
            const out = grpoLoss(
              { logps: completionGrid(lp.tokens, p.lengths, p.width), mask: p.mask, advantages: p.advantages, oldLogps: null, refLogps: p.refLogps, entropies, numItemsInBatch: numItems, gradientAccumulationSteps: Math.max(1, args.gradient_accumulation_steps), stepsPerGeneration: Math.max(1, args.gradient_accumulation_steps) },
              s.loss,
            );
            metrics = out.metrics;
            return out.loss;
          });
        },
        record(window) {
          for (const [k, v] of Object.entries(metrics)) window.add(k, v);
          if (first) for (const [k, v] of Object.entries(stepMetrics)) window.add(k, v);
        },
      };
    },
    evaluate() {},
    dispose() {
      for (const r of rewards ?? []) void r.close();
    },
  };
}

const mean = (xs: number[]) => xs.reduce((a, v) => a + v, 0) / Math.max(1, xs.length);

export const grpo: Stage = {
  checkArgs: (args) => void grpoSettings(args),
  load(job, args, source): StageData {
    const s = grpoSettings(args);
    if (!job.rewards || job.rewards.length === 0) throw new Error('GRPO needs reward functions to score completions; add `rewards:` to the recipe, e.g. `rewards: [{name: answer_match, column: answer}]`.');
    const context = source.config.max_position_embeddings;
    const prompts = loadPrompts(job.data.train, source.tokenizer, context);
    const longest = Math.max(...prompts.map((p) => p.ids.length));
    const length = Math.min(context, longest + s.maxCompletion);
    const specs = job.rewards;
    return {
      records: prompts.length,
      perEpoch: Math.ceil(prompts.length / (args.per_device_train_batch_size / s.generations)),
      // per_device_train_batch_size counts completions: that many prompt + completion sequences a micro-batch.
      memory: { train: prompts.map(() => ({ ids: new Int32Array(length), target: new Uint8Array(length) })), eval: null, rowsPerExample: 1, maxLength: length },
      notes: [`${specs.length} reward function(s): ${specs.map((r) => r.name).join(', ')}; ${s.generations} completions per prompt, up to ${s.maxCompletion} tokens each`],
      objective: (ctx) => objective(prompts, s, specs, source.tokenizer, ctx),
    };
  },
};
