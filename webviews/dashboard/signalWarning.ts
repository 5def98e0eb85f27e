// The dashboard's warning when a GRPO run has stopped learning: most of its prompt groups got the same
// reward for every completion, so every advantage there is 0 and the gradient has nothing to follow.
// The engine writes the same warning to the run log at the same threshold.

import { ZERO_STD_WARNING } from '../../core/rewards/signal.ts';
import type { Series } from './series.ts';

export { ZERO_STD_WARNING };

export interface SignalWarning {
  /** The latest `frac_reward_zero_std` and the step it was logged at. */
  value: number;
  step: number;
  text: string;
}

/** The warning for the run's latest `frac_reward_zero_std`, or undefined while it is below the threshold (or not logged). */
export function signalWarning(series: ReadonlyMap<string, Series>): SignalWarning | undefined {
  const s = series.get('frac_reward_zero_std');
  const value = s?.last;
  const step = s?.lastStep;
  if (value === undefined || step === undefined || !(value >= ZERO_STD_WARNING)) return undefined;
  return {
    value,
    step,
    text:
      `At step ${step}, ${Math.round(value * 100)}% of the prompt groups got the same reward for every completion ` +
      '(frac_reward_zero_std): those groups give no learning signal, as every advantage is 0. The task is too hard ' +
      'or too easy for the model; adjust the rewards (partial credit, a format reward) or the data (easier or harder prompts).',
  };
}
