// Display downsampling: a chart never draws more than a few points per pixel column. Each column
// (bucket of x) keeps its first, lowest, highest and last point, in their original order, so the
// drawn line has the same extent and ends per column as the full data (spikes are never hidden).

/**
 * Indices of the points to draw for `steps[0..length)` (sorted ascending) within [xMin, xMax] using
 * `buckets` columns. One point on each side of the range is kept so lines run off the edges.
 */
export function downsampleIndices(steps: ArrayLike<number>, values: ArrayLike<number>, length: number, xMin: number, xMax: number, buckets: number): Uint32Array {
  let lo = lowerBound(steps, length, xMin);
  let hi = upperBound(steps, length, xMax);
  if (lo > 0) lo--;
  if (hi < length) hi++;
  const count = hi - lo;
  buckets = Math.max(1, Math.floor(buckets));
  if (count <= buckets * 4 || xMax <= xMin) {
    const all = new Uint32Array(count);
    for (let i = 0; i < count; i++) all[i] = lo + i;
    return all;
  }
  const out = new Uint32Array(buckets * 4 + 2);
  let n = 0;
  const scale = buckets / (xMax - xMin);
  let i = lo;
  while (i < hi) {
    const bucket = Math.min(buckets - 1, Math.max(0, Math.floor((steps[i]! - xMin) * scale)));
    const first = i;
    let min = i;
    let max = i;
    i++;
    while (i < hi && Math.min(buckets - 1, Math.max(0, Math.floor((steps[i]! - xMin) * scale))) === bucket) {
      const v = values[i]!;
      if (v < values[min]! || Number.isNaN(values[min]!)) min = i;
      if (v > values[max]! || Number.isNaN(values[max]!)) max = i;
      i++;
    }
    const last = i - 1;
    // Emit the distinct indices in index order.
    const picks = [first, min, max, last].sort((a, b) => a - b);
    for (let k = 0; k < 4; k++) {
      if (k === 0 || picks[k] !== picks[k - 1]) {
        if (n === out.length) break;
        out[n++] = picks[k]!;
      }
    }
  }
  return out.subarray(0, n);
}

/** First index with steps[i] >= x. */
export function lowerBound(steps: ArrayLike<number>, length: number, x: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (steps[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with steps[i] > x. */
export function upperBound(steps: ArrayLike<number>, length: number, x: number): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (steps[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Gathers `source[indices[k]]` into a plain array (what uPlot takes); non-positive values become null on a log scale. */
export function gather(source: ArrayLike<number>, indices: Uint32Array, logScale = false): (number | null)[] {
  const out = new Array<number | null>(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const v = source[indices[k]!]!;
    out[k] = Number.isFinite(v) && (!logScale || v > 0) ? v : null;
  }
  return out;
}
