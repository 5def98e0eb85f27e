// Learning-rate schedules with Hugging Face's semantics (transformers.get_scheduler), so a recipe
// gives the same curve here and under TRL.
import type { TrainingArguments } from '../../core/recipe/types.ts';

/**
 * Warmup steps as transformers 5's get_warmup_steps: `warmup_steps` >= 1 counts steps (truncated to
 * an integer), a positive value below 1 is a fraction of the total, rounded up. `warmup_ratio`
 * (transformers 4's key, still accepted by recipes) applies only when `warmup_steps` is 0, which is
 * what the recipe-warmup-both check tells the user.
 */
export function warmupSteps(args: Pick<TrainingArguments, 'warmup_steps' | 'warmup_ratio'>, totalSteps: number): number {
  const w = args.warmup_steps;
  if (w >= 1) return Math.floor(w);
  return Math.ceil((w > 0 ? w : args.warmup_ratio ?? 0) * totalSteps);
}

/** Multiplier of the peak learning rate for 0-based optimizer step `step`. */
export function lrFactor(type: TrainingArguments['lr_scheduler_type'], step: number, warmup: number, total: number): number {
  if (type === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  if (type === 'constant_with_warmup') return 1;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (type === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  // cosine with HF's default half cycle
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** The learning rate used at 0-based optimizer step `step`. */
export function learningRate(args: TrainingArguments, step: number, totalSteps: number): number {
  return args.learning_rate * lrFactor(args.lr_scheduler_type, step, warmupSteps(args, totalSteps), totalSteps);
}
