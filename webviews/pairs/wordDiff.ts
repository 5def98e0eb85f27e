// Word-level diff of a pair's two sides, as segments per side: text both share, and text only that
// side has. Built on jsdiff's diffWordsWithSpace (whitespace runs are tokens, so layout changes show).
// Very long or very different sides stop at a time budget and are shown without highlights.

import { diffWordsWithSpace } from 'diff';

export interface Segment {
  text: string;
  /** True when only this side has the text (added in chosen / removed from rejected). */
  changed: boolean;
}

export interface SideDiff {
  chosen: Segment[];
  rejected: Segment[];
  /** False when no highlights are shown; segments are then whole sides. */
  diffed: boolean;
  /** Why there are no highlights: too long / over the time budget, or the sides share almost nothing. */
  skipped?: 'long' | 'different';
}

/** Above this changed share on both sides, highlights would mark nearly everything plus a few stray shared words. */
export const MOSTLY_DIFFERENT = 0.75;

/** Sides longer than this (characters, together) are not diffed. */
export const MAX_DIFF_CHARS = 40_000;
/** Milliseconds one diff may take before it is abandoned. */
export const DIFF_TIMEOUT_MS = 40;

function push(list: Segment[], text: string, changed: boolean): void {
  if (text === '') return;
  const last = list[list.length - 1];
  if (last && last.changed === changed) last.text += text;
  else list.push({ text, changed });
}

/** Splits `chosen` and `rejected` into shared and side-only segments. */
export function diffSides(chosen: string, rejected: string): SideDiff {
  const plain = (skipped: SideDiff['skipped']): SideDiff => ({ chosen: chosen ? [{ text: chosen, changed: false }] : [], rejected: rejected ? [{ text: rejected, changed: false }] : [], diffed: false, skipped });
  if (chosen.length + rejected.length > MAX_DIFF_CHARS) return plain('long');
  const changes = diffWordsWithSpace(rejected, chosen, { timeout: DIFF_TIMEOUT_MS });
  if (!changes) return plain('long');
  const out: SideDiff = { chosen: [], rejected: [], diffed: true };
  for (const c of changes) {
    if (c.added) push(out.chosen, c.value, true);
    else if (c.removed) push(out.rejected, c.value, true);
    else {
      push(out.chosen, c.value, false);
      push(out.rejected, c.value, false);
    }
  }
  if (chosen && rejected && changedShare(out.chosen) > MOSTLY_DIFFERENT && changedShare(out.rejected) > MOSTLY_DIFFERENT) return plain('different');
  return out;
}

/** Share of a side's characters that differ from the other side (0 when identical), for a quick summary. */
export function changedShare(segments: readonly Segment[]): number {
  let total = 0;
  let changed = 0;
  for (const s of segments) {
    total += s.text.length;
    if (s.changed) changed += s.text.length;
  }
  return total === 0 ? 0 : changed / total;
}
