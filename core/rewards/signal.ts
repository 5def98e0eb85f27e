// When a GRPO step teaches (almost) nothing: the share of prompt groups whose completions all got the
// same reward (TRL's frac_reward_zero_std) at which the run log and the dashboard both warn.

/** From this share of zero-variance groups on, a step gives (almost) no learning signal. */
export const ZERO_STD_WARNING = 0.75;
