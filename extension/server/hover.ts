// The record hover: what the record is (format, style, turns, size, tokens) and how the model sees
// it, i.e. the text after the chat template with the tokens that carry loss in bold. Without a model
// the built-in tiny tokenizer's ChatML rendering is used and the hover says so.
import type { MarkupContent } from 'vscode-languageserver/node';
import type { NormalizedRecord, RecordInfo, Turns } from '../../core/datasets/types.ts';
import type { ChatTokenizer, EncodedRecord } from '../../core/tokenize/index.ts';

/** Rendered characters shown per side before the hover cuts the rest. */
const MAX_RENDERED_CHARS = 3000;
/** Records with more content characters are described but not tokenised in the hover. */
const MAX_TOKENISED_CHARS = 200_000;

export interface HoverTokenizer {
  tokenizer: ChatTokenizer;
  /** e.g. `Qwen3-0.6B tokenizer` or `built-in tiny ChatML tokenizer`. */
  label: string;
  /** True for the tiny fallback (no model configured). */
  fallback: boolean;
  /** Why the configured model could not be used, when it could not. */
  problem?: string;
}

/** Markdown for hovering the record described by `info` (named by its 1-based line, as the gutter shows it). */
export function recordHover(info: RecordInfo, tok: HoverTokenizer, isCancelled: () => boolean): MarkupContent {
  const record = info.normalized;
  const facts = [`**Record on line ${(info.line + 1).toLocaleString('en-US')}**`, info.format, info.style];
  const turns = record ? turnCount(record) : undefined;
  if (turns !== undefined) facts.push(`${turns} turn${turns === 1 ? '' : 's'}`);
  facts.push(`${info.chars.toLocaleString('en-US')} characters`);
  if (info.tokens !== undefined) facts.push(`${info.tokens.toLocaleString('en-US')} tokens`);
  const parts = [facts.join(' · ')];

  if (!record) {
    parts.push('This record has problems that keep it from being trained on; fix them (see Problems) to see its rendering.');
    return { kind: 'markdown', value: parts.join('\n\n') };
  }
  if (info.chars > MAX_TOKENISED_CHARS) {
    parts.push(`Too large to render in a hover (${info.chars.toLocaleString('en-US')} characters).`);
    return { kind: 'markdown', value: parts.join('\n\n') };
  }

  if (tok.problem) parts.push(`⚠ ${escapeMarkdown(tok.problem)}`);
  const sides: { title?: string; encoded: EncodedRecord }[] = [];
  try {
    if (record.format === 'preference') {
      const both = tok.tokenizer.encodePreference(record);
      sides.push({ title: 'Chosen', encoded: both.chosen }, { title: 'Rejected', encoded: both.rejected });
    } else {
      sides.push({ encoded: tok.tokenizer.encodeRecord(record) });
    }
  } catch (error) {
    parts.push(`The chat template could not render this record: ${escapeMarkdown(error instanceof Error ? error.message : String(error))}`);
    return { kind: 'markdown', value: parts.join('\n\n') };
  }
  if (isCancelled()) return { kind: 'markdown', value: parts.join('\n\n') };

  const first = sides[0]!.encoded;
  const lossTokens = first.lossMask.filter(Boolean).length;
  const source = tok.fallback
    ? 'No model configured (`anneal.model.path`): rendered with the built-in tiny byte-level ChatML tokenizer, so token counts are bytes.'
    : `Rendered with the ${escapeMarkdown(tok.label)}'s chat template.`;
  const sizes =
    sides.length === 1
      ? `${first.ids.length.toLocaleString('en-US')} tokens, **${lossTokens.toLocaleString('en-US')} carry loss** (bold).`
      : sides.map((s) => `${s.title}: ${s.encoded.ids.length.toLocaleString('en-US')} tokens, **${s.encoded.lossMask.filter(Boolean).length.toLocaleString('en-US')} carry loss**`).join(' · ') + ' (bold).';
  parts.push(`${source} ${sizes}`);
  for (const side of sides) {
    parts.push('---');
    if (side.title) parts.push(`**${side.title}**`);
    parts.push(renderWithLoss(side.encoded));
  }
  return { kind: 'markdown', value: parts.join('\n\n') };
}

/** The number of turns a normalized record has (prompt + continuation for pairs). */
export function turnCount(record: NormalizedRecord): number | undefined {
  const n = (t: Turns) => (typeof t === 'string' ? 1 : t.length);
  switch (record.format) {
    case 'conversation':
      return record.messages.length;
    case 'prompt-completion':
    case 'unpaired-preference':
      return n(record.prompt) + n(record.completion);
    case 'preference':
      return n(record.prompt) + Math.max(n(record.chosen), n(record.rejected));
    case 'prompt-only':
      return n(record.prompt);
    case 'segments':
      return record.segments.length;
    case 'stepwise':
      return n(record.prompt) + record.completions.length;
    case 'text':
      return undefined;
  }
}

const SPECIAL = /<\|[^|\s]{1,40}\|>|<\/?think>|<\/?s>|\[\/?INST\]|<start_of_turn>|<end_of_turn>/g;

/** Markdown of the rendered text, loss-carrying spans in bold, special tokens as inline code. */
export function renderWithLoss(encoded: EncodedRecord): string {
  const { text, offsets, lossMask } = encoded;
  const shown = Math.min(text.length, MAX_RENDERED_CHARS);
  // Per character: does a loss-carrying token cover it?
  const loss = new Uint8Array(shown);
  for (let i = 0; i < offsets.length; i++) {
    if (!lossMask[i]) continue;
    const [s, e] = offsets[i]!;
    for (let c = s; c < Math.min(e, shown); c++) loss[c] = 1;
  }
  const out: string[] = [];
  let lineStart = 0;
  const body = text.slice(0, shown);
  for (const line of body.split('\n')) {
    out.push(renderLine(line, lineStart, loss) || '&nbsp;');
    lineStart += line.length + 1;
  }
  let md = out.join('  \n');
  if (encoded.truncated) md += '  \n*(the tokenizer truncated the record here)*';
  if (text.length > shown) md += `  \n*… ${(text.length - shown).toLocaleString('en-US')} more characters*`;
  return md;
}

function renderLine(line: string, base: number, loss: Uint8Array): string {
  // Split into runs of equal loss flag, then render specials and plain text inside each run.
  let md = '';
  let runStart = 0;
  for (let i = 1; i <= line.length; i++) {
    if (i === line.length || loss[base + i] !== loss[base + runStart]) {
      md += renderRun(line.slice(runStart, i), loss[base + runStart] === 1);
      runStart = i;
    }
  }
  return md;
}

function renderRun(text: string, bold: boolean): string {
  // Emphasis may not start or end with whitespace, so keep that outside the markers.
  const [, lead, core, trail] = /^(\s*)(.*?)(\s*)$/s.exec(text)!;
  const pieces: string[] = [];
  let last = 0;
  for (const m of core!.matchAll(SPECIAL)) {
    if (m.index! > last) pieces.push(escapeMarkdown(core!.slice(last, m.index!)));
    pieces.push('`' + m[0] + '`');
    last = m.index! + m[0].length;
  }
  if (last < core!.length) pieces.push(escapeMarkdown(core!.slice(last)));
  const inner = pieces.join('');
  return spaces(lead!) + (bold && inner ? `**${inner}**` : inner) + spaces(trail!);
}

function spaces(ws: string): string {
  return ws.replace(/\t/g, '    ').replace(/ {2,}/g, (run) => ' ' + '&nbsp;'.repeat(run.length - 1));
}

/** Escapes Markdown's punctuation so record text shows literally. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~&]/g, '\\$&').replace(/ {2,}/g, (run) => ' ' + '&nbsp;'.repeat(run.length - 1));
}
