// Document symbols for a dataset: one per record ("#12 messages (3 turns)"), so the outline and
// breadcrumbs navigate a file by record. Very large files are capped, and the last symbol says so.
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import type { RecordInfo } from '../../core/datasets/types.ts';
import { turnCount } from './hover.ts';

/** Symbols listed per file at most; VS Code's outline gets slow beyond this. */
export const MAX_SYMBOLS = 10_000;

/**
 * One symbol per record, in line order. `recordAt` walks the lines (cheaper than materialising every
 * record of a 100k-line file); `total` is the file's record count, for the "more records" entry.
 */
export function recordSymbols(lineCount: number, recordAt: (line: number) => RecordInfo | undefined, total: number): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  let line = 0;
  for (; line < lineCount && out.length < MAX_SYMBOLS; line++) {
    const r = recordAt(line);
    if (!r) continue;
    const turns = r.normalized ? turnCount(r.normalized) : undefined;
    const size = turns !== undefined ? `${turns} turn${turns === 1 ? '' : 's'}` : `${r.chars.toLocaleString('en-US')} chars`;
    out.push({
      name: `#${out.length + 1} ${r.format} (${size})`,
      detail: `line ${r.line + 1}`,
      kind: SymbolKind.Object,
      range: r.range,
      selectionRange: { start: r.range.start, end: r.range.start },
    });
  }
  if (total > out.length && line < lineCount) {
    const range = { start: { line, character: 0 }, end: { line, character: 0 } };
    out.push({
      name: `… ${(total - out.length).toLocaleString('en-US')} more records (the outline lists the first ${MAX_SYMBOLS.toLocaleString('en-US')})`,
      kind: SymbolKind.Null,
      range,
      selectionRange: range,
    });
  }
  return out;
}
