// One preference record line as the pair inspector shows it: the prompt and both continuations
// (implicit-prompt pairs split at their shared prefix, as training sees them), their lengths, and
// the record's findings.

import { detectFormat } from '../datasets/detect.ts';
import { isObject, normalizeRecord, parseRecordObject } from '../datasets/normalize.ts';
import type { NormalizedRecord, Turns } from '../datasets/types.ts';
import type { Severity } from '../diagnostics.ts';
import type { PairView } from '../protocol/webview.ts';
import type { ChatTokenizer } from '../tokenize/types.ts';

/** A finding shown on a pair (or above the list, for file-level ones). */
export interface PairFlag {
  code: string;
  severity: Severity;
  message: string;
}

export type PreferenceRecord = Extract<NormalizedRecord, { format: 'preference' }>;

/** Token counts of both continuations as trained (prompt excluded). */
export type CountSides = (record: PreferenceRecord) => { chosen: number; rejected: number };

/** Characters of content in a side: the string, or the sum of its messages' contents. */
export function turnsChars(turns: Turns): number {
  if (typeof turns === 'string') return turns.length;
  let n = 0;
  for (const m of turns) n += m.content.length;
  return n;
}

/** Plain text of a side for search and diffs: the string, or `role: content` blocks. */
export function turnsText(turns: Turns): string {
  if (typeof turns === 'string') return turns;
  return turns.map((m) => `${m.role}: ${m.content}`).join('\n\n');
}

/** The parsed preference record of a line, or undefined when the line is not a usable pair. */
export function parsePair(lineText: string): { format: PairView['format']; record: PreferenceRecord } | undefined {
  const value = parseRecordObject(lineText);
  if (!value) return undefined;
  const format = detectFormat(value);
  if (format !== 'preference-explicit' && format !== 'preference-implicit') return undefined;
  const record = normalizeRecord(value);
  if (!record || record.format !== 'preference') return undefined;
  return { format, record };
}

/**
 * Hints a pair earns from the file's findings: when the file has a length bias, pairs whose chosen
 * side is longer; with a polite-prefix bias, chosen sides opening with the file's commonest phrase.
 * Hints explain the file-level finding on the pair; they do not make the pair "flagged".
 */
export function fileHints(view: Pick<PairView, 'chosen' | 'chosenChars' | 'rejectedChars'>, fileFlags: readonly (PairFlag & { data?: unknown })[]): PairFlag[] {
  const hints: PairFlag[] = [];
  for (const f of fileFlags) {
    if (f.code === 'length-bias' && view.chosenChars > view.rejectedChars) {
      hints.push({ code: 'length-bias', severity: 'hint', message: `"chosen" is longer (${view.chosenChars} vs ${view.rejectedChars} characters), like most pairs in this file.` });
    }
    const prefix = f.code === 'polite-prefix-bias' && isObject(f.data) && typeof f.data.prefix === 'string' ? f.data.prefix : undefined;
    if (prefix) {
      const opening = firstContent(view.chosen).trimStart().toLowerCase();
      if (opening.startsWith(prefix.toLowerCase())) {
        hints.push({ code: 'polite-prefix-bias', severity: 'hint', message: `"chosen" opens with "${prefix}", the file's commonest polite opening.` });
      }
    }
  }
  return hints;
}

function firstContent(turns: Turns): string {
  if (typeof turns === 'string') return turns;
  return turns.find((m) => m.role === 'assistant')?.content ?? turns[0]?.content ?? '';
}

/** The PairView of one line, or undefined when the line is not a usable preference pair. */
export function pairViewOf(lineText: string, line: number, flags: readonly PairFlag[], countSides?: CountSides): PairView | undefined {
  const parsed = parsePair(lineText);
  if (!parsed) return undefined;
  const { record, format } = parsed;
  const view: PairView = {
    line,
    format,
    prompt: record.prompt,
    chosen: record.chosen,
    rejected: record.rejected,
    chosenChars: turnsChars(record.chosen),
    rejectedChars: turnsChars(record.rejected),
    flags: [...flags],
  };
  if (countSides) {
    try {
      const tokens = countSides(record);
      view.chosenTokens = tokens.chosen;
      view.rejectedTokens = tokens.rejected;
    } catch {
      // A record the chat template cannot render still shows, with character counts only.
    }
  }
  return view;
}

/** Per-side token counts with a model's tokenizer: the continuation's tokens as trained (loss-carrying, prompt excluded). */
export function sideTokenCounter(tokenizer: ChatTokenizer): CountSides {
  const lossTokens = (mask: boolean[]) => mask.reduce((n, m) => (m ? n + 1 : n), 0);
  return (record) => {
    const encoded = tokenizer.encodePreference(record);
    return { chosen: lossTokens(encoded.chosen.lossMask), rejected: lossTokens(encoded.rejected.lossMask) };
  };
}
