// Length distributions for the per-file summary. Selection instead of a full sort keeps a report of
// a 100k-record file cheap.

import type { LengthStats } from './types.ts';

/** p50/p90/p99/max/mean of a list of lengths (all zero when empty). */
export function lengthStats(values: ArrayLike<number>): LengthStats {
  const n = values.length;
  if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const a = Float64Array.from(values);
  let sum = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    sum += a[i];
    if (a[i] > max) max = a[i];
  }
  const rank = (q: number) => Math.min(n - 1, Math.ceil(q * n) - 1);
  // Select in increasing rank order so each search works on the part above the previous one.
  const p50 = select(a, rank(0.5), 0);
  const p90 = select(a, rank(0.9), rank(0.5));
  const p99 = select(a, rank(0.99), rank(0.9));
  return { p50, p90, p99, max, mean: Math.round((sum / n) * 10) / 10 };
}

/** The k-th smallest value (Hoare's selection), given that a[from..] already holds every value >= a[from-1]. */
function select(a: Float64Array, k: number, from: number): number {
  let lo = from;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}
