// Length histograms for the dataset report: equal-width bins on a "nice" step (1, 2 or 5 times a power
// of ten) from zero, sized to the 99th percentile so one huge record does not squash every bar into
// the first bin. The last bin is open-ended: it holds everything from its lower edge up to the maximum.

export interface Histogram {
  /** Bin i covers [edges[i], edges[i+1]); the last bin also holds values up to and above its upper edge. */
  edges: number[];
  counts: number[];
}

/** The smallest 1/2/5 x 10^k step at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** Value at quantile q (0..1) of the sorted numbers (nearest rank). */
function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Bins `values` (non-negative lengths) into at most `maxBins` bins. */
export function lengthHistogram(values: ArrayLike<number>, maxBins = 20): Histogram {
  if (values.length === 0) return { edges: [0, 1], counts: [0] };
  const sorted = Float64Array.from(values).sort();
  const max = sorted[sorted.length - 1];
  const p99 = quantile(sorted, 0.99);
  // Integer lengths: a step below 1 would make empty bins between whole numbers.
  const step = Math.max(1, niceStep(Math.max(p99, 1) / maxBins));
  let bins = Math.min(maxBins, Math.floor(p99 / step) + 1);
  if (max >= bins * step && bins < maxBins && max < (bins + 1) * step) bins++;
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) edges.push(i * step);
  if (max > edges[bins]) edges[bins] = max;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < sorted.length; i++) counts[Math.min(bins - 1, Math.floor(sorted[i] / step))]++;
  return { edges, counts };
}
