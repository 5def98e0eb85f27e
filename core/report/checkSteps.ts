// Checking a whole document in chunks for the editor panels: the generator feeds lines into a
// DatasetModel and yields progress after each chunk, and the caller gives the event loop a turn
// between steps (core/ has no timers), so a 50 MB file never blocks the extension host for long.

import { DatasetModel } from '../datasets/model.ts';
import type { DatasetCheckOptions } from '../datasets/types.ts';

/** Progress of a long step: `done` of `total` units (lines or pairs). */
export interface Progress {
  done: number;
  total: number;
}

/** Lines analysed per step; about 1-3 ms of work for typical records. */
export const CHECK_CHUNK_LINES = 2000;

/** Options for a panel's check: every diagnostic (counts and flags must be exact), no retained records (memory). */
export function panelCheckOptions(base: DatasetCheckOptions): DatasetCheckOptions {
  return { ...base, maxDiagnostics: Infinity, retainRecords: false };
}

/** Feeds `lines` (split on `\n`, as the checker does) into a new model in chunks, yielding progress after each. */
export function* checkSteps(lines: readonly string[], options: DatasetCheckOptions, chunk = CHECK_CHUNK_LINES): Generator<Progress, DatasetModel> {
  const model = new DatasetModel(panelCheckOptions(options));
  for (let start = 0; start < lines.length; start += chunk) {
    model.appendLines(lines.slice(start, start + chunk));
    yield { done: Math.min(lines.length, start + chunk), total: lines.length };
  }
  if (lines.length === 0) model.appendLines(['']);
  return model;
}
