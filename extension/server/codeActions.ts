// Quick fixes and rewrites: fix a role typo, drop a duplicate record, fix a recipe key typo, and
// convert records to TRL's canonical form (alpaca / sharegpt / prompt-completion to `messages`, other
// tools' formats to TRL's messages, pair or KTO form; one record or the whole file).
import {
  CodeActionKind,
  type CodeAction,
  type CodeActionParams,
  type Diagnostic,
  type Range,
  type TextEdit,
} from 'vscode-languageserver/node';
import { convertRecord, CONVERTIBLE_FORMATS, type TrlForm } from '../../core/datasets/convert.ts';
import type { CheckedDocument } from './documents.ts';

const FORM_NAMES: Record<TrlForm, string> = {
  messages: 'messages',
  'prompt-completion': 'prompt/completion',
  preference: 'prompt/chosen/rejected',
  'unpaired-preference': 'prompt/completion/label',
};
/** Lines of the request range inspected for per-record conversions. */
const MAX_LINES_PER_REQUEST = 200;

/** Payload of the whole-file conversion, resolved lazily (it may touch 100k lines). */
export interface ConvertAllData {
  kind: 'anneal.convertAll';
  uri: string;
  version: number;
}

/** Code actions for the request's range and diagnostics. */
export function codeActions(doc: CheckedDocument, params: CodeActionParams): CodeAction[] {
  const uri = doc.uri;
  const actions: CodeAction[] = [];
  for (const d of params.context.diagnostics) {
    if (d.source !== 'anneal') continue;
    const fix = quickFix(doc, d);
    if (fix) actions.push(fix);
  }
  // A file a dataset_info.json describes must keep the spelling its entry names.
  if (doc.kind !== 'dataset' || doc.describedByDatasetInfo) return actions;

  const first = params.range.start.line;
  const last = Math.min(params.range.end.line, first + MAX_LINES_PER_REQUEST, doc.lines.lineCount - 1);
  for (let line = first; line <= last; line++) {
    const info = doc.recordAt(line);
    const text = doc.lines.lineContent(line);
    if (info && !CONVERTIBLE_FORMATS.includes(info.format)) continue;
    if (!info && !/"(instruction|conversations|completion|chosen|rejected|preferred_output|segments|messages)"/.test(text)) continue;
    const converted = convertRecord(text);
    if (converted === undefined) continue;
    const format = info?.format ?? 'this';
    actions.push({
      title: `Convert ${format} record to TRL's ${FORM_NAMES[converted.form]} form`,
      kind: CodeActionKind.RefactorRewrite,
      edit: { changes: { [uri]: [{ range: lineRange(doc, line), newText: converted.text }] } },
    });
  }
  const formats = doc.checked().report?.summary.formats ?? {};
  const present = CONVERTIBLE_FORMATS.filter((f) => (formats[f] ?? 0) > 0 && f !== 'messages');
  const convertible = present.reduce((n, f) => n + (formats[f] ?? 0), 0);
  if (convertible > 0) {
    const data: ConvertAllData = { kind: 'anneal.convertAll', uri, version: doc.version };
    actions.push({
      title: `Convert all ${convertible.toLocaleString('en-US')} ${present.join('/')} records in the file to TRL's form`,
      kind: CodeActionKind.Source + '.convertToMessages',
      data,
    });
  }
  return actions;
}

/** Fills in the edit of a whole-file conversion. */
export function resolveConvertAll(doc: CheckedDocument, action: CodeAction): CodeAction {
  const lines: string[] = [];
  let changed = 0;
  for (let i = 0; i < doc.lines.lineCount; i++) {
    const raw = doc.lines.line(i);
    const cr = raw.endsWith('\r') ? '\r' : '';
    const converted = raw.trim() === '' ? undefined : convertRecord(doc.lines.lineContent(i))?.text;
    if (converted !== undefined) changed++;
    lines.push(converted !== undefined ? converted + cr : raw);
  }
  const lastLine = doc.lines.lineCount - 1;
  const edit: TextEdit = {
    range: { start: { line: 0, character: 0 }, end: { line: lastLine, character: doc.lines.lineContent(lastLine).length } },
    newText: lines.join('\n').replace(/\r$/, ''),
  };
  return { ...action, title: `${action.title} (${changed} converted)`, edit: { changes: { [doc.uri]: [edit] } } };
}

function quickFix(doc: CheckedDocument, d: Diagnostic): CodeAction | undefined {
  const uri = doc.uri;
  const data = (d.data ?? {}) as Record<string, unknown>;
  const suggestion = [data['expected'], data['suggestion'], data['key'], data['replacement']].find((v) => typeof v === 'string') as string | undefined;
  if (d.code === 'role-typo' && suggestion) {
    const current = textIn(doc, d.range);
    const newText = current.startsWith('"') ? JSON.stringify(suggestion) : suggestion;
    return {
      title: `Change ${current} to ${JSON.stringify(suggestion)}`,
      kind: CodeActionKind.QuickFix,
      isPreferred: true,
      diagnostics: [d],
      edit: { changes: { [uri]: [{ range: d.range, newText }] } },
    };
  }
  if (d.code === 'duplicate-record') {
    const firstCopy = d.relatedInformation?.[0]?.location.range.start.line;
    return {
      title: firstCopy !== undefined ? `Remove this duplicate of line ${firstCopy + 1}` : 'Remove this duplicate record',
      kind: CodeActionKind.QuickFix,
      isPreferred: true,
      diagnostics: [d],
      edit: { changes: { [uri]: [{ range: wholeLineRange(doc, d.range.start.line), newText: '' }] } },
    };
  }
  if (typeof d.code === 'string' && d.code.endsWith('unknown-key') && suggestion) {
    const current = textIn(doc, d.range);
    const quote = current.startsWith('"') ? '"' : current.startsWith("'") ? "'" : '';
    return {
      title: `Rename to ${suggestion}`,
      kind: CodeActionKind.QuickFix,
      isPreferred: true,
      diagnostics: [d],
      edit: { changes: { [uri]: [{ range: d.range, newText: quote + suggestion + quote }] } },
    };
  }
  return undefined;
}

/** The text of a single-line range (multi-line ranges give their first line's part). */
function textIn(doc: CheckedDocument, range: Range): string {
  const line = doc.lines.lineContent(range.start.line);
  const end = range.end.line === range.start.line ? range.end.character : line.length;
  return line.slice(range.start.character, end);
}

/** The line's content, without its line break. */
function lineRange(doc: CheckedDocument, line: number): Range {
  return { start: { line, character: 0 }, end: { line, character: doc.lines.lineContent(line).length } };
}

/** The line and its line break, so deleting it leaves no blank line. */
function wholeLineRange(doc: CheckedDocument, line: number): Range {
  if (line + 1 < doc.lines.lineCount) return { start: { line, character: 0 }, end: { line: line + 1, character: 0 } };
  if (line > 0) {
    return { start: { line: line - 1, character: doc.lines.lineContent(line - 1).length }, end: { line, character: doc.lines.lineContent(line).length } };
  }
  return lineRange(doc, line);
}
