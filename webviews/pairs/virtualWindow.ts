// Window math for the virtualised pair list: which rows are visible for a scroll position, where to
// place them, and where to scroll to show a row. Rows have one fixed height. Browsers cap an element's
// height (about 33 M px in Chromium), so past MAX_SCROLL_PX the scrollbar is scaled: scrollTop maps
// linearly onto the real content offset, and rows are placed relative to the viewport.

/** Tallest spacer we create; well under every browser's limit. */
export const MAX_SCROLL_PX = 8_000_000;

export interface Viewport {
  scrollTop: number;
  height: number;
  rowHeight: number;
  total: number;
}

export interface VisibleRows {
  /** First row to render (inclusive) and end (exclusive), overscan included. */
  first: number;
  end: number;
  /** Top of row `first` in the spacer's coordinates. */
  top: number;
}

/** The spacer's height for `total` rows. */
export function spacerHeight(total: number, rowHeight: number, max = MAX_SCROLL_PX): number {
  return Math.min(total * rowHeight, max);
}

/** Real content pixels per scrollTop pixel (1 unless the list is taller than the spacer cap). */
function scale(v: Viewport, max: number): number {
  const content = v.total * v.rowHeight;
  const spacer = spacerHeight(v.total, v.rowHeight, max);
  if (content <= spacer || spacer <= v.height) return 1;
  return (content - v.height) / (spacer - v.height);
}

/** Rows to render for a viewport, with `overscan` extra rows on each side. */
export function visibleRows(v: Viewport, overscan = 2, max = MAX_SCROLL_PX): VisibleRows {
  if (v.total <= 0 || v.rowHeight <= 0) return { first: 0, end: 0, top: 0 };
  const s = scale(v, max);
  const realTop = Math.max(0, v.scrollTop) * s;
  const firstVisible = Math.min(v.total - 1, Math.floor(realTop / v.rowHeight));
  const lastVisible = Math.min(v.total - 1, Math.floor((realTop + Math.max(0, v.height - 1)) / v.rowHeight));
  const first = Math.max(0, firstVisible - overscan);
  const end = Math.min(v.total, lastVisible + 1 + overscan);
  // Row r sits at scrollTop + (r * rowHeight - realTop) in spacer coordinates.
  const top = Math.max(0, v.scrollTop) + (first * v.rowHeight - realTop);
  return { first, end, top };
}

/** The scrollTop that shows `row` fully, moving as little as possible (unchanged when it is visible). */
export function scrollTopToShow(v: Viewport, row: number, max = MAX_SCROLL_PX): number {
  const s = scale(v, max);
  const realTop = Math.max(0, v.scrollTop) * s;
  const rowTop = row * v.rowHeight;
  const rowBottom = rowTop + v.rowHeight;
  let target = realTop;
  if (rowTop < realTop) target = rowTop;
  else if (rowBottom > realTop + v.height) target = Math.min(rowTop, rowBottom - v.height);
  if (target === realTop) return v.scrollTop;
  return target / s;
}

/** Rows per page step (PageUp/PageDown). */
export function rowsPerPage(v: Pick<Viewport, 'height' | 'rowHeight'>): number {
  return Math.max(1, Math.floor(v.height / v.rowHeight));
}
