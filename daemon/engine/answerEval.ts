// The generation-based part of evaluation (issue #10 §2), one implementation for `anneal eval`
// (evaluation.ts) and for a training run's evaluations (loop.ts): greedy answers of a policy to a
// data file's prompts, measured against a baseline's answers to the same prompts. On the policy's
// answers: its KL to a reference (per answer token, as TRL's GRPO `kl`; only where a reference is
// in memory), its per-token entropy, distinct-1/2 and answer length, the reward functions' means
// (answer and format accuracy); and the win rate against the baseline's answers as a scalar judge
// (a reward model, or the reward functions' weighted mean) scores the two, with no position to swap.
import * as tf from '@tensorflow/tfjs-core';
import type { Message, NormalizedRecord, Turns } from '../../core/datasets/types.ts';
import { distinctN } from '../../core/eval/diversity.ts';
import { pairOutcome, scoreVerdict, winRate } from '../../core/eval/winRate.ts';
import type { RewardSpec, Stage } from '../../core/recipe/types.ts';
import { findBuiltinReward } from '../../core/rewards/index.ts';
import type { ChatTokenizer } from '../../core/tokenize/types.ts';
import { DataError, readRecords } from './data.ts';
import { completionLoss, sequenceBatch, type ScoredSequence } from './logprobs.ts';
import type { LinearAdapter, LlamaModel } from './model.ts';
import type { ModelReward } from './rewards/modelReward.ts';
import { scoreRollout, shownPrompt, stopIds, type LoadedReward, type PromptExample } from './rollout.ts';
import { generateBatch } from './sample.ts';
import { Rng } from './rng.ts';

export interface EvalSample {
  prompt: string;
  completion: string;
  baseline: string;
  rewards?: Record<string, number | null>;
  /** The judge's verdict on the model's answer against the baseline's. */
  outcome?: 'win' | 'loss' | 'tie';
}

/** Scores each answer alone (higher is better); one number per prompt. */
export type AnswerJudge = (prompts: PromptExample[], answers: number[][], texts: string[]) => Promise<number[]>;

export interface AnswerEvalInput {
  model: LlamaModel;
  tok: ChatTokenizer;
  prompts: PromptExample[];
  /** The policy's adapter; absent: the model's own weights. */
  policy?: LinearAdapter;
  /** The policy's answers, when already generated (answerPrompts). */
  answers?: number[][];
  /** The reference the KL is measured to: an adapter, undefined for the base alone, null for none in memory (no KL). */
  reference: LinearAdapter | undefined | null;
  /** The baseline's answers to the same prompts (answerPrompts); null: no baseline (no win rate). */
  baseline: number[][] | null;
  /** Reward functions scoring the policy's answers (loaded; the caller closes them) and their specs. */
  rewards?: { loaded: LoadedReward[]; specs: RewardSpec[]; strict: boolean };
  judge?: AnswerJudge;
  step?: number;
}

export interface AnswerEvalResult {
  metrics: Record<string, number>;
  samples: EvalSample[];
}

/** A record's prompt for answering: its prompt, or a conversation up to its last assistant turn. */
function promptOf(record: NormalizedRecord): Turns | undefined {
  switch (record.format) {
    case 'conversation': {
      const last = record.messages.map((m) => m.role).lastIndexOf('assistant');
      const turns: Message[] = last > 0 ? record.messages.slice(0, last) : record.messages;
      return turns.some((m) => m.role === 'user') ? turns : undefined;
    }
    case 'text':
      return undefined;
    default:
      return 'prompt' in record ? record.prompt : undefined;
  }
}

/** The file's records as the stage whose data it holds reads them (an eval file may be any kind). */
export function readAnyRecords(path: string): NormalizedRecord[] {
  let first: unknown;
  for (const stage of ['sft', 'dpo', 'kto', 'grpo'] as Stage[]) {
    try {
      return readRecords(path, stage).map((r) => r.record);
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      first ??= err;
    }
  }
  throw first;
}

/** The first `max` prompts of the records that fit the context with room for an answer, tokenized. */
export function answerablePrompts(records: NormalizedRecord[], tok: ChatTokenizer, context: number, max: number): PromptExample[] {
  const prompts: PromptExample[] = [];
  for (const [line, record] of records.entries()) {
    if (prompts.length >= max) break;
    const prompt = promptOf(record);
    if (!prompt) continue;
    const ids = tok.encodePrompt(prompt);
    if (ids.length >= context - 1) continue;
    prompts.push({ prompt, ids: Int32Array.from(ids), columns: record.format === 'prompt-only' ? record.extra : {}, line });
  }
  return prompts;
}

/** Answer length that fits every prompt's context. */
export function answerLength(prompts: PromptExample[], wanted: number, context: number): number {
  return Math.max(1, Math.min(wanted, context - Math.max(...prompts.map((p) => p.ids.length))));
}

/** Greedy answers (stop token kept) by the model with `adapter` on (absent: its own weights). */
export function answerPrompts(model: LlamaModel, tok: ChatTokenizer, prompts: PromptExample[], adapter: LinearAdapter | undefined, maxNewTokens: number, seed: number): number[][] {
  return generateBatch(model, prompts.map((p) => Array.from(p.ids)), { maxNewTokens, temperature: 0, topP: 1, stopIds: stopIds(tok), keepStop: true, rng: new Rng(seed), adapter });
}

/** A judge from the reward functions: each answer's weighted mean over the rewards that scored it. */
export function rewardJudge(rewards: LoadedReward[], stop: number[]): AnswerJudge {
  return async (prompts, answers, texts) => {
    const { matrix } = await scoreRollout(rewards, rolloutOf(prompts, answers, texts, stop), 0, false);
    return matrix.map((row) => {
      let sum = 0;
      let weight = 0;
      row.forEach((v, k) => {
        if (Number.isNaN(v)) return;
        sum += rewards[k]!.weight * v;
        weight += rewards[k]!.weight;
      });
      return weight > 0 ? sum / weight : 0;
    });
  };
}

/** A judge from a reward model (its score head on prompt + answer). */
export function modelJudge(judge: ModelReward): AnswerJudge {
  return async (prompts, _answers, texts) => {
    const asTurns = (t: string, i: number): Turns => (typeof prompts[i]!.prompt === 'string' ? t : [{ role: 'assistant', content: t }]);
    return judge.score(prompts.map((p) => p.prompt), texts.map(asTurns));
  };
}

/** Answers as a rollout for the reward functions: one cut without its stop token is truncated. */
function rolloutOf(prompts: PromptExample[], answers: number[][], texts: string[], stop: number[]) {
  return { rows: prompts, completions: answers, truncated: answers.map((c) => c.length === 0 || !stop.includes(c.at(-1)!)), texts };
}

/** Measures the policy's answers (generated here unless given) against the reference and the baseline. */
export async function measureAnswers(input: AnswerEvalInput, maxNewTokens: number, seed: number): Promise<AnswerEvalResult> {
  const { model, tok, prompts, policy, reference, baseline } = input;
  const metrics: Record<string, number> = {};
  const stop = stopIds(tok);
  const mine = input.answers ?? answerPrompts(model, tok, prompts, policy, maxNewTokens, seed);
  const text = (ids: number[]) => tok.decode(ids.filter((id) => !stop.includes(id)), { skipSpecial: true });
  const texts = mine.map(text);

  // KL to the reference on the policy's own answers, and the policy's entropy there.
  const seqs: ScoredSequence[] = prompts.map((p, i) => ({ ids: Int32Array.from([...p.ids, ...mine[i]!]), completionStart: p.ids.length }));
  const scored = seqs.filter((s) => s.ids.length > s.completionStart);
  if (scored.length > 0) {
    const perToken = (adapter: LinearAdapter | undefined, withEntropy: boolean) => {
      let sums = new Float64Array(0);
      let entropy = 0;
      tf.tidy(() => {
        completionLoss(model, sequenceBatch(scored, tok.padId), { adapter, frozenBase: true, want: withEntropy ? ['entropy'] : [] }, (lp) => {
          sums = Float64Array.from(lp.sums.dataSync());
          if (withEntropy) {
            // The statistics are kept out of the loss head's scope: this scope frees them.
            const e = Array.from(lp.stats.entropy!.dataSync());
            lp.stats.entropy!.dispose();
            entropy = e.reduce((a, v) => a + v, 0) / Math.max(1, e.length);
          }
          return tf.scalar(0);
        });
      });
      return { sums, entropy };
    };
    const own = perToken(policy, true);
    metrics['eval/entropy'] = own.entropy;
    if (reference !== null) {
      const ref = perToken(reference, false);
      // Per answer token, as TRL's GRPO logs `kl`: seed 004's thresholds (< 0.5, > 1.0 rolls back) then
      // mean the same for a one-line answer and a long one; summed per answer, a DPO that works
      // (SmolLM2's identity pipeline: 3.6 nats over 16-token answers) would always read as drifted.
      const tokens = scored.reduce((a, s) => a + s.ids.length - s.completionStart, 0);
      metrics['eval/kl'] = own.sums.reduce((a, v, i) => a + (v - ref.sums[i]!), 0) / Math.max(1, tokens);
    }
  }
  metrics['eval/mean_length'] = mine.reduce((a, c) => a + c.length, 0) / Math.max(1, mine.length);
  for (const n of [1, 2] as const) {
    const d = distinctN(mine.map((c) => c.filter((id) => !stop.includes(id))), n);
    if (d !== undefined) metrics[`eval/distinct_${n}`] = d;
  }
  const samples: EvalSample[] = prompts.map((p, i) => ({ prompt: shownPrompt(p.prompt), completion: texts[i]!, baseline: baseline ? text(baseline[i]!) : '' }));

  // Reward functions on the policy's answers.
  if (input.rewards && input.rewards.loaded.length > 0) {
    const { loaded, specs, strict } = input.rewards;
    const { matrix } = await scoreRollout(loaded, rolloutOf(prompts, mine, texts, stop), input.step ?? 0, strict);
    loaded.forEach((r, k) => {
      const values = matrix.map((row) => row[k]!).filter((v) => !Number.isNaN(v));
      if (values.length === 0) return;
      const m = values.reduce((a, v) => a + v, 0) / values.length;
      metrics[`eval/rewards/${r.name}/mean`] = m;
      const spec = specs[k]!;
      const kind = spec.file || spec.model ? undefined : findBuiltinReward(spec.name)?.name;
      if (kind === 'answer_match' || kind === 'exact_match') metrics['eval/answer_accuracy'] = m;
      if (kind === 'think_format' || kind === 'regex' || kind === 'json_valid' || kind === 'json_schema') metrics['eval/format_accuracy'] = m;
    });
    samples.forEach((s, i) => (s.rewards = Object.fromEntries(loaded.map((r, k) => [r.name, Number.isNaN(matrix[i]![k]!) ? null : matrix[i]![k]!]))));
  }

  // Win rate against the baseline's answers (a scalar judge: no position to swap).
  if (input.judge && baseline) {
    const a = await input.judge(prompts, mine, texts);
    const b = await input.judge(prompts, baseline, baseline.map(text));
    const outcomes = a.map((x, i) => {
      const v = scoreVerdict(x, b[i]!);
      return pairOutcome(v, v === 'first' ? 'second' : v === 'second' ? 'first' : 'tie');
    });
    outcomes.forEach((o, i) => (samples[i]!.outcome = o));
    const rate = winRate(outcomes);
    if (rate !== undefined) metrics['eval/win_rate'] = rate;
  }
  return { metrics, samples };
}
