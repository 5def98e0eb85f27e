// Layout of the report's margin histogram as plain numbers: bars (those left of 0 marked negative),
// where the 0 line goes, and which edges get a label. The SVG drawing in main.ts maps these straight.

export interface MarginBar {
  x: number;
  width: number;
  height: number;
  count: number;
  /** The bin lies below 0: the model prefers the rejected answer of these pairs. */
  negative: boolean;
  /** "-0.50 to -0.25" */
  range: string;
}

export interface MarginLayout {
  bars: MarginBar[];
  /** x of the 0 edge. */
  zeroX: number;
  /** Labelled edges: both ends, 0 and halfway out on each side. */
  ticks: { x: number; label: string }[];
}

/** An edge as the axis writes it: the decimals its step (1, 2, 2.5 or 5 times a power of ten) needs. */
export function edgeLabel(value: number, step: number): string {
  const power = Math.floor(Math.log10(step) + 1e-9);
  const fractional = Math.abs(step / 10 ** power - 2.5) < 1e-9 ? 1 : 0;
  const text = value.toFixed(Math.min(6, Math.max(0, -power + fractional)));
  return Number(text) === 0 ? '0' : text;
}

/** Bars of `counts` (between `edges`) in a `width` x `height` box, scaled to the tallest bin. */
export function marginLayout(edges: readonly number[], counts: readonly number[], width: number, height: number, gap = 2): MarginLayout {
  const n = counts.length;
  if (n === 0 || edges.length !== n + 1) return { bars: [], zeroX: width / 2, ticks: [] };
  const max = Math.max(1, ...counts);
  const slot = width / n;
  const step = edges[1] - edges[0];
  const bars = counts.map((count, i) => ({
    x: i * slot + gap / 2,
    width: Math.max(1, slot - gap),
    height: count === 0 ? 0 : Math.max(1, (count / max) * height),
    count,
    negative: edges[i + 1] <= 0,
    range: `${edgeLabel(edges[i], step)} to ${edgeLabel(edges[i + 1], step)}`,
  }));
  const zero = edges.findIndex((e) => e === 0);
  const zeroX = zero >= 0 ? zero * slot : width / 2;
  const ticks = [0, Math.round(n / 4), zero >= 0 ? zero : Math.round(n / 2), Math.round((3 * n) / 4), n].map((i) => ({ x: i * slot, label: edgeLabel(edges[i], step) }));
  return { bars, zeroX, ticks };
}
