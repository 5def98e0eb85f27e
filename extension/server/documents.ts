// Open documents and their checked state, one entry per URI. A dataset keeps an incremental
// DatasetModel fed with each edit; both kinds cache their last report per document version, so the
// validation, hover, symbols and summary requests of one version share one computation.
import type { Diagnostic as LspDiagnostic } from 'vscode-languageserver/node';
import { DatasetModel } from '../../core/datasets/index.ts';
import type { DatasetCheckOptions, DatasetReport, RecordInfo } from '../../core/datasets/types.ts';
import type { Diagnostic } from '../../core/diagnostics.ts';
import type { FileSummary } from '../../core/protocol/lsp.ts';
import { checkRecipe } from '../../core/recipe/index.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { capDiagnostic, toLspDiagnostic } from './convert.ts';
import { uriToPath } from './settings.ts';
import { datasetSummaryText, recipeSummaryText } from './summaryText.ts';
import { TextLines, type ContentChange } from './textLines.ts';

export type DocumentKind = 'dataset' | 'recipe';

/** Which checker a document gets, from its language id and name; undefined for documents we ignore. */
export function documentKind(uri: string, languageId: string): DocumentKind | undefined {
  const path = uri.split(/[?#]/)[0]!.toLowerCase();
  if (/\.anneal\.(ya?ml|json)$/.test(path)) return 'recipe';
  if (languageId === 'jsonl' || path.endsWith('.jsonl')) return 'dataset';
  return undefined;
}

export interface Checked {
  version: number;
  diagnostics: LspDiagnostic[];
  summary: FileSummary;
  /** Milliseconds report() took. */
  reportMs: number;
  /** The dataset report (datasets only). */
  report?: DatasetReport;
}

/** A document the server checks. */
export class CheckedDocument {
  readonly lines: TextLines;
  private model: DatasetModel | undefined;
  private cache: Checked | undefined;
  /** The most recent result, possibly of an older version (cheap context for completion). */
  lastChecked: Checked | undefined;
  /** Milliseconds spent applying edits since the last validation (for the timing trace). */
  pendingApplyMs = 0;
  /** Whether the next validation follows an open (full check) or edits. */
  pendingKind: 'open' | 'edit' = 'open';
  /** Names the tokenizer that counted tokens, for the summary. */
  tokenizerLabel = 'model tokenizer';

  constructor(
    readonly uri: string,
    readonly kind: DocumentKind,
    public version: number,
    text: string,
    private options: DatasetCheckOptions,
  ) {
    this.lines = new TextLines(text);
    if (kind === 'dataset') this.rebuildModel();
  }

  /** New check options (settings changed): rebuild the dataset model from the current text. */
  setOptions(options: DatasetCheckOptions): void {
    this.options = options;
    this.cache = undefined;
    if (this.kind === 'dataset') this.rebuildModel();
    this.pendingKind = 'open';
  }

  private rebuildModel(): void {
    const started = performance.now();
    this.model = new DatasetModel(this.options);
    this.model.setText(this.lines.getText());
    this.pendingApplyMs += performance.now() - started;
  }

  /** Applies LSP content changes in order, feeding each to the incremental model. */
  applyChanges(changes: ContentChange[], version: number): void {
    const started = performance.now();
    for (const change of changes) {
      const edit = this.lines.apply(change);
      this.model?.applyEdit(edit.startLine, edit.endLineExclusive, edit.newLines);
    }
    this.version = version;
    this.cache = undefined;
    this.pendingApplyMs += performance.now() - started;
    if (this.pendingKind !== 'open') this.pendingKind = 'edit';
  }

  /** The check result for the current version, computed at most once per version. */
  checked(): Checked {
    if (this.cache && this.cache.version === this.version) return this.cache;
    const started = performance.now();
    const result = this.kind === 'dataset' ? this.checkDataset() : this.checkRecipe();
    result.reportMs = performance.now() - started;
    this.cache = result;
    this.lastChecked = result;
    return result;
  }

  /** Whether a LLaMA-Factory dataset_info.json entry maps this file's columns (conversions would break the mapping). */
  get describedByDatasetInfo(): boolean {
    return this.options.datasetInfo !== undefined;
  }

  /** What the checker knows about the record on `line`, if it is one. */
  recordAt(line: number): RecordInfo | undefined {
    return this.model?.recordAt(line);
  }

  private checkDataset(): Checked {
    const report = this.model!.report();
    const cap = this.options.maxDiagnostics ?? 1000;
    const diagnostics = report.diagnostics.map((d) => toLspDiagnostic(d, this.uri));
    const s = report.summary;
    const total = s.errors + s.warnings + s.infos;
    if (report.truncated) diagnostics.unshift(capDiagnostic(cap, total));
    const summary: FileSummary = {
      uri: this.uri,
      version: this.version,
      fileKind: 'dataset',
      records: s.records,
      errors: s.errors,
      warnings: s.warnings,
      infos: s.infos,
      formats: s.formats,
      datasetKind: s.kind,
      style: s.styles.standard > 0 && s.styles.conversational > 0 ? 'mixed' : s.styles.conversational > 0 ? 'conversational' : s.styles.standard > 0 ? 'standard' : undefined,
      tokens: s.tokens ? { p50: s.tokens.p50, p90: s.tokens.p90, p99: s.tokens.p99, max: s.tokens.max, tokenizer: this.tokenizerLabel } : undefined,
      truncated: report.truncated,
      maxDiagnostics: cap,
      text: datasetSummaryText(s),
    };
    return { version: this.version, diagnostics, summary, report, reportMs: 0 };
  }

  private checkRecipe(): Checked {
    const { diagnostics: found } = checkRecipe(this.lines.getText(), uriToPath(this.uri), nodeFiles);
    const cap = this.options.maxDiagnostics ?? 1000;
    const counts = count(found);
    const shown = found.slice(0, cap);
    const diagnostics = shown.map((d) => toLspDiagnostic(d, this.uri));
    if (found.length > cap) diagnostics.unshift(capDiagnostic(cap, found.length));
    const summary: FileSummary = {
      uri: this.uri,
      version: this.version,
      fileKind: 'recipe',
      records: 0,
      ...counts,
      formats: {},
      truncated: found.length > cap,
      maxDiagnostics: cap,
      text: recipeSummaryText(counts.errors, counts.warnings),
    };
    return { version: this.version, diagnostics, summary, reportMs: 0 };
  }
}

function count(diagnostics: Diagnostic[]): { errors: number; warnings: number; infos: number } {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const d of diagnostics) {
    if (d.severity === 'error') errors++;
    else if (d.severity === 'warning') warnings++;
    else infos++;
  }
  return { errors, warnings, infos };
}
