// Everything that can be known about one line on its own: parse, format, per-record diagnostics,
// the normalized record and the compact facts whole-file checks aggregate (hashes, lengths, pair
// facts). The DatasetModel caches one LineFacts per line and recomputes it only when the line changes.

import { DATASET_CODES, type DatasetCode } from './codes.ts';
import { canonicalize, type Canonicalizer } from './datasetInfo.ts';
import { detectFormat, detectStyle } from './detect.ts';
import { Fingerprinter } from './fingerprint.ts';
import { contentSpan, firstKeySpan, LinePositions, locateSyntaxError, type JsonPath, type Span } from './jsonPositions.ts';
import { isObject, normalizeRecord } from './normalize.ts';
import { PAIR_FIELDS } from './foreignRules.ts';
import { checkRecord, type PendingDiagnostic } from './recordRules.ts';
import type { Diagnostic, Severity } from '../diagnostics.ts';
import type { Message, NormalizedRecord, RecordFormat, RecordStyle, Turns } from './types.ts';

/** A diagnostic inside one line; the line number is added when the file is reported. */
export interface LineDiagnostic {
  code: DatasetCode;
  severity: Severity;
  message: string;
  start: number;
  end: number;
  data?: unknown;
}

export interface LineFacts {
  status: 'blank' | 'invalid' | 'record';
  crlf: boolean;
  /** Line length without the line break. */
  length: number;
  diags: LineDiagnostic[] | undefined;
  format: RecordFormat | undefined;
  style: RecordStyle | undefined;
  normalized: NormalizedRecord | undefined;
  /** The first key of the record: where record-wide diagnostics point. */
  anchor: Span;
  /** Exact-duplicate hash (30-bit; -1 when the record is unusable) and check hash (32-bit). */
  dupKey: number;
  dupCheck: number;
  /** MinHash signature (near duplicates); its LSH band keys are derived from it (fingerprint.ts bandKey). */
  signature: Uint32Array | undefined;
  promptKey: number;
  chars: number;
  tokens: number;
  /** Preference pairs: continuation lengths and polite openings (-1 / undefined otherwise). */
  chosenChars: number;
  rejectedChars: number;
  chosenPolite: string | undefined;
  rejectedPolite: string | undefined;
  /** Shape of a non-JSON line, for the `not-jsonl` hint. */
  shape: 'json-open' | 'csv-like' | undefined;
  /** The line's index, refreshed by every report. */
  index: number;
  /** Whole-file diagnostics placed on this line during the current report. */
  extra: Diagnostic[] | undefined;
}

export interface LineContext {
  countTokens?: (record: NormalizedRecord) => number;
  maxLength?: number;
  requiredColumns?: readonly string[];
  canonicalizer?: Canonicalizer;
  retainRecords: boolean;
  nearDuplicates: boolean;
}

/** Characters per token assumed by the length check without a tokenizer (English prose; CJK has fewer). */
const CHARS_PER_TOKEN = 4;
/** Token budget of that check when no max_length is known. */
const DEFAULT_TOKEN_BUDGET = 4096;

/** The path of the longest string in a JSON value (where a too-long record is underlined). */
function longestString(value: unknown, path: JsonPath): { path: JsonPath; length: number } {
  if (typeof value === 'string') return { path, length: value.length };
  let best = { path, length: -1 };
  if (path.length > 32) return best; // content sits a few levels down; deeper is metadata
  if (Array.isArray(value)) value.forEach((v, i) => {
    const found = longestString(v, [...path, i]);
    if (found.length > best.length) best = found;
  });
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) {
    const found = longestString(v, [...path, k]);
    if (found.length > best.length) best = found;
  }
  return best;
}

/** Lines longer than this get `line-too-large`. */
export const LARGE_LINE_CHARS = 1 << 20;

const POLITE_PREFIXES = [
  'sure', 'certainly', 'of course', 'absolutely', 'great question', "i'd be happy", 'i would be happy', 'happy to help',
  "i'd be glad", 'no problem', 'definitely', 'excellent question', '当然', '好的', '没问题', '很高兴', '非常乐意', '乐意',
];

function diag(code: DatasetCode, message: string, span: Span, data?: unknown): LineDiagnostic {
  return { code, severity: DATASET_CODES[code], message, start: span.start, end: span.end, data };
}

function newFacts(length: number, crlf: boolean): LineFacts {
  return {
    status: 'invalid', crlf, length, diags: undefined, format: undefined, style: undefined, normalized: undefined,
    anchor: { start: 0, end: Math.max(1, length) }, dupKey: -1, dupCheck: -1, signature: undefined,
    promptKey: -1, chars: 0, tokens: -1, chosenChars: -1, rejectedChars: -1, chosenPolite: undefined,
    rejectedPolite: undefined, shape: undefined, index: 0, extra: undefined,
  };
}

function push(facts: LineFacts, d: LineDiagnostic): void {
  (facts.diags ??= []).push(d);
}

/**
 * Analyse one line. `raw` may end with `\r`; `invalidUtf8At` is the column of the first byte that
 * was not UTF-8 when the caller decoded the file from bytes.
 */
export function analyzeLine(raw: string, ctx: LineContext, invalidUtf8At?: number): LineFacts {
  const crlf = raw.length > 0 && raw.charCodeAt(raw.length - 1) === 13;
  const full = crlf ? raw.slice(0, -1) : raw;
  const facts = newFacts(full.length, crlf);
  let offset = 0;
  let text = full;
  if (text.charCodeAt(0) === 0xfeff) {
    push(facts, diag('bom', 'The line starts with a byte-order mark, which JSON parsers reject; save the file as UTF-8 without BOM.', { start: 0, end: 1 }));
    offset = 1;
    text = text.slice(1);
  }
  if (invalidUtf8At !== undefined) {
    push(facts, diag('invalid-utf8', 'This line contains bytes that are not valid UTF-8; re-encode the file as UTF-8.', { start: invalidUtf8At, end: Math.min(full.length, invalidUtf8At + 1) }));
  } else {
    const bad = text.indexOf('\uFFFD');
    if (bad >= 0) push(facts, diag('replacement-char', 'The text contains U+FFFD, a sign it was decoded from broken bytes earlier; fix the source text.', { start: bad + offset, end: bad + offset + 1 }));
  }
  if (isBlank(text)) {
    facts.status = 'blank';
    return facts;
  }
  if (text.length > LARGE_LINE_CHARS) {
    push(facts, diag('line-too-large', `This line is ${(text.length / 1048576).toFixed(1)} M characters; records this large are almost certainly a mistake or will be truncated.`, { start: offset, end: offset + 1 }));
  }
  const nul = text.indexOf('\u0000');
  if (nul >= 0) {
    push(facts, diag('nul-byte', 'The line contains a NUL byte (binary data or a broken encoding); remove it.', { start: nul + offset, end: nul + offset + 1 }));
    return facts;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const at = locateSyntaxError(text, err instanceof Error ? err.message : String(err));
    push(facts, diag('json-syntax', `Invalid JSON: ${at.reason}. Each line must be one complete JSON object.`, { start: at.start + offset, end: at.end + offset }));
    facts.shape = shapeOf(text);
    return facts;
  }
  if (!isObject(value)) {
    const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    const span = contentSpan(text);
    push(facts, diag('not-object', `Each line must be a JSON object, not ${kind}; wrap it as {"text": ...} or {"messages": [...]}.`, { start: span.start + offset, end: span.end + offset }));
    return facts;
  }
  const anchor = firstKeySpan(text);
  facts.anchor = offset === 0 ? anchor : { start: anchor.start + offset, end: anchor.end + offset };
  const mapped = ctx.canonicalizer ? canonicalize(value, ctx.canonicalizer) : undefined;
  const canonical = mapped ? mapped.record : value;
  const format = detectFormat(canonical);
  if (!format) {
    push(facts, diag('unknown-format', 'No dataset fields found; use "messages", "prompt"/"completion", "prompt"/"chosen"/"rejected", "instruction"/"output", "conversations" or "text".', facts.anchor));
    return facts;
  }
  const style = detectStyle(canonical, format);
  facts.status = 'record';
  facts.format = format;
  facts.style = style;
  const pending = checkRecord(canonical, format, style, ctx);
  const normalized = pending.some((p) => DATASET_CODES[p.code] === 'error') ? undefined : normalizeRecord(canonical);
  if (normalized) {
    checkPair(canonical, normalized, format, pending);
    measure(facts, normalized, ctx, pending, canonical);
    if (ctx.retainRecords) facts.normalized = normalized;
  } else fingerprintUnusable(facts, text);
  if (pending.length > 0) {
    const positions = new LinePositions(text);
    for (const p of pending) {
      const path = mapped ? mapped.originalPath(p.path) : p.path;
      const span = positions.span(path, p.target);
      push(facts, diag(p.code, p.message, { start: span.start + offset, end: span.end + offset }, p.data));
    }
  }
  return facts;
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 32) return false;
  return true;
}

function shapeOf(text: string): LineFacts['shape'] {
  const t = text.trim();
  if (t === '[' || t === '{' || t.startsWith('[{') || t.endsWith('{') || t.endsWith('[')) return 'json-open';
  if (t[0] !== '{' && t[0] !== '[' && t.includes(',')) return 'csv-like';
  return undefined;
}

/** Pair checks that need the normalized record: identical chosen/rejected, implicit shared prompt. */
function checkPair(canonical: Record<string, unknown>, normalized: NormalizedRecord, format: RecordFormat, pending: PendingDiagnostic[]): void {
  if (normalized.format !== 'preference') return;
  const sides = PAIR_FIELDS[format] ?? { chosen: 'chosen', rejected: 'rejected' };
  if (sameTurns(normalized.chosen, normalized.rejected)) {
    pending.push({ code: 'identical-pair', message: `"${sides.chosen}" and "${sides.rejected}" are identical, so the pair teaches nothing; fix one or remove the record.`, path: [sides.rejected], target: 'value' });
    return;
  }
  if (format !== 'preference-implicit' && format !== 'preference-messages') return;
  const rejected = canonical[sides.rejected];
  if (typeof rejected === 'string') {
    if (normalized.prompt === '') {
      pending.push({ code: 'implicit-prefix-mismatch', message: '"chosen" and "rejected" share no prompt text; add an explicit "prompt" field or start both with the same prompt.', path: ['rejected'], target: 'value' });
    }
    return;
  }
  const c = normalizeList(normalized, 'chosen');
  const r = normalizeList(normalized, 'rejected');
  const shared = Array.isArray(normalized.prompt) ? normalized.prompt.length : 0;
  const firstC = c[0];
  const firstR = r[0];
  if (shared === 0 || !firstC || !firstR || firstC.role !== 'assistant' || firstR.role !== 'assistant') {
    const at = Array.isArray(rejected) && shared < rejected.length ? [sides.rejected, shared] : [sides.rejected];
    pending.push({
      code: 'implicit-prefix-mismatch',
      message: `"${sides.chosen}" and "${sides.rejected}" must repeat the same prompt turns and differ only in the final assistant reply; they first differ at message ${shared + 1}.`,
      path: at,
      target: 'value',
    });
  }
}

function normalizeList(record: { chosen: Turns; rejected: Turns }, key: 'chosen' | 'rejected'): Message[] {
  const v = record[key];
  return Array.isArray(v) ? v : [];
}

function sameTurns(a: Turns, b: Turns): boolean {
  if (typeof a === 'string' || typeof b === 'string') return typeof a === typeof b && (a as string).trim() === (b as string).trim();
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].role !== b[i].role || a[i].content.trim() !== b[i].content.trim()) return false;
  return a.length > 0;
}

/** Lengths, fingerprints, prompt hash, pair facts and the token check. */
function measure(facts: LineFacts, record: NormalizedRecord, ctx: LineContext, pending: PendingDiagnostic[], canonical: Record<string, unknown>): void {
  const fp = new Fingerprinter(ctx.nearDuplicates);
  const feed = (turns: Turns, separator: number): number => {
    if (typeof turns === 'string') {
      fp.update(turns, separator);
      return turns.length;
    }
    let n = 0;
    for (const m of turns) n += feedMessage(fp, m, separator);
    return n;
  };
  let chars = 0;
  // The prompt is always fed first, so the hash state after it is the prompt's own hash.
  let promptKey = -1;
  switch (record.format) {
    case 'text':
      chars = feed(record.text, 1);
      break;
    case 'conversation':
      for (const m of record.messages) {
        if (promptKey < 0 && m.role === 'assistant') promptKey = fp.key;
        chars += feedMessage(fp, m, 1);
      }
      if (promptKey < 0) promptKey = fp.key;
      break;
    case 'prompt-completion':
    case 'unpaired-preference':
      chars = feed(record.prompt, 1);
      promptKey = fp.key;
      chars += feed(record.completion, 200);
      if (record.format === 'unpaired-preference') fp.update(record.label ? 't' : 'f', 5);
      break;
    case 'preference': {
      chars = feed(record.prompt, 1);
      promptKey = fp.key;
      const c = turnsText(record.chosen);
      const r = turnsText(record.rejected);
      chars += feed(record.chosen, 200) + feed(record.rejected, 400);
      facts.chosenChars = c.length;
      facts.rejectedChars = r.length;
      facts.chosenPolite = politePrefix(c);
      facts.rejectedPolite = politePrefix(r);
      break;
    }
    case 'prompt-only':
      chars = feed(record.prompt, 1);
      promptKey = fp.key;
      break;
    case 'segments':
      for (const seg of record.segments) {
        if (promptKey < 0 && seg.label) promptKey = fp.key;
        fp.update(seg.text, seg.label ? 3 : 2);
        chars += seg.text.length;
      }
      if (promptKey < 0) promptKey = fp.key;
      break;
    case 'stepwise':
      chars = feed(record.prompt, 1);
      promptKey = fp.key;
      record.completions.forEach((step, i) => {
        fp.update(step, record.labels[i] ? 11 : 12);
        chars += step.length;
      });
      break;
  }
  facts.chars = chars;
  facts.promptKey = promptKey;
  facts.dupKey = fp.key;
  facts.dupCheck = fp.check;
  facts.signature = fp.signature();
  if (!ctx.countTokens) {
    // Without a tokenizer, a length check in characters (about 4 per token) still catches the runaway record.
    const limit = CHARS_PER_TOKEN * (ctx.maxLength ?? DEFAULT_TOKEN_BUDGET);
    if (chars > limit) {
      const longest = longestString(canonical, []);
      pending.push({
        code: 'too-long-chars',
        message: `This record is ${chars.toLocaleString('en-US')} characters, about ${Math.round(chars / CHARS_PER_TOKEN).toLocaleString('en-US')} tokens at ${CHARS_PER_TOKEN} characters per token, over ${ctx.maxLength === undefined ? `${DEFAULT_TOKEN_BUDGET.toLocaleString('en-US')} tokens` : `max_length ${ctx.maxLength}`}; it would be truncated. Shorten or split it (check with a model for the exact count).`,
        path: longest.path,
        target: longest.path.length > 0 ? 'value' : 'firstKey',
        data: { chars, limit },
      });
    }
  } else {
    try {
      facts.tokens = ctx.countTokens(record);
    } catch {
      facts.tokens = -1;
    }
    if (ctx.maxLength !== undefined && facts.tokens > ctx.maxLength) {
      pending.push({
        code: 'too-long',
        message: `This record is ${facts.tokens} tokens, over max_length ${ctx.maxLength}; it will be truncated. Shorten it or raise max_length.`,
        path: [],
        target: 'firstKey',
        data: { tokens: facts.tokens, maxLength: ctx.maxLength },
      });
    }
  }
}

/**
 * A record with errors is not measured, but copies of it are still duplicates (fixing the error in one
 * copy would leave the other): hash its line as written (whitespace runs collapsed, like all content).
 * chars -1 keeps it out of the length statistics; no MinHash (near duplicates are a hint about usable data).
 */
function fingerprintUnusable(facts: LineFacts, line: string): void {
  const fp = new Fingerprinter(false);
  fp.update(line, 9);
  facts.dupKey = fp.key;
  facts.dupCheck = fp.check;
  facts.chars = -1;
}

function feedMessage(fp: Fingerprinter, m: Message, separator: number): number {
  // A system prompt is usually shared by the whole file: near duplicates compare what differs.
  fp.update(m.content, separator + m.role.charCodeAt(0), m.role !== 'system');
  if (m.tool_calls) fp.update(JSON.stringify(m.tool_calls), separator + 7);
  return m.content.length;
}

/** Plain text of turns: the string itself, or the message contents joined. */
export function turnsText(turns: Turns): string {
  if (typeof turns === 'string') return turns;
  let out = '';
  for (const m of turns) out += (out ? '\n' : '') + m.content;
  return out;
}

/** The polite opening a reply starts with ("Sure", "Certainly", "当然", ...), if any. */
export function politePrefix(text: string): string | undefined {
  const start = text.trimStart().slice(0, 24).toLowerCase();
  return POLITE_PREFIXES.find((p) => start.startsWith(p));
}
