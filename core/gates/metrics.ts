// The metric names each stage logs (TRL's), the evaluation's (`eval/...`) and the data facts a gate
// may read (`data/...`): what a gate in a recipe is checked against, so a typo ("eval/kl_div") is
// caught in the editor instead of reading as "not measured" after an hour of training.
import type { Stage } from '../recipe/types.ts';

const COMMON = ['loss', 'learning_rate', 'grad_norm', 'epoch', 'num_tokens', 'train/tokens_per_second', 'eval/loss', 'eval/perplexity'];
/** What evaluation measures (issue #10's list), whether or not a run has the data for it. */
const EVALUATION = ['eval/kl', 'eval/distinct_1', 'eval/distinct_2', 'eval/entropy', 'eval/win_rate', 'eval/format_accuracy', 'eval/answer_accuracy', 'eval/mean_length', 'eval/general/perplexity', 'eval/perplexity_change'];
const DATA = ['data/records', 'data/errors', 'data/pairs', 'data/identical_pairs'];
const PREFERENCE = ['rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected', 'logits/chosen', 'logits/rejected', 'entropy'];

const BY_STAGE: Record<Stage, string[]> = {
  sft: ['mean_token_accuracy', 'entropy'],
  cpt: ['mean_token_accuracy'],
  dpo: PREFERENCE,
  kto: [...PREFERENCE, 'kl'],
  orpo: [...PREFERENCE, 'nll_loss', 'log_odds_ratio', 'log_odds_chosen'],
  cpo: [...PREFERENCE, 'nll_loss'],
  simpo: [...PREFERENCE, 'nll_loss'],
  reward: ['accuracy', 'margin', 'min_reward', 'mean_reward', 'max_reward'],
  grpo: ['reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'entropy', 'clip_ratio/low_mean', 'clip_ratio/low_min', 'clip_ratio/high_mean', 'clip_ratio/high_max', 'clip_ratio/region_mean', 'completions/mean_length', 'completions/min_length', 'completions/max_length', 'completions/clipped_ratio', 'completions/mean_terminated_length', 'completions/min_terminated_length', 'completions/max_terminated_length'],
  ppo: ['objective/kl', 'objective/entropy', 'objective/non_score_reward', 'objective/rlhf_reward', 'objective/scores', 'policy/approxkl_avg', 'policy/clipfrac_avg', 'policy/entropy_avg', 'loss/policy_avg', 'loss/value_avg', 'val/clipfrac_avg', 'val/ratio', 'val/ratio_var', 'val/num_eos_tokens', 'episode'],
};

/** Names with a part the user chooses: GRPO's per-function rewards. */
const PATTERNS: Partial<Record<Stage, RegExp[]>> = { grpo: [/^(eval\/)?rewards\/[^/]+\/(mean|std)$/] };

/** Every metric name `stage` may log, its training metrics under `eval/` too. */
export function knownMetrics(stage: Stage): string[] {
  const own = [...COMMON, ...BY_STAGE[stage]];
  return [...new Set([...own, ...own.filter((m) => !m.startsWith('eval/')).map((m) => `eval/${m}`), ...EVALUATION, ...DATA])];
}

export function isKnownMetric(stage: Stage, metric: string): boolean {
  return knownMetrics(stage).includes(metric) || (PATTERNS[stage] ?? []).some((p) => p.test(metric));
}

/** Metrics bounded to [0, 1] (rates, fractions, accuracies): a threshold outside can never be met. */
export function isFraction(metric: string): boolean {
  return /(accuracy|accuracies|win_rate|distinct_\d|frac_|ratio$|clipfrac|clipped_ratio)/.test(metric) && !/log_odds|val\/ratio/.test(metric);
}
