// Evaluating a trained model against a baseline on one data file (issue #10 §2): what `anneal eval`
// and a pipeline's gates read. The model is a run's output (adapter or full model) or any model; the
// baseline is the base with the adapter off (or another adapter). On records with targets: eval loss,
// perplexity and its change against the baseline. On the file's prompts, each answered greedily by
// both: the KL of the model to the baseline on the model's answers (per answer token, as TRL's GRPO
// kl), the model's per-token entropy, distinct-1/2 and answer length; rewards through
// reward functions (answer and format accuracy); and the win rate against the baseline as a reward
// model judges it (answerEval.ts measures the answers; a training run's evaluations use it too).
// Metric names under eval/ (core/gates knows them).
import type { RewardSpec } from '../../core/recipe/types.ts';
import { answerablePrompts, answerLength, answerPrompts, measureAnswers, modelJudge, readAnyRecords, type EvalSample } from './answerEval.ts';
import { BatchLoader, loadExamples } from './data.ts';
import type { LoraAdapter } from './lora.ts';
import { loadPeftAdapter, readPeftAdapter } from './peftAdapter.ts';
import { ModelReward } from './rewards/modelReward.ts';
import { loadRewards } from './rollout.ts';
import { openScoringModel } from './scoringModel.ts';
import { evalLoss } from './stages/sft.ts';

export type { EvalSample } from './answerEval.ts';

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

export interface EvalResult {
  metrics: Record<string, number>;
  samples: EvalSample[];
  /** What was compared, in words. */
  description: string;
  /** What was not measured and why. */
  notes: string[];
}

/** Record formats with an answer the model's loss can be measured on. */
const TARGETS = new Set<string>(['conversation', 'prompt-completion', 'text', 'segments']);

export async function evaluate(job: EvalJob, signal?: AbortSignal): Promise<EvalResult> {
  const seed = job.seed ?? 42;
  const scoring = await openScoringModel(job.model, seed, signal);
  const { model, tokenizer: tok } = scoring;
  let baseline: LoraAdapter | null = null;
  const notes: string[] = [];
  const metrics: Record<string, number> = {};
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

    // Answers to the prompts, by the model and the baseline, measured (answerEval.ts).
    const prompts = answerablePrompts(records, tok, context, job.maxPrompts ?? 64);
    if (prompts.length === 0) {
      notes.push('no prompt to answer: the records have no prompt (or conversation with a user turn) that fits the context');
      return { metrics, samples: [], description: scoring.description, notes };
    }
    const maxNew = answerLength(prompts, job.maxNewTokens ?? 64, context);
    const theirs = compared ? answerPrompts(model, tok, prompts, reference, maxNew, seed) : null;
    if (job.judge && !theirs) notes.push('no win rate: there is no baseline to compare with');
    const rewards = job.rewards && job.rewards.length > 0 ? await loadRewards(job.rewards, { maxCompletion: maxNew, seed, signal }) : [];
    const judge = job.judge && theirs ? await ModelReward.load(job.judge, seed, signal) : null;
    let samples: EvalSample[];
    try {
      const measured = await measureAnswers(
        { model, tok, prompts, policy, reference: compared ? reference : null, baseline: theirs, rewards: { loaded: rewards, specs: job.rewards ?? [], strict: true }, ...(judge ? { judge: modelJudge(judge) } : {}) },
        maxNew,
        seed,
      );
      Object.assign(metrics, measured.metrics);
      samples = measured.samples;
    } finally {
      for (const r of rewards) await r.close();
      judge?.close();
    }
    return { metrics, samples, description: compared ? `${scoring.description} against ${baseline ? job.baseline : 'its base without the adapter'}` : scoring.description, notes };
  } finally {
    baseline?.dispose();
    scoring.dispose();
  }
}
