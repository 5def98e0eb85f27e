// Evaluating a trained model against a baseline on one data file (issue #10 §2): what `anneal eval`
// and a pipeline's gates read. The model is a run's output (adapter or full model) or any model; the
// baseline is the base with the adapter off (or another adapter). On records with targets: eval loss,
// perplexity and its change against the baseline. On the file's prompts, each answered greedily by
// both: the KL of the model to the baseline on the model's answers (summed per answer, as TRL's
// objective/kl), the model's per-token entropy, distinct-1/2 and answer length; rewards through
// reward functions (answer and format accuracy); and the win rate against the baseline as a reward
// model judges it. Metric names under eval/ (core/gates knows them).
import * as tf from '@tensorflow/tfjs-core';
import type { Message, NormalizedRecord, Turns } from '../../core/datasets/types.ts';
import { distinctN } from '../../core/eval/diversity.ts';
import { pairOutcome, scoreVerdict, winRate } from '../../core/eval/winRate.ts';
import type { RewardSpec, Stage } from '../../core/recipe/types.ts';
import { findBuiltinReward } from '../../core/rewards/index.ts';
import { BatchLoader, DataError, loadExamples, readRecords } from './data.ts';
import { completionLoss, sequenceBatch, type ScoredSequence } from './logprobs.ts';
import type { LoraAdapter } from './lora.ts';
import { loadPeftAdapter, readPeftAdapter } from './peftAdapter.ts';
import { ModelReward } from './rewards/modelReward.ts';
import { loadRewards, scoreRollout, shownPrompt, stopIds, type PromptExample } from './rollout.ts';
import { generateBatch } from './sample.ts';
import { Rng } from './rng.ts';
import { openScoringModel } from './scoringModel.ts';
import { evalLoss } from './stages/sft.ts';

export interface EvalJob {
  /** A run's output folder, an adapter folder, a model folder, a Hub id or `tiny`. */
  model: string;
  /** The baseline's adapter folder; absent: the base without the model's adapter. */
  baseline?: string;
  data: string;
  /** Reward functions scoring the model's answers (answer/format accuracy). */
  rewards?: RewardSpec[];
  /** A reward model judging the model's answers against the baseline's (win rate). */
  judge?: string;
  /** Prompts answered (the file's first ones); default 64. */
  maxPrompts?: number;
  maxNewTokens?: number;
  maxLength?: number;
  /** The seed `tiny` was drawn with. */
  seed?: number;
}

export interface EvalSample {
  prompt: string;
  completion: string;
  baseline: string;
  rewards?: Record<string, number | null>;
  /** The judge's verdict on the model's answer against the baseline's. */
  outcome?: 'win' | 'loss' | 'tie';
}

export interface EvalResult {
  metrics: Record<string, number>;
  samples: EvalSample[];
  /** What was compared, in words. */
  description: string;
  /** What was not measured and why. */
  notes: string[];
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

/** Record formats with an answer the model's loss can be measured on. */
const TARGETS = new Set<string>(['conversation', 'prompt-completion', 'text', 'segments']);

/** The file's records as the stage whose data it holds reads them (an eval file may be any kind). */
function readAnyRecords(path: string): NormalizedRecord[] {
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

export async function evaluate(job: EvalJob, signal?: AbortSignal): Promise<EvalResult> {
  const seed = job.seed ?? 42;
  const scoring = await openScoringModel(job.model, seed, signal);
  const { model, tokenizer: tok } = scoring;
  let baseline: LoraAdapter | null = null;
  const notes: string[] = [];
  const metrics: Record<string, number> = {};
  const samples: EvalSample[] = [];
  try {
    if (job.baseline) baseline = loadPeftAdapter(model, readPeftAdapter(job.baseline), 0, job.baseline).lora;
    else if (!scoring.lora) notes.push(`${job.model} has no adapter, so there is no baseline to compare with: only its own metrics are measured (give --baseline ADAPTER to compare)`);
    const policy = scoring.lora ?? undefined;
    const reference = baseline ?? undefined;
    const compared = scoring.lora !== null || baseline !== null;
    const context = scoring.config.max_position_embeddings;
    const maxLength = Math.min(job.maxLength ?? 1024, context);

    // Loss and perplexity, where the records have targets.
    const records = readAnyRecords(job.data);
    const kinds = [...new Set(records.map((r) => r.format))];
    const examples = kinds.every((k) => TARGETS.has(k)) ? loadExamples(job.data, tok, { max_length: maxLength, completion_only_loss: true, assistant_only_loss: true }, 'sft') : null;
    if (!examples) notes.push(`no eval loss: ${job.data} holds ${kinds.join(' and ')} records, with no answer to measure the model's loss on (give conversations, prompt-completion or text records)`);
    else {
      const loader = new BatchLoader(examples.examples, { batchSize: 4, maxLength, packing: false, seed, padId: tok.padId, shuffle: false });
      const own = evalLoss(model, scoring.lora, loader);
      metrics['eval/loss'] = own.loss;
      metrics['eval/perplexity'] = own.perplexity;
      metrics['eval/mean_token_accuracy'] = own.accuracy;
      if (compared) {
        const base = evalLoss(model, baseline, loader);
        metrics['eval/perplexity_change'] = (own.perplexity - base.perplexity) / base.perplexity;
      }
    }

    // Answers to the prompts, by the model and the baseline.
    const prompts: PromptExample[] = [];
    for (const [line, record] of records.entries()) {
      const prompt = promptOf(record);
      if (!prompt) continue;
      const ids = tok.encodePrompt(prompt);
      if (ids.length >= context - 1) continue;
      prompts.push({ prompt, ids: Int32Array.from(ids), columns: record.format === 'prompt-only' ? record.extra : {}, line });
      if (prompts.length >= (job.maxPrompts ?? 64)) break;
    }
    if (prompts.length === 0) {
      notes.push('no prompt to answer: the records have no prompt (or conversation with a user turn) that fits the context');
      return { metrics, samples, description: scoring.description, notes };
    }
    const maxNew = Math.min(job.maxNewTokens ?? 64, context - Math.max(...prompts.map((p) => p.ids.length)));
    const stop = stopIds(tok);
    const answer = (adapter: LoraAdapter | undefined) =>
      generateBatch(model, prompts.map((p) => Array.from(p.ids)), { maxNewTokens: maxNew, temperature: 0, topP: 1, stopIds: stop, keepStop: true, rng: new Rng(seed), adapter });
    const mine = answer(policy);
    const theirs = compared ? answer(reference) : null;
    const text = (ids: number[]) => tok.decode(ids.filter((id) => !stop.includes(id)), { skipSpecial: true });

    // KL to the baseline on the model's own answers, and the model's entropy there.
    const seqs: ScoredSequence[] = prompts.map((p, i) => ({ ids: Int32Array.from([...p.ids, ...mine[i]!]), completionStart: p.ids.length }));
    const scored = seqs.filter((s) => s.ids.length > s.completionStart);
    if (scored.length > 0) {
      const perToken = (adapter: LoraAdapter | undefined, withEntropy: boolean) => {
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
      if (compared) {
        const ref = perToken(reference, false);
        metrics['eval/kl'] = own.sums.reduce((a, v, i) => a + (v - ref.sums[i]!), 0) / own.sums.length;
      }
    }
    metrics['eval/mean_length'] = mine.reduce((a, c) => a + c.length, 0) / mine.length;
    for (const n of [1, 2] as const) {
      const d = distinctN(mine.map((c) => c.filter((id) => !stop.includes(id))), n);
      if (d !== undefined) metrics[`eval/distinct_${n}`] = d;
    }
    prompts.forEach((p, i) => samples.push({ prompt: shownPrompt(p.prompt), completion: text(mine[i]!), baseline: theirs ? text(theirs[i]!) : '' }));

    // Reward functions on the model's answers.
    if (job.rewards && job.rewards.length > 0) {
      const rewards = await loadRewards(job.rewards, { maxCompletion: maxNew, seed, signal });
      try {
        const rollout = { rows: prompts, completions: mine, truncated: mine.map((c) => c.length === 0 || !stop.includes(c.at(-1)!)), texts: mine.map(text) };
        const { matrix } = await scoreRollout(rewards, rollout, 0, true);
        rewards.forEach((r, k) => {
          const values = matrix.map((row) => row[k]!).filter((v) => !Number.isNaN(v));
          if (values.length === 0) return;
          const m = values.reduce((a, v) => a + v, 0) / values.length;
          metrics[`eval/rewards/${r.name}/mean`] = m;
          const spec = job.rewards![k]!;
          const kind = spec.file || spec.model ? undefined : findBuiltinReward(spec.name)?.name;
          if (kind === 'answer_match' || kind === 'exact_match') metrics['eval/answer_accuracy'] = m;
          if (kind === 'think_format' || kind === 'regex' || kind === 'json_valid' || kind === 'json_schema') metrics['eval/format_accuracy'] = m;
        });
        samples.forEach((s, i) => (s.rewards = Object.fromEntries(rewards.map((r, k) => [r.name, Number.isNaN(matrix[i]![k]!) ? null : matrix[i]![k]!]))));
      } finally {
        for (const r of rewards) await r.close();
      }
    }

    // Win rate against the baseline, judged by a reward model (a scalar judge: no position to swap).
    if (job.judge) {
      if (!theirs) notes.push('no win rate: there is no baseline to compare with');
      else {
        const judge = await ModelReward.load(job.judge, seed, signal);
        try {
          const asTurns = (t: string, i: number): Turns => (typeof prompts[i]!.prompt === 'string' ? t : [{ role: 'assistant', content: t }]);
          const a = judge.score(prompts.map((p) => p.prompt), samples.map((s, i) => asTurns(s.completion, i)));
          const b = judge.score(prompts.map((p) => p.prompt), samples.map((s, i) => asTurns(s.baseline, i)));
          const outcomes = a.map((x, i) => {
            const v = scoreVerdict(x, b[i]!);
            return pairOutcome(v, v === 'first' ? 'second' : v === 'second' ? 'first' : 'tie');
          });
          outcomes.forEach((o, i) => (samples[i]!.outcome = o));
          metrics['eval/win_rate'] = winRate(outcomes)!;
        } finally {
          judge.close();
        }
      }
    }
    return { metrics, samples, description: compared ? `${scoring.description} against ${baseline ? job.baseline : 'its base without the adapter'}` : scoring.description, notes };
  } finally {
    baseline?.dispose();
    scoring.dispose();
  }
}
