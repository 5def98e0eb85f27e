// A training run's evaluation answers (issue #10 §2/§3): at each evaluation the policy answers the
// first `eval_generations` prompts of the eval set greedily, and answerEval.ts measures them as
// `anneal eval` does: KL to the stage's reference where one is in memory, entropy, distinct-1/2,
// length, the recipe's rewards, and the win rate against the starting model's answers (generated
// once, before the first step and before a resumed checkpoint's weights are loaded) as the
// recipe's reward functions or reward model judge them. These are the metrics seed 004's gates
// read (eval/win_rate, eval/kl, eval/distinct_2), so a run's gates.json has them measured.
// Generation happens at evaluation only, on a few prompts; its time is logged once.
import type { RewardSpec, TrainingArguments } from '../../core/recipe/types.ts';
import type { ChatTokenizer } from '../../core/tokenize/types.ts';
import type { TrainJob } from './api.ts';
import { answerablePrompts, answerLength, answerPrompts, measureAnswers, readAnyRecords, rewardJudge, type AnswerJudge } from './answerEval.ts';
import type { LoraAdapter } from './lora.ts';
import type { LinearAdapter, LlamaModel } from './model.ts';
import { loadRewards, stopIds, type LoadedReward, type PromptExample } from './rollout.ts';

/** Evaluation answers when none are asked of a recipe that leaves eval_generations out. */
export const DEFAULT_EVAL_GENERATIONS = 8;

export interface RunAnswersContext {
  job: TrainJob;
  args: TrainingArguments;
  model: LlamaModel;
  tok: ChatTokenizer;
  /** null = full fine-tuning. */
  lora: LoraAdapter | null;
  /** The stage's reference under LoRA: a continued adapter's frozen start; absent: the base alone. */
  reference?: LinearAdapter;
  context: number;
  log(line: string): void;
  signal?: AbortSignal;
}

/** Whether a run would generate evaluation answers (the memory check sizes a generation for them). */
export function wantsAnswers(job: TrainJob, args: TrainingArguments): boolean {
  return job.data.eval !== undefined && job.stage !== 'reward' && (args.eval_generations ?? DEFAULT_EVAL_GENERATIONS) > 0;
}

/** The baseline's answers never change: the judge scores them at the first evaluation only. */
function scoresBaselineOnce(judge: AnswerJudge, baseline: number[][]): AnswerJudge {
  let scores: Promise<number[]> | undefined;
  return (prompts, answers, texts) => (answers === baseline ? (scores ??= judge(prompts, answers, texts)) : judge(prompts, answers, texts));
}

export class RunAnswers {
  private timed = false;

  private constructor(
    private readonly ctx: RunAnswersContext,
    private readonly prompts: PromptExample[],
    private readonly maxNew: number,
    private readonly baseline: number[][],
    private readonly baselineSeconds: number,
    private readonly rewards: { loaded: LoadedReward[]; specs: RewardSpec[] },
    private readonly judge: AnswerJudge | undefined,
  ) {}

  /**
   * Reads the eval set's prompts and answers them with the starting model (call it before any weight
   * changes); null when the run has no evaluation answers, with the reason logged when it is not obvious.
   */
  static async open(ctx: RunAnswersContext): Promise<RunAnswers | null> {
    const { job, args, tok, log } = ctx;
    if (!wantsAnswers(job, args)) return null;
    const n = args.eval_generations ?? DEFAULT_EVAL_GENERATIONS;
    let prompts: PromptExample[];
    try {
      prompts = answerablePrompts(readAnyRecords(job.data.eval!), tok, ctx.context, n);
    } catch (err) {
      log(`evaluation answers: none, ${job.data.eval} could not be read for prompts (${(err as Error).message})`);
      return null;
    }
    if (prompts.length === 0) {
      log(`evaluation answers: none, ${job.data.eval} has no prompt (or conversation with a user turn) that fits the context, so eval/kl, eval/distinct_2 and eval/win_rate are not measured`);
      return null;
    }
    const maxNew = answerLength(prompts, job.samples?.max_new_tokens ?? 64, ctx.context);
    if (!ctx.lora) log('evaluation answers: no eval/kl: full fine-tuning trains the only copy of the weights, so no reference model is in memory to measure it against');
    // Judged by the recipe's reward functions, or PPO's reward model when it names no rewards.
    const specs: RewardSpec[] = job.rewards && job.rewards.length > 0 ? job.rewards : args.reward_model_path ? [{ name: 'reward_model', model: args.reward_model_path }] : [];
    if (specs.length === 0) log('evaluation answers: no eval/win_rate: the recipe names no judge (add `rewards:`, reward functions or a reward `model:`, to score the answers against the starting model\'s)');
    const loaded = specs.length > 0 ? await loadRewards(specs, { maxCompletion: maxNew, seed: args.seed, signal: ctx.signal }) : [];
    try {
      if (ctx.lora) ctx.lora.training = false;
      const start = performance.now();
      const baseline = answerPrompts(ctx.model, tok, prompts, ctx.lora ?? undefined, maxNew, args.seed);
      const seconds = (performance.now() - start) / 1000;
      return new RunAnswers(ctx, prompts, maxNew, baseline, seconds, { loaded, specs }, loaded.length > 0 ? scoresBaselineOnce(rewardJudge(loaded, stopIds(tok)), baseline) : undefined);
    } catch (err) {
      for (const r of loaded) await r.close();
      throw err;
    }
  }

  /** The eval/ metrics of the policy's answers now (the adapter, if any, out of training mode). */
  async measure(step: number): Promise<Record<string, number>> {
    const { model, tok, lora, reference, args } = this.ctx;
    const start = performance.now();
    const { metrics } = await measureAnswers(
      {
        model,
        tok,
        prompts: this.prompts,
        policy: lora ?? undefined,
        reference: lora ? reference : null,
        baseline: this.baseline,
        rewards: { ...this.rewards, strict: false },
        ...(this.judge ? { judge: this.judge } : {}),
        step,
      },
      this.maxNew,
      args.seed,
    );
    if (!this.timed) {
      this.timed = true;
      const seconds = (performance.now() - start) / 1000;
      this.ctx.log(`evaluation answers: ${this.prompts.length} prompts × up to ${this.maxNew} tokens, ${seconds.toFixed(1)} s per evaluation (the starting model's answers, once: ${this.baselineSeconds.toFixed(1)} s)`);
    }
    return metrics;
  }

  async close(): Promise<void> {
    for (const r of this.rewards.loaded) await r.close();
  }
}
