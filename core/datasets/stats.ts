// Length distributions for the per-file summary.

import type { LengthStats } from './types.ts';

/** p50/p90/p99/max/mean of a list of lengths (all zero when empty). */
export function lengthStats(values: readonly number[]): LengthStats {
  if (values.length === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1], mean: Math.round((sum / sorted.length) * 10) / 10 };
}
