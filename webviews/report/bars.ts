// Layout of the report's histogram as plain numbers (bar heights, labels), so the SVG drawing is a
// straight mapping and the maths is tested without a browser.

export interface Bar {
  x: number;
  width: number;
  height: number;
  count: number;
  /** e.g. "100–199" or "≥ 1,900". */
  label: string;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Bars for a histogram drawn in a `width` x `height` box (counts scaled to the tallest bin). */
export function histogramBars(edges: readonly number[], counts: readonly number[], width: number, height: number, gap = 2): Bar[] {
  const n = counts.length;
  if (n === 0) return [];
  const max = Math.max(1, ...counts);
  const slot = width / n;
  return counts.map((count, i) => {
    const last = i === n - 1;
    const lo = edges[i];
    const hi = edges[i + 1];
    const label = last && hi > lo + (edges[1] - edges[0]) ? `≥ ${fmt(lo)}` : hi - lo <= 1 ? fmt(lo) : `${fmt(lo)}–${fmt(hi - 1)}`;
    return { x: i * slot + gap / 2, width: Math.max(1, slot - gap), height: count === 0 ? 0 : Math.max(1, (count / max) * height), count, label };
  });
}
