// DatasetModel: the incremental checker the language server keeps per open document (and the CLI
// feeds line batches into). Per-line analysis is cached; an edit re-analyses only the changed lines
// and moves their contributions in and out of the running aggregates, so a report after a one-line
// edit costs one pass over cached facts, not a re-parse of the file.

import type { Diagnostic } from '../diagnostics.ts';
import { Aggregates } from './aggregates.ts';
import { DATASET_CODES } from './codes.ts';
import { makeCanonicalizer } from './datasetInfo.ts';
import { describeKind, kindAccepts, kindOfStage, turnFields } from './detect.ts';
import { distributionDiagnostics, duplicateDiagnostics, lineEndingDiagnostic, lineRange, nearDuplicateDiagnostics, notJsonlDiagnostic } from './fileRules.ts';
import { analyzeLine, type LineContext, type LineFacts } from './lineAnalysis.ts';
import { lengthStats } from './stats.ts';
import type { DatasetCheckOptions, DatasetKind, DatasetReport, DatasetSummary, RecordFormat, RecordInfo, RecordStyle } from './types.ts';

/** Spreading more than this many items into splice() risks a stack overflow. */
const SPLICE_CHUNK = 8192;

export class DatasetModel {
  private facts: LineFacts[] = [];
  private agg = new Aggregates();
  private readonly ctx: LineContext;
  private cached: DatasetReport | undefined;

  constructor(private readonly options: DatasetCheckOptions = {}) {
    this.ctx = lineContext(options);
  }

  /** Number of lines in the document (a trailing newline leaves one empty last line, as in editors). */
  get lineCount(): number {
    return this.facts.length;
  }

  /** Replace the whole document. */
  setText(text: string): void {
    this.facts = [];
    this.agg = new Aggregates();
    this.applyEdit(0, 0, text.split('\n'));
  }

  /**
   * Replace lines [startLine, endLine) of the current document with `newLines`.
   * `invalidUtf8` maps an index in `newLines` to the column of its first non-UTF-8 byte.
   */
  applyEdit(startLine: number, endLine: number, newLines: readonly string[], invalidUtf8?: ReadonlyMap<number, number>): void {
    const start = Math.max(0, Math.min(startLine, this.facts.length));
    const end = Math.max(start, Math.min(endLine, this.facts.length));
    for (let i = start; i < end; i++) this.agg.apply(this.facts[i], -1);
    const fresh: LineFacts[] = new Array(newLines.length);
    for (let i = 0; i < newLines.length; i++) {
      const f = analyzeLine(newLines[i], this.ctx, invalidUtf8?.get(i));
      this.agg.apply(f, 1);
      fresh[i] = f;
    }
    if (fresh.length <= SPLICE_CHUNK) this.facts.splice(start, end - start, ...fresh);
    else this.facts = this.facts.slice(0, start).concat(fresh, this.facts.slice(end));
    this.cached = undefined;
  }

  /** Append complete lines at the end (streaming a file in batches). */
  appendLines(lines: readonly string[], invalidUtf8?: ReadonlyMap<number, number>): void {
    this.applyEdit(this.facts.length, this.facts.length, lines, invalidUtf8);
  }

  /** Size the whole-file tables for about `records` more lines, when a caller can estimate them (the CLI, from a file's size). */
  reserve(records: number): void {
    this.agg.reserve(this.agg.records + records);
  }

  /** Append lines analysed elsewhere (worker threads of the CLI) with `analyzeLines`. */
  appendFacts(facts: readonly LineFacts[]): void {
    for (const f of facts) {
      this.agg.apply(f, 1);
      this.facts.push(f);
    }
    this.cached = undefined;
  }

  /** What the checker knows about the record on `line`; undefined for blank or invalid lines. */
  recordAt(line: number): RecordInfo | undefined {
    const f = this.facts[line];
    if (!f || f.status !== 'record') return undefined;
    f.index = line;
    return recordInfo(f);
  }

  /** The file's kind: forced by options, else the kind most records belong to. */
  kind(): { kind: DatasetKind | undefined; source: DatasetSummary['kindSource'] } {
    if (this.options.kind) return { kind: this.options.kind, source: 'forced' };
    if (this.options.stage) return { kind: kindOfStage(this.options.stage), source: 'forced' };
    const best = dominant(this.agg.kinds, () => true, KIND_ORDER);
    return { kind: best, source: best ? 'detected' : 'none' };
  }

  /** Diagnostics and summary for the current text. */
  report(): DatasetReport {
    if (this.cached) return this.cached;
    const facts = this.facts;
    const agg = this.agg;
    const { kind, source } = this.kind();
    const dominantFormat = dominant(agg.formats, (f) => !kind || kindAccepts(kind, f), FORMAT_ORDER);
    const dominantStyle = dominant<RecordStyle>(agg.styles, () => true, STYLE_ORDER);
    const chars: number[] = [];
    const tokens: number[] = [];
    const snapshot: LineFacts[] = [];
    const indexes: number[] = [];
    for (let i = 0; i < facts.length; i++) {
      const f = facts[i];
      f.index = i;
      if (f.status !== 'record') continue;
      snapshot.push(f);
      indexes.push(i);
      if (f.dupKey >= 0 && f.chars >= 0) chars.push(f.chars); // measured (usable) records only
      if (f.tokens >= 0) tokens.push(f.tokens);
    }

    const extra = new Map<LineFacts, Diagnostic[]>();
    const duplicates = duplicateDiagnostics(agg, extra);
    const nearDuplicates = this.ctx.nearDuplicates ? nearDuplicateDiagnostics(agg, extra) : 0;
    for (const [f, list] of extra) f.extra = list;
    const head: Diagnostic[] = [];
    const notJsonl = notJsonlDiagnostic(agg, facts);
    if (notJsonl) head.push(notJsonl);
    const endings = lineEndingDiagnostic(agg, facts);
    if (endings) head.push(endings);
    if (snapshot.length > 0) head.push(...distributionDiagnostics(agg, kind, snapshot[0]));

    const max = this.options.maxDiagnostics ?? Infinity;
    const diagnostics: Diagnostic[] = [];
    const counts = { error: agg.errors, warning: agg.warnings, info: agg.infos, hint: 0 };
    let truncated = false;
    const emit = (d: Diagnostic, counted: boolean) => {
      if (!counted) counts[d.severity]++;
      if (diagnostics.length < max) diagnostics.push(d);
      else truncated = true;
    };
    // File-level findings sit on early lines; emit them in line order with the per-line ones.
    head.sort((a, b) => a.range.start.line - b.range.start.line);
    let h = 0;
    const last = facts.length - 1;
    for (let i = 0; i < facts.length; i++) {
      const f = facts[i];
      while (h < head.length && head[h].range.start.line <= i) emit(head[h++], false);
      if (f.diags) {
        for (const d of f.diags) emit({ code: d.code, severity: d.severity, message: d.message, range: lineRange(f, d.start, d.end), ...(d.data === undefined ? {} : { data: d.data }) }, true);
      }
      if (f.status === 'blank' && i !== last) {
        emit({ code: 'empty-line', severity: DATASET_CODES['empty-line'], message: 'Empty line; remove it (every line must hold one record).', range: lineRange(f, 0, f.length) }, false);
      } else if (f.status === 'record' && f.format && kind) {
        const d = kindDiagnostic(f, kind, dominantFormat, dominantStyle, agg.formats.get(dominantFormat!) ?? 0, agg.records);
        if (d) emit(d, false);
      }
      if (f.extra) {
        for (const d of f.extra) emit(d, false);
        f.extra = undefined;
      }
    }
    while (h < head.length) emit(head[h++], false);

    const formats: Partial<Record<RecordFormat, number>> = {};
    for (const [format, n] of agg.formats) formats[format] = n;
    const summary: DatasetSummary = {
      kind,
      kindSource: source,
      records: agg.records,
      invalidLines: agg.invalid,
      blankLines: agg.blank - (facts[last]?.status === 'blank' ? 1 : 0),
      formats,
      styles: { standard: agg.styles.get('standard') ?? 0, conversational: agg.styles.get('conversational') ?? 0 },
      errors: counts.error,
      warnings: counts.warning,
      infos: counts.info + counts.hint,
      duplicates,
      nearDuplicates,
      chars: lengthStats(chars),
      ...(tokens.length > 0 ? { tokens: lengthStats(tokens) } : {}),
    };
    let records: RecordInfo[] | undefined;
    const report: DatasetReport = {
      diagnostics,
      summary,
      truncated,
      // Built on first use: the language server rarely needs 100k RecordInfo objects per keystroke.
      get records(): RecordInfo[] {
        records ??= snapshot.map((f, i) => recordInfo(f, indexes[i]));
        return records;
      },
    };
    this.cached = report;
    return report;
  }
}

const KIND_ORDER: DatasetKind[] = ['sft', 'preference', 'prompt-only', 'text', 'unpaired-preference', 'stepwise-supervision'];
const FORMAT_ORDER: RecordFormat[] = [
  'messages', 'prompt-completion', 'alpaca', 'sharegpt', 'preference-explicit', 'preference-implicit', 'prompt-only', 'text', 'unpaired-preference',
  'sharegpt-ranking', 'unpaired-conversation', 'preference-messages', 'openai-preference', 'axolotl-dpo', 'segments', 'stepwise',
];
const STYLE_ORDER: RecordStyle[] = ['standard', 'conversational'];

/** The most frequent accepted key; ties go to the earlier key in `order` so results never depend on edit history. */
/** The per-line analysis settings implied by the options. */
export function lineContext(options: DatasetCheckOptions): LineContext {
  return {
    countTokens: options.countTokens,
    maxLength: options.maxLength,
    requiredColumns: options.requiredColumns,
    canonicalizer: options.datasetInfo ? makeCanonicalizer(options.datasetInfo) : undefined,
    retainRecords: options.retainRecords ?? true,
    nearDuplicates: options.nearDuplicates ?? true,
  };
}

/** Analyse lines outside a model (e.g. in a worker), to be added with `appendFacts` in order. */
export function analyzeLines(lines: readonly string[], options: DatasetCheckOptions, invalidUtf8?: ReadonlyMap<number, number>): LineFacts[] {
  const ctx = lineContext(options);
  return lines.map((line, i) => analyzeLine(line, ctx, invalidUtf8?.get(i)));
}

function dominant<K>(counts: Map<K, number>, accept: (k: K) => boolean, order: readonly K[]): K | undefined {
  let best: K | undefined;
  let bestCount = 0;
  for (const k of order) {
    const n = counts.get(k) ?? 0;
    if (accept(k) && n > bestCount) [best, bestCount] = [k, n];
  }
  return best;
}

const KIND_FIELDS: Record<DatasetKind, string> = {
  sft: '"messages"',
  preference: '"prompt", "chosen" and "rejected"',
  'prompt-only': '"prompt"',
  text: '"text"',
  'unpaired-preference': '"prompt", "completion" and "label"',
  'stepwise-supervision': '"prompt", "completions" and "labels"',
};

/** A record whose format does not fit the file's kind, or differs from the file's usual format/style. */
function kindDiagnostic(f: LineFacts, kind: DatasetKind, dominantFormat: RecordFormat | undefined, dominantStyle: RecordStyle | undefined, dominantCount: number, records: number): Diagnostic | undefined {
  const format = f.format!;
  const accepted = kindAccepts(kind, format);
  // The common case (a record like its neighbours) allocates nothing.
  if (accepted && (!dominantFormat || format === dominantFormat) && (!dominantStyle || f.style === dominantStyle || turnFields(format).length === 0)) return undefined;
  const at = lineRange(f, f.anchor.start, f.anchor.end);
  if (!accepted) {
    // A record that only lacks the fields the kind needs reads better as missing-field.
    const needs = kind === 'sft' && format === 'prompt-only' ? ['completion'] : kind === 'preference' && (format === 'prompt-only' || format === 'prompt-completion') ? ['chosen', 'rejected'] : undefined;
    if (needs) {
      return { code: 'missing-field', severity: DATASET_CODES['missing-field'], message: `This is ${describeKind(kind)}, so the record needs ${needs.map((n) => `"${n}"`).join(' and ')}; add ${needs.length > 1 ? 'them' : 'it'}.`, range: at, data: { field: needs[0], fields: needs } };
    }
    return { code: 'wrong-kind', severity: DATASET_CODES['wrong-kind'], message: `This ${format} record does not belong in ${describeKind(kind)}, which needs ${KIND_FIELDS[kind]}; convert or move it.`, range: at, data: { format, kind } };
  }
  if (dominantFormat && format !== dominantFormat) {
    return { code: 'mixed-formats', severity: DATASET_CODES['mixed-formats'], message: `This record is ${format} but most records (${dominantCount} of ${records}) are ${dominantFormat}; keep one format per file.`, range: at, data: { format, dominant: dominantFormat } };
  }
  if (dominantStyle && f.style !== dominantStyle && turnFields(format).length > 0) {
    return { code: 'mixed-styles', severity: DATASET_CODES['mixed-styles'], message: `This record is ${f.style} (${f.style === 'standard' ? 'plain strings' : 'message lists'}) but most records are ${dominantStyle}; use one style per file.`, range: at, data: { style: f.style, dominant: dominantStyle } };
  }
  return undefined;
}

function recordInfo(f: LineFacts, line = f.index): RecordInfo {
  return {
    line,
    format: f.format!,
    style: f.style!,
    ...(f.normalized ? { normalized: f.normalized } : {}),
    range: { start: { line, character: 0 }, end: { line, character: f.length } },
    chars: Math.max(0, f.chars),
    ...(f.tokens >= 0 ? { tokens: f.tokens } : {}),
  };
}
