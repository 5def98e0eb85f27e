// The pair inspector's index of a document: which lines hold preference pairs, which of them carry
// findings, and the file-level findings. It is built with the same DatasetModel the language server
// runs, so the inspector flags exactly what the Problems panel shows.

import type { DatasetModel } from '../datasets/model.ts';
import { checkSteps, type Progress } from '../report/checkSteps.ts';
import type { DatasetCheckOptions, DatasetReport } from '../datasets/types.ts';
import type { Diagnostic } from '../diagnostics.ts';
import type { PairFlag } from './pairView.ts';

/** Findings about the whole file; shown above the list rather than on a pair. */
export const FILE_LEVEL_CODES: ReadonlySet<string> = new Set(['length-bias', 'polite-prefix-bias', 'low-prompt-diversity', 'not-jsonl', 'mixed-line-endings']);

export interface PairIndex {
  /** 0-based document lines of the preference pairs, ascending. */
  lines: Int32Array;
  /** 1 where the pair at that index has at least one finding. */
  flagged: Uint8Array;
  flaggedCount: number;
  /** Findings per pair line (flagged lines only). */
  flagsByLine: Map<number, PairFlag[]>;
  /** File-level findings; `data` kept for hints (e.g. the commonest polite phrase). */
  fileFlags: (PairFlag & { data?: unknown })[];
}

/** Feeds `lines` into a new DatasetModel in chunks (see checkSteps); returns the model (kept for incremental edits) and its index. */
export function* indexSteps(lines: readonly string[], options: DatasetCheckOptions, chunk?: number): Generator<Progress, { model: DatasetModel; index: PairIndex }> {
  const model = yield* checkSteps(lines, options, chunk);
  return { model, index: pairIndexFromModel(model) };
}

/** The index of the model's current text (one pass over its cached facts and one report). */
export function pairIndexFromModel(model: DatasetModel): PairIndex {
  const report = model.report();
  const lines: number[] = [];
  for (const r of report.records) if (r.format === 'preference-explicit' || r.format === 'preference-implicit') lines.push(r.line);
  return indexFromReport(report, Int32Array.from(lines));
}

function indexFromReport(report: DatasetReport, lines: Int32Array): PairIndex {
  const flagsByLine = new Map<number, PairFlag[]>();
  const fileFlags: PairIndex['fileFlags'] = [];
  for (const d of report.diagnostics) {
    if (FILE_LEVEL_CODES.has(d.code)) {
      fileFlags.push(toFlag(d, true));
      continue;
    }
    const line = d.range.start.line;
    const list = flagsByLine.get(line);
    if (list) list.push(toFlag(d, false));
    else flagsByLine.set(line, [toFlag(d, false)]);
  }
  const flagged = new Uint8Array(lines.length);
  let flaggedCount = 0;
  for (let i = 0; i < lines.length; i++) {
    if (flagsByLine.has(lines[i])) {
      flagged[i] = 1;
      flaggedCount++;
    }
  }
  // Keep only the pairs' findings: other lines' problems belong to the Problems panel.
  const pairLines = new Set(lines);
  for (const line of flagsByLine.keys()) if (!pairLines.has(line)) flagsByLine.delete(line);
  return { lines, flagged, flaggedCount, flagsByLine, fileFlags };
}

function toFlag(d: Diagnostic, keepData: boolean): PairFlag & { data?: unknown } {
  const flag: PairFlag & { data?: unknown } = { code: d.code, severity: d.severity, message: d.message };
  if (keepData && d.data !== undefined) flag.data = d.data;
  return flag;
}

/** Position of `line` among the pairs (binary search), or -1. */
export function pairPosition(index: PairIndex, line: number): number {
  let lo = 0;
  let hi = index.lines.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = index.lines[mid];
    if (v === line) return mid;
    if (v < line) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
