// The stages this engine trains, by the recipe's `stage:` name.
import type { TrainJob } from '../api.ts';
import { cpo, simpo } from './cpo.ts';
import { dpo } from './dpo.ts';
import { grpo } from './grpo.ts';
import { kto } from './kto.ts';
import { orpo } from './orpo.ts';
import { ppo } from './ppo.ts';
import { reward } from './reward.ts';
import { cpt, sft } from './sft.ts';
import type { Stage } from './stage.ts';

/** Keyed by the names in trained.ts (TRAINED_STAGES), which the daemon reads without loading this. */
export const STAGES: Partial<Record<TrainJob['stage'], Stage>> = {
  sft,
  cpt,
  dpo,
  kto,
  orpo,
  cpo,
  simpo,
  reward,
  grpo,
  ppo,
};
