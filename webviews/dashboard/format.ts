// How the dashboard writes a metric's value: in chart captions, axes, the hover readout and the
// headline numbers alike, so one number reads the same everywhere on the page.

/** Numbers as a trainer prints them: 4 significant digits, exponent for the very small or large. */
export function formatValue(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2).replace(/\.?0+e/, 'e');
  return Number(v.toPrecision(4)).toString();
}
