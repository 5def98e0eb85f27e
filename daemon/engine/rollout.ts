// Online RL's rollout, shared by GRPO and PPO: the prompts a run samples from, completions sampled
// from the policy (KV cache, temperature/top_p/top_k, the stop token kept so truncation is known),
// and the reward functions that score them (built-ins from core/rewards, user modules in their
// worker, trained reward models) under TRL's reward-function contract.
import type { Turns } from '../../core/datasets/types.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import type { RewardSpec, Stage } from '../../core/recipe/types.ts';
import { checkRewardValues, createBuiltinReward, findBuiltinReward, rewardColumns } from '../../core/rewards/index.ts';
import type { ChatTokenizer } from '../../core/tokenize/index.ts';
import { DataError, readRecords } from './data.ts';
import type { LinearAdapter, LlamaModel } from './model.ts';
import { ModelReward } from './rewards/modelReward.ts';
import { RewardError } from './rewards/rewardCheck.ts';
import { UserReward } from './rewards/userReward.ts';
import { hashSeed, Rng } from './rng.ts';
import { generateBatchAsync } from './sample.ts';

export interface PromptExample {
  prompt: Turns;
  ids: Int32Array;
  /** The record's other columns (a reward's reference `answer`, ...), passed to rewards by name. */
  columns: Record<string, unknown>;
  line: number;
}

/** The prompts of a prompt-only file, tokenized; one whose prompt leaves no room for a completion is refused with its line. */
export function loadPrompts(path: string, tokenizer: ChatTokenizer, context: number, stage: Stage): PromptExample[] {
  const out: PromptExample[] = [];
  for (const { line, record } of readRecords(path, stage)) {
    if (record.format !== 'prompt-only') throw new DataError(`${path} line ${line + 1} is a ${record.format} record; ${stage.toUpperCase()} needs prompts ({"prompt": ...}${stage === 'grpo' ? ', with the columns its rewards read' : ''}).`);
    const ids = tokenizer.encodeRecord(record, { lossOn: 'all' }).ids;
    if (ids.length >= context) throw new DataError(`${path} line ${line + 1}: the prompt is ${ids.length} tokens, leaving no room for a completion within the model's context of ${context}; shorten it.`);
    out.push({ prompt: record.prompt, ids: Int32Array.from(ids), columns: record.extra, line });
  }
  if (out.length === 0) throw new DataError(`${path} has no prompt to sample from.`);
  return out;
}

/**
 * Built-in rewards that read a dataset column, checked against the prompts before the model loads: a
 * column no record has is refused (the reward would score every completion null, silently); one some
 * records lack is a line for the log (those rows are scored null).
 */
export function checkRewardColumns(specs: RewardSpec[], prompts: PromptExample[], path: string): string[] {
  const notes: string[] = [];
  for (const spec of specs) {
    const builtin = spec.file || spec.model ? undefined : findBuiltinReward(spec.name);
    for (const column of builtin ? rewardColumns(builtin, { column: spec.column }) : []) {
      const lacking = prompts.filter((p) => p.columns[column] === undefined || p.columns[column] === null).length;
      if (lacking === prompts.length) {
        const have = [...new Set(prompts.flatMap((p) => Object.keys(p.columns)))];
        throw new DataError(`Reward ${spec.name} compares completions with the column \`${column}\`, which no record of ${path} has (${have.length ? `its columns: ${have.join(', ')}` : 'it has no column besides the prompt'}); set the reward's \`column:\` or add the column to the data.`);
      }
      if (lacking > 0) notes.push(`${lacking} of ${prompts.length} prompts have no \`${column}\`: reward ${spec.name} scores their completions null (no signal from it)`);
    }
  }
  return notes;
}

export interface SamplingSettings {
  maxCompletion: number;
  temperature: number;
  topP: number;
  topK: number;
}

/** One generation batch: each row's prompt and completion. */
export interface Rollout {
  rows: PromptExample[];
  /** Completion token ids, the stop token included when one was sampled. */
  completions: number[][];
  /** Cut at max_completion_length without a stop token. */
  truncated: boolean[];
  /** The completions as text (stop tokens and special tokens left out). */
  texts: string[];
}

/**
 * Samples one completion per row from the policy (`adapter` on), seeded by the run's seed and the step.
 * Lets the event loop run as it goes: null when `signal` stopped it.
 */
export async function sampleRollout(model: LlamaModel, adapter: LinearAdapter | undefined, tok: ChatTokenizer, rows: PromptExample[], s: SamplingSettings, seed: number, step: number, signal: AbortSignal): Promise<Rollout | null> {
  const stop = stopIds(tok);
  const completions = await generateBatchAsync(
    model,
    rows.map((p) => Array.from(p.ids)),
    { maxNewTokens: s.maxCompletion, temperature: s.temperature, topP: s.topP, topK: s.topK, stopIds: stop, keepStop: true, rng: new Rng(hashSeed(seed, step, 0x67)), adapter },
    signal,
  );
  if (!completions) return null;
  return {
    rows,
    completions,
    truncated: completions.map((c) => c.length === 0 || !stop.includes(c[c.length - 1]!)),
    texts: completions.map((c) => tok.decode(c.filter((id) => !stop.includes(id)), { skipSpecial: true })),
  };
}

/** What the samples view shows as a prompt: the text, or a conversation's last user turn. */
export function shownPrompt(prompt: Turns): string {
  return typeof prompt === 'string' ? prompt : prompt.filter((m) => m.role === 'user').pop()?.content ?? '';
}

export const stopIds = (tok: ChatTokenizer): number[] => (tok.stopIds.length > 0 ? tok.stopIds : [tok.eosId]);

/** A reward function ready to call on a generation batch. */
export interface LoadedReward {
  name: string;
  weight: number;
  call(inputs: Record<string, unknown>, rows: number): Promise<(number | null)[]>;
  close(): Promise<void>;
}

/** Loads the recipe's rewards: a user module starts its worker, a reward model loads its weights. */
export async function loadRewards(specs: RewardSpec[], o: { maxCompletion: number; seed: number; signal?: AbortSignal }): Promise<LoadedReward[]> {
  const out: LoadedReward[] = [];
  try {
    for (const spec of specs) {
      const weight = spec.weight ?? 1;
      if (spec.file) {
        const user = await UserReward.load(spec.file);
        out.push({ name: spec.name || user.name, weight, call: (inputs) => user.call(inputs as never), close: () => user.close() });
      } else if (spec.model) {
        const reward = await ModelReward.load(spec.model, o.seed, o.signal);
        const name = spec.name || 'reward_model';
        out.push({
          name,
          weight,
          call: async (inputs) => reward.score(inputs.prompts as Turns[], (inputs.completions as Turns[]).map((c) => c)),
          close: async () => reward.close(),
        });
      } else {
        const fn = createBuiltinReward({ name: spec.name, column: spec.column, options: spec.options }, { max_completion_length: o.maxCompletion, readText: (p) => nodeFiles.readText(p) });
        out.push({ name: spec.name, weight, call: async (inputs, rows) => checkRewardValues(spec.name, fn(inputs as never), rows), close: async () => {} });
      }
    }
  } catch (err) {
    for (const r of out) await r.close();
    throw err;
  }
  return out;
}

/** Every reward's scores of a rollout: [rows][functions], NaN for null, and what failed. */
export interface RolloutScores {
  matrix: number[][];
  /** A reward function that failed this call: its scores count as null and its message is kept. */
  failures: { name: string; message: string }[];
}

/**
 * Calls every reward on the rollout with TRL's keyword arguments (prompts, completions, completion_ids,
 * trainer_state and each dataset column by name). `strict` (the run's first generation): any failure
 * fails the run, so a broken reward is reported at step 1. Later, a call that throws, times out or
 * returns garbage counts as null for that batch (no learning signal from it) and is reported, so one
 * odd completion does not end a long run.
 */
export async function scoreRollout(rewards: LoadedReward[], r: Rollout, step: number, strict: boolean): Promise<RolloutScores> {
  const n = r.rows.length;
  const conversational = r.rows.map((p) => typeof p.prompt !== 'string');
  const inputs: Record<string, unknown> = {
    prompts: r.rows.map((p) => p.prompt),
    completions: r.texts.map((t, i) => (conversational[i] ? [{ role: 'assistant', content: t }] : t)),
    completion_ids: r.completions,
    trainer_state: { global_step: step },
  };
  for (const column of new Set(r.rows.flatMap((p) => Object.keys(p.columns)))) inputs[column] = r.rows.map((p) => p.columns[column] ?? null);
  const failures: RolloutScores['failures'] = [];
  const columns = await Promise.all(
    rewards.map(async (reward) => {
      try {
        return await reward.call(inputs, n);
      } catch (err) {
        if (strict || !(err instanceof RewardError)) throw err;
        failures.push({ name: reward.name, message: err.message });
        return new Array<null>(n).fill(null);
      }
    }),
  );
  return { matrix: r.rows.map((_, i) => columns.map((col) => col[i] ?? NaN)), failures };
}
