// A model's scores of a file's pairs, as the editor keeps them. A score belongs to the record's text,
// not to its line number: the scores are keyed by the exact text of each scored line, so a record
// that moves (lines inserted or deleted above it) keeps its score, and a record that is edited (a
// swap, a fixed answer) loses it until the file is scored again. Identical lines score identically,
// so sharing a key is exact.

import type { PairScoreKind, ScorePairsResult } from '../protocol/scorePairs.ts';
import type { PairIndex } from './pairIndex.ts';

/** One pair's score without its line (the line is wherever the text is now). */
export interface TextScore {
  chosen: number;
  rejected: number;
  margin: number;
}

export interface ScoredFile {
  kind: PairScoreKind;
  /** What scored the pairs, in words. */
  description: string;
  /** The run whose output scored them, if a run did. */
  runId?: string;
  /** Pairs the model scored, and pairs it left out (prompt too long). */
  scored: number;
  skipped: number;
  byText: Map<string, TextScore>;
}

/**
 * The scores of `result` keyed by the text each scored line had when it was scored (`lineText`
 * reads the snapshot taken when scoring began; lines it does not know are dropped).
 */
export function scoredFile(result: Pick<ScorePairsResult, 'kind' | 'description' | 'scores' | 'skipped' | 'runId'>, lineText: (line: number) => string | undefined): ScoredFile {
  const byText = new Map<string, TextScore>();
  for (const s of result.scores) {
    const text = lineText(s.line);
    if (text !== undefined) byText.set(text, { chosen: s.chosen, rejected: s.rejected, margin: s.margin });
  }
  return { kind: result.kind, description: result.description, ...(result.runId ? { runId: result.runId } : {}), scored: result.scores.length, skipped: result.skipped, byText };
}

/** Each pair's margin in index order (NaN where the pair's current text has no score). */
export function pairMargins(index: PairIndex, lineText: (line: number) => string, scores: ScoredFile): Float64Array {
  const margins = new Float64Array(index.lines.length);
  for (let i = 0; i < index.lines.length; i++) margins[i] = scores.byText.get(lineText(index.lines[i]))?.margin ?? NaN;
  return margins;
}

export interface MarginSummary {
  /** Pairs whose current text has a score. */
  scored: number;
  /** Of those, margin below 0: the model prefers the rejected answer. */
  negative: number;
  /** Pairs without a score: edited or added since scoring, or left out by the scorer. */
  unscored: number;
}

/** Counts over per-pair margins. */
export function marginSummary(margins: ArrayLike<number>): MarginSummary {
  let scored = 0;
  let negative = 0;
  for (let i = 0; i < margins.length; i++) {
    const m = margins[i];
    if (Number.isNaN(m)) continue;
    scored++;
    if (m < 0) negative++;
  }
  return { scored, negative, unscored: margins.length - scored };
}

/** Pair indexes ordered by margin, lowest (most suspect) first; unscored pairs last; ties keep their order. */
export function sortByMargin(indexes: ArrayLike<number>, margins: ArrayLike<number>): Int32Array {
  const sorted = Array.from(indexes);
  const key = (i: number) => (Number.isNaN(margins[i]) ? Infinity : margins[i]);
  sorted.sort((a, b) => key(a) - key(b) || a - b);
  return Int32Array.from(sorted);
}

/** Scores with their lines, lowest margin first (the CLI's order); ties by line. */
export function byMargin<T extends { line: number; margin: number }>(scores: readonly T[]): T[] {
  return [...scores].sort((a, b) => a.margin - b.margin || a.line - b.line);
}
