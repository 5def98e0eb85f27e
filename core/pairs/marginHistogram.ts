// The distribution of a file's score margins for the dataset report: bins of one round width laid
// symmetrically around 0, so 0 is always a bin edge and every bin left of it holds only pairs the
// model prefers backwards (margin < 0).

/** Bins on each side of 0. */
const HALF_BINS = 10;

/** The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `x` (> 0). */
export function niceStep(x: number): number {
  const power = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= x * (1 - 1e-9)) return m * power;
  return 10 * power;
}

export interface MarginHistogram {
  /** Ascending, counts.length + 1 of them, 0 in the middle. */
  edges: number[];
  /** Pairs per bin [edges[i], edges[i + 1]); the outermost bins also hold their edge. */
  counts: number[];
  /** Margins below 0. */
  negative: number;
}

/** Histogram of `margins` (NaN ignored): HALF_BINS bins of a round width on each side of 0. */
export function marginHistogram(margins: Iterable<number>, halfBins = HALF_BINS): MarginHistogram {
  const values = [...margins].filter((m) => !Number.isNaN(m));
  const reach = values.reduce((max, m) => Math.max(max, Math.abs(m)), 0);
  const step = reach > 0 ? niceStep(reach / halfBins) : 0.1;
  const edges = Array.from({ length: 2 * halfBins + 1 }, (_, i) => roundTo((i - halfBins) * step, step));
  const counts = new Array<number>(2 * halfBins).fill(0);
  let negative = 0;
  for (const m of values) {
    if (m < 0) negative++;
    // Bin k holds [edge k, edge k+1); 0 starts the first non-negative bin, so a tie is not "backwards".
    const k = Math.floor(m / step) + halfBins;
    counts[Math.min(2 * halfBins - 1, Math.max(0, k))]++;
  }
  return { edges, counts, negative };
}

/** `x` without the float noise of multiplying by a step like 0.1. */
function roundTo(x: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 2);
  return Number(x.toFixed(Math.min(20, digits)));
}
