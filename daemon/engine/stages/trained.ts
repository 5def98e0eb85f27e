// The stages this engine trains, without loading the engine (the daemon's main process reads this to
// refuse a stage before a worker starts, and reports it to clients, which show Train <stage> for them).
import type { Stage } from '../../../core/recipe/types.ts';

export const TRAINED_STAGES: readonly Stage[] = ['sft', 'cpt', 'dpo', 'kto', 'orpo', 'cpo', 'simpo', 'reward', 'grpo', 'ppo'];
