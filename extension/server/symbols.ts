// Document symbols for a dataset: one per record ("#12 messages (3 turns)"), so the outline and
// breadcrumbs navigate a file by record. Very large files are capped, and the last symbol says so.
import { SymbolKind, type DocumentSymbol } from 'vscode-languageserver/node';
import type { RecordInfo } from '../../core/datasets/types.ts';
import { turnCount } from './hover.ts';

/** Symbols listed per file at most; VS Code's outline gets slow beyond this. */
export const MAX_SYMBOLS = 10_000;

/** One symbol per record, in line order. */
export function recordSymbols(records: RecordInfo[]): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  const shown = Math.min(records.length, MAX_SYMBOLS);
  for (let i = 0; i < shown; i++) {
    const r = records[i]!;
    const turns = r.normalized ? turnCount(r.normalized) : undefined;
    const size = turns !== undefined ? `${turns} turn${turns === 1 ? '' : 's'}` : `${r.chars.toLocaleString('en-US')} chars`;
    out.push({
      name: `#${i + 1} ${r.format} (${size})`,
      detail: `line ${r.line + 1}`,
      kind: SymbolKind.Object,
      range: r.range,
      selectionRange: { start: r.range.start, end: r.range.start },
    });
  }
  if (records.length > shown) {
    const last = records[shown]!;
    out.push({
      name: `… ${(records.length - shown).toLocaleString('en-US')} more records (outline lists the first ${MAX_SYMBOLS.toLocaleString('en-US')})`,
      kind: SymbolKind.Null,
      range: last.range,
      selectionRange: { start: last.range.start, end: last.range.start },
    });
  }
  return out;
}
