// Group Relative Policy Optimization (TRL's GRPOTrainer). Every steps_per_generation × num_iterations
// micro-batches, a generation batch of prompts gets num_generations completions each, sampled from the
// policy (rollout.ts) and scored by the reward functions; grpoAdvantages turns the scores into
// advantages over each group. The batch is cut into steps_per_generation slices, one per micro-batch,
// and trained on num_iterations times with grpoLoss: when the policy moves between sampling and
// training (the generation outlives an optimizer step), the sampling policy's log-probs are kept as
// the old ones of the importance ratio. With beta > 0 the k3 KL to the reference (the base with the
// LoRA adapter left out) joins the loss. Each generation's groups go to the samples view.
import * as tf from '@tensorflow/tfjs-core';
import type { RewardSpec, TrainingArguments } from '../../../core/recipe/types.ts';
import { ZERO_STD_WARNING } from '../../../core/rewards/signal.ts';
import type { ChatTokenizer } from '../../../core/tokenize/index.ts';
import { EpochOrder } from '../data.ts';
import { completionLoss, sequenceBatch, type ScoredSequence } from '../logprobs.ts';
import { checkRewardColumns, loadPrompts, loadRewards, sampleRollout, scoreRollout, shownPrompt, type LoadedReward, type PromptExample, type Rollout, type SamplingSettings } from '../rollout.ts';
import { grpoAdvantages, type AdvantageSettings } from './grpoAdvantages.ts';
import { completionGrid, completionGridValues, grpoLoss, grpoLossSettings, type GrpoLossSettings } from './grpoLoss.ts';
import type { MicroBatch, Objective, ObjectiveContext, Stage, StageData } from './stage.ts';

interface GrpoSettings {
  generations: number;
  sampling: SamplingSettings;
  maskTruncated: boolean;
  numIterations: number;
  /** Micro-batches one generation batch is cut into (TRL's steps_per_generation). */
  stepsPerGeneration: number;
  /** Prompts of one generation batch. */
  promptsPerGeneration: number;
  loss: GrpoLossSettings;
  advantages: Omit<AdvantageSettings, 'weights'>;
}

type Keys = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function grpoSettings(args: TrainingArguments): GrpoSettings {
  const k = args as unknown as Keys;
  const per = args.per_device_train_batch_size;
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const loss = grpoLossSettings({ ...k, max_completion_length: args.max_completion_length ?? 512 } as never);
  const generations = args.num_generations ?? 8;
  if (!(generations >= 2)) throw new Error(`num_generations is ${generations}; GRPO compares completions within a group, so it needs at least 2.`);
  const numIterations = num(k.num_iterations) ?? 1;
  if (!(Number.isInteger(numIterations) && numIterations >= 1)) throw new Error(`num_iterations is ${numIterations}; it counts passes over each generation batch: a whole number, 1 or more.`);
  // TRL: steps_per_generation defaults to gradient_accumulation_steps; generation_batch_size is the other way to say it.
  const batchSize = num(k.generation_batch_size);
  if (batchSize !== undefined && k.steps_per_generation !== undefined) throw new Error('Set steps_per_generation or generation_batch_size, not both.');
  if (batchSize !== undefined && batchSize % per !== 0) throw new Error(`generation_batch_size (${batchSize}) must be a multiple of per_device_train_batch_size (${per}).`);
  const stepsPerGeneration = batchSize !== undefined ? batchSize / per : num(k.steps_per_generation) ?? accum;
  if (!(Number.isInteger(stepsPerGeneration) && stepsPerGeneration >= 1)) throw new Error(`steps_per_generation is ${stepsPerGeneration}; it is a whole number of micro-batches, 1 or more.`);
  if ((per * stepsPerGeneration) % generations !== 0) {
    throw new Error(`A generation batch is per_device_train_batch_size × steps_per_generation = ${per * stepsPerGeneration} completions, which must be a multiple of num_generations (${generations}) so that every prompt gets its whole group.`);
  }
  const scale = (k.scale_rewards as string | undefined) ?? 'group';
  return {
    generations,
    sampling: { maxCompletion: args.max_completion_length ?? 512, temperature: args.temperature ?? 1, topP: num(k.top_p) ?? 1, topK: num(k.top_k) ?? 0 },
    maskTruncated: k.mask_truncated_completions === true,
    numIterations,
    stepsPerGeneration,
    promptsPerGeneration: (per * stepsPerGeneration) / generations,
    loss,
    advantages: { numGenerations: generations, scaleRewards: scale as AdvantageSettings['scaleRewards'], aggregation: ((k.multi_objective_aggregation as string | undefined) ?? 'sum_then_normalize') as AdvantageSettings['aggregation'] },
  };
}

/** One micro-batch's slice of a generation batch, ready for the loss. */
interface Slice {
  seqs: ScoredSequence[];
  lengths: number[];
  width: number;
  mask: Float32Array;
  advantages: Float64Array;
  /** The sampling policy's per-token log-probs [B, width] when the policy moves before this slice trains; else null (ratio 1). */
  oldLogps: Float32Array | null;
  /** The reference's per-token log-probs [B, width] (beta > 0), else null. */
  refLogps: Float32Array | null;
  tokens: number;
}

interface Generation {
  slices: Slice[];
  /** Active completion tokens of the whole generation batch (dapo's denominator). */
  numItems: number;
  /** Reward and completion metrics, logged once per generation as TRL does. */
  metrics: Record<string, number>;
  metricsLogged: boolean;
}

function objective(prompts: PromptExample[], s: GrpoSettings, specs: RewardSpec[], tok: ChatTokenizer, ctx: ObjectiveContext): Objective {
  const { args, model } = ctx;
  if (s.loss.beta !== 0 && !ctx.lora) {
    throw new Error('GRPO with beta > 0 keeps the policy near a reference model: with LoRA that is the base (the adapter left out); full fine-tuning would need a second copy of the model. Use LoRA (`lora: {}`), or beta 0 (TRL\'s default).');
  }
  const per = args.per_device_train_batch_size;
  const accum = Math.max(1, args.gradient_accumulation_steps);
  const microsPerGeneration = s.stepsPerGeneration * s.numIterations;
  // TRL keeps the sampling policy's log-probs only when an optimizer step falls inside a generation's use.
  const keepOldLogps = accum % microsPerGeneration !== 0;
  const order = new EpochOrder(prompts, { batchSize: s.promptsPerGeneration, seed: args.seed, shuffle: true });
  const perEpoch = order.perEpoch * microsPerGeneration;
  const generations = new Map<number, Generation>();
  const indexOf = (b: MicroBatch) => b.epoch * perEpoch + b.index;
  // Groups go to the samples view about once per logging interval.
  const showEvery = Math.max(1, Math.round((args.logging_steps * accum) / microsPerGeneration));
  // Loaded at the first step (a user module's worker starts then): a bad module fails the run there.
  let rewards: LoadedReward[] | null = null;
  let calls = 0;

  /** Generation `g`'s prompts: a batch of the epoch's order, topped up from the epoch's start when it is the short last one. */
  const promptsOf = (g: number): PromptExample[] => {
    const epoch = Math.floor(g / order.perEpoch);
    const items = [...order.batchAt(epoch, g % order.perEpoch).items];
    const first = order.batchAt(epoch, 0).items;
    for (let i = 0; items.length < s.promptsPerGeneration; i++) items.push(first[i % first.length]!);
    return items;
  };

  const showGroups = (r: Rollout, matrix: number[][], totals: Float64Array, advantages: Float64Array, failures: string | undefined, step: number) => {
    const names = rewards!.map((x) => x.name);
    r.rows.forEach((p, i) => {
      const scored = Object.fromEntries(names.map((n, k) => [n, Number.isNaN(matrix[i]![k]!) ? null : matrix[i]![k]!]));
      const total = totals[i]!;
      ctx.sample({
        step,
        prompt: shownPrompt(p.prompt),
        completion: r.texts[i]!,
        scored: { group: Math.floor(i / s.generations), rewards: scored, reward: Number.isNaN(total) ? null : total, advantage: advantages[i]!, length: r.completions[i]!.length, truncated: r.truncated[i]!, ...(failures ? { error: failures } : {}) },
      });
    });
  };

  /** Samples, scores and slices generation `g`, first trained at optimizer step `step` (0-based); null when stopped. */
  const generate = async (g: number, step: number, signal: AbortSignal): Promise<Generation | null> => {
    rewards ??= await loadRewards(specs, { maxCompletion: s.sampling.maxCompletion, seed: args.seed, signal });
    const rows = promptsOf(g).flatMap((p) => Array.from({ length: s.generations }, () => p));
    const rollout = await sampleRollout(model, ctx.lora ?? undefined, tok, rows, s.sampling, args.seed, g, signal);
    if (!rollout) return null;
    const { matrix, failures } = await scoreRollout(rewards, rollout, step, calls++ === 0);
    const failed = failures.length > 0 ? failures.map((f) => `${f.name}: ${f.message}`).join('; ') : undefined;
    if (failed) ctx.log(`step ${step + 1}: ${failed} — its scores count as none (null) for this step's completions`);
    const adv = grpoAdvantages(matrix, rewards.map((r) => r.name), { ...s.advantages, weights: rewards.map((r) => r.weight) });
    const { completions, truncated } = rollout;
    // TRL's completion_mask: up to and including the stop token; a truncated completion masked out entirely when asked.
    const lengths = completions.map((c) => c.length);
    const active = lengths.map((n, i) => (s.maskTruncated && truncated[i] ? 0 : n));
    const terminated = lengths.filter((_, i) => !truncated[i]);
    const metrics = {
      ...adv.metrics,
      'completions/mean_length': mean(lengths),
      'completions/min_length': Math.min(...lengths),
      'completions/max_length': Math.max(...lengths),
      'completions/clipped_ratio': truncated.filter(Boolean).length / rows.length,
      'completions/mean_terminated_length': terminated.length ? mean(terminated) : 0,
      'completions/min_terminated_length': terminated.length ? Math.min(...terminated) : 0,
      'completions/max_terminated_length': terminated.length ? Math.max(...terminated) : 0,
    };
    if (g % showEvery === 0) {
      showGroups(rollout, matrix, adv.totals, adv.advantages, failed, step + 1);
      if ((adv.metrics.frac_reward_zero_std ?? 0) >= ZERO_STD_WARNING) {
        ctx.log(`step ${step + 1}: ${Math.round(adv.metrics.frac_reward_zero_std! * 100)}% of groups got equal rewards for every completion, so they give no learning signal (advantage 0): the task is too hard or too easy for the model; adjust the rewards or the data`);
      }
    }
    // A stop that arrived while the rewards ran: the step is not trained.
    if (signal.aborted) return null;
    const slices = Array.from({ length: s.stepsPerGeneration }, (_, k) => slice(rollout, k * per, (k + 1) * per, active, adv.advantages));
    return { slices, numItems: active.reduce((a, n) => a + n, 0), metrics, metricsLogged: false };
  };

  /** Rows [from, to) of a rollout as one micro-batch, with the log-probs scored now, at the sampling policy. */
  const slice = (r: Rollout, from: number, to: number, active: number[], advantages: Float64Array): Slice => {
    const seqs = r.rows.slice(from, to).map((p, i) => {
      const c = r.completions[from + i]!;
      const ids = new Int32Array(p.ids.length + c.length);
      ids.set(p.ids);
      ids.set(c, p.ids.length);
      return { ids, completionStart: p.ids.length };
    });
    const lengths = r.completions.slice(from, to).map((c) => c.length);
    const width = Math.max(1, ...lengths);
    const scoreWith = (adapter: ObjectiveContext['reference'] | undefined): Float32Array => {
      let out: Float32Array = new Float32Array(0);
      tf.tidy(() => {
        completionLoss(model, sequenceBatch(seqs, tok.padId), { adapter, frozenBase: true, temperature: s.sampling.temperature }, (lp) => {
          out = completionGridValues(lp.tokens.dataSync(), lengths, width);
          return tf.scalar(0);
        });
      });
      return out;
    };
    const mask = completionGridValues(lengths.flatMap((n, i) => Array.from({ length: n }, (_, t) => (t < active[from + i]! ? 1 : 0))), lengths, width);
    return {
      seqs,
      lengths,
      width,
      mask,
      advantages: advantages.slice(from, to),
      oldLogps: keepOldLogps ? scoreWith(ctx.lora ?? undefined) : null,
      // The reference (adapter off, or a continued adapter's frozen start) scores the same tokens at the same temperature.
      refLogps: s.loss.beta !== 0 ? scoreWith(ctx.reference) : null,
      tokens: seqs.reduce((a, q) => a + q.ids.length, 0),
    };
  };

  return {
    hasEval: false,
    async prepareStep(batches, step, signal) {
      const needed = [...new Set(batches.map((b) => Math.floor(indexOf(b) / microsPerGeneration)))];
      for (const g of [...generations.keys()]) if (!needed.includes(g)) generations.delete(g);
      for (const g of needed) {
        if (generations.has(g)) continue;
        const made = await generate(g, step, signal);
        if (!made) return false;
        generations.set(g, made);
      }
      return true;
    },
    normaliser: () => 1,
    micro(mb) {
      const m = indexOf(mb);
      const gen = generations.get(Math.floor(m / microsPerGeneration));
      const p = gen?.slices[m % s.stepsPerGeneration];
      if (!gen || !p) throw new Error(`micro-batch ${mb.epoch}:${mb.index} was not sampled at the start of its step`);
      let metrics: Record<string, number> = {};
      return {
        tokens: p.tokens,
        loss: () => {
          const b = sequenceBatch(p.seqs, tok.padId);
          const opts = { adapter: ctx.lora ?? undefined, frozenBase: ctx.lora !== null, checkpointLayers: args.gradient_checkpointing === true, want: ['entropy'] as const, temperature: s.sampling.temperature };
          return completionLoss(model, b, opts, (lp) => {
            const entropies = completionGridValues(lp.stats.entropy!.dataSync(), p.lengths, p.width);
            lp.stats.entropy!.dispose();
            const out = grpoLoss(
              { logps: completionGrid(lp.tokens, p.lengths, p.width), mask: p.mask, advantages: p.advantages, oldLogps: p.oldLogps, refLogps: p.refLogps, entropies, numItemsInBatch: gen.numItems, gradientAccumulationSteps: accum, stepsPerGeneration: s.stepsPerGeneration },
              s.loss,
            );
            metrics = out.metrics;
            return out.loss;
          });
        },
        record(window) {
          for (const [k, v] of Object.entries(metrics)) window.add(k, v);
          if (!gen.metricsLogged) for (const [k, v] of Object.entries(gen.metrics)) window.add(k, v);
          gen.metricsLogged = true;
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
    const prompts = loadPrompts(job.data.train, source.tokenizer, context, 'grpo');
    const longest = Math.max(...prompts.map((p) => p.ids.length));
    const length = Math.min(context, longest + s.sampling.maxCompletion);
    const specs = job.rewards;
    const columnNotes = checkRewardColumns(specs, prompts, job.data.train);
    const generationsPerEpoch = Math.ceil(prompts.length / s.promptsPerGeneration);
    return {
      records: prompts.length,
      perEpoch: generationsPerEpoch * s.stepsPerGeneration * s.numIterations,
      // per_device_train_batch_size counts completions: that many prompt + completion sequences a micro-batch.
      memory: { train: prompts.map(() => ({ ids: new Int32Array(length), target: new Uint8Array(length) })), eval: null, rowsPerExample: 1, maxLength: length },
      notes: [
        ...columnNotes,
        `${specs.length} reward function(s): ${specs.map((r) => r.name || r.model || r.file).join(', ')}; ${s.generations} completions per prompt, up to ${s.sampling.maxCompletion} tokens each; ${s.promptsPerGeneration} prompt(s) per generation, trained on ${s.numIterations === 1 ? 'once' : `${s.numIterations} times`} over ${s.stepsPerGeneration} micro-batch(es)`,
      ],
      objective: (ctx) => objective(prompts, s, specs, source.tokenizer, ctx),
    };
  },
};
