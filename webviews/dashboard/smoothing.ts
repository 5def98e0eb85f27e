// Exponential moving average for display, as TensorBoard's smoothing slider does it: debiased so the
// curve starts at the first value instead of rising from zero. The stored points stay raw.

export interface EmaState {
  accumulated: number;
  /** weight^count, kept by multiplication (a pow per point would dominate the cost). */
  weightPower: number;
}

export function emaStart(): EmaState {
  return { accumulated: 0, weightPower: 1 };
}

/** Folds one value into the state and returns the smoothed value at that point. */
export function emaStep(state: EmaState, value: number, weight: number): number {
  if (!Number.isFinite(value)) return value;
  // A weight of 1 would freeze the average at zero; TensorBoard's slider stops short of it too.
  weight = Math.min(Math.max(weight, 0), 0.999);
  state.accumulated = state.accumulated * weight + (1 - weight) * value;
  // Flushed to zero before it turns subnormal: subnormal arithmetic made this loop ten times slower.
  state.weightPower = state.weightPower > 1e-300 ? state.weightPower * weight : 0;
  const debias = 1 - state.weightPower;
  return debias > 0 ? state.accumulated / debias : value;
}

/** The smoothed copy of `values` (weight 0 returns the values unchanged). */
export function smooth(values: ArrayLike<number>, weight: number): Float64Array {
  const out = new Float64Array(values.length);
  const state = emaStart();
  for (let i = 0; i < values.length; i++) out[i] = emaStep(state, values[i]!, weight);
  return out;
}
