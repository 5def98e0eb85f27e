// Filtering the pair index: only flagged pairs, only pairs a model scored below 0, and/or a
// case-insensitive search over the prompt and both sides; optionally ordered by margin. Positions in
// the filtered view map to pair indexes. Searching reads each line's raw JSON first and parses only
// lines that may match, so a query over 50 MB costs one lowercase scan.

import type { PairFilter } from '../protocol/webview.ts';
import type { PairIndex } from './pairIndex.ts';
import type { Progress } from '../report/checkSteps.ts';
import { parsePair, turnsText } from './pairView.ts';
import { sortByMargin } from './pairScores.ts';

/** The filtered view: pair indexes in order, or undefined for "all pairs" (identity, no allocation). */
export type FilteredPairs = Int32Array | undefined;

/** Pairs checked per step of `filterSteps`. */
export const FILTER_CHUNK = 5000;

/** True when the filter keeps every pair in line order. */
export function isIdentityFilter(filter: PairFilter): boolean {
  return !filter.onlyFlagged && filter.search.trim() === '' && !filter.onlyNegative && filter.sort !== 'margin';
}

/** The filter as it applies: without margins (the file is not scored) the score filter and order are off. */
export function effectiveFilter(filter: PairFilter, margins: Float64Array | undefined): PairFilter {
  return margins ? filter : { onlyFlagged: filter.onlyFlagged, search: filter.search };
}

/** Number of pairs in the filtered view. */
export function filteredCount(index: PairIndex, view: FilteredPairs): number {
  return view ? view.length : index.lines.length;
}

/** The pair index at a filtered position (undefined outside the view). */
export function pairAt(index: PairIndex, view: FilteredPairs, position: number): number | undefined {
  if (position < 0 || position >= filteredCount(index, view)) return undefined;
  return view ? view[position] : position;
}

/**
 * Whether a raw JSON line can contain `needle` (lowercase) in its decoded strings. Without `\u`
 * escapes in the line and without characters JSON escapes in the needle, decoded text appears
 * verbatim in the raw line, so a raw miss is a certain miss; otherwise the line must be parsed.
 */
export function rawLineMayMatch(lineText: string, needle: string): boolean {
  if (/["\\/\u0000-\u001f]/.test(needle) || lineText.includes('\\u')) return true;
  return lineText.toLowerCase().includes(needle);
}

/** Whether the pair on this line mentions `needle` (lowercase) in its prompt, chosen or rejected text. */
export function pairMatchesSearch(lineText: string, needle: string): boolean {
  if (needle === '') return true;
  if (!rawLineMayMatch(lineText, needle)) return false;
  const parsed = parsePair(lineText);
  if (!parsed) return false;
  const { prompt, chosen, rejected } = parsed.record;
  return (
    turnsText(prompt).toLowerCase().includes(needle) ||
    turnsText(chosen).toLowerCase().includes(needle) ||
    turnsText(rejected).toLowerCase().includes(needle)
  );
}

/**
 * Builds the filtered view in chunks, yielding progress; `getLine` returns a document line's text,
 * `margins` each pair's score margin (NaN: unscored), absent when the file has no scores.
 */
export function* filterSteps(index: PairIndex, requested: PairFilter, getLine: (line: number) => string, chunk = FILTER_CHUNK, margins?: Float64Array): Generator<Progress, FilteredPairs> {
  const filter = effectiveFilter(requested, margins);
  if (isIdentityFilter(filter)) return undefined;
  const needle = filter.search.trim().toLowerCase();
  const out: number[] = [];
  const n = index.lines.length;
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    for (let i = start; i < end; i++) {
      if (filter.onlyFlagged && index.flagged[i] === 0) continue;
      // NaN (unscored) is not below 0 either.
      if (filter.onlyNegative && !(margins![i] < 0)) continue;
      if (needle && !pairMatchesSearch(getLine(index.lines[i]), needle)) continue;
      out.push(i);
    }
    if (end < n) yield { done: end, total: n };
  }
  return filter.sort === 'margin' ? sortByMargin(out, margins!) : Int32Array.from(out);
}

/** Runs `filterSteps` to completion (small documents, tests). */
export function filterPairs(index: PairIndex, filter: PairFilter, getLine: (line: number) => string, margins?: Float64Array): FilteredPairs {
  const steps = filterSteps(index, filter, getLine, FILTER_CHUNK, margins);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** The next (direction 1) or previous (-1) filtered position after `from` whose pair is flagged; -1 if none. */
export function nextFlagged(index: PairIndex, view: FilteredPairs, from: number, direction: 1 | -1): number {
  const n = filteredCount(index, view);
  for (let p = from + direction; p >= 0 && p < n; p += direction) {
    if (index.flagged[view ? view[p] : p] === 1) return p;
  }
  return -1;
}
