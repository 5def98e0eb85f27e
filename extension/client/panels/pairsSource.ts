// The pair inspector's model of one document, without any vscode API so the benchmark drives the
// same code: a line mirror updated from content changes, the incremental DatasetModel the index is
// read from, a model's scores of the pairs (if any), the current filter, and the pages the view asks for. Long steps run in chunks and give
// the event loop a turn in between; a newer load or filter cancels an older one.
import type { DatasetModel } from '../../../core/datasets/model.ts';
import type { DatasetCheckOptions } from '../../../core/datasets/types.ts';
import { effectiveFilter, filteredCount, filterSteps, isIdentityFilter, nextFlagged, pairAt, type FilteredPairs } from '../../../core/pairs/pairFilter.ts';
import { indexSteps, pairIndexFromModel, pairPosition, type PairIndex } from '../../../core/pairs/pairIndex.ts';
import type { Progress } from '../../../core/report/checkSteps.ts';
import { fileHints, pairViewOf, type CountSides } from '../../../core/pairs/pairView.ts';
import { marginSummary, pairMargins, type ScoredFile } from '../../../core/pairs/pairScores.ts';
import type { PairFilter, PairsPageMessage, PairsResetMessage, PairView } from '../../../core/protocol/webview.ts';
import { TextLines, type ContentChange } from '../../server/textLines.ts';
import { yieldToEventLoop } from './yield.ts';

/** Most pairs one page request returns. */
export const MAX_PAGE = 200;

export type ProgressListener = (label: string, progress: Progress) => void;

export class PairsSource {
  private lines: TextLines | undefined;
  private model: DatasetModel | undefined;
  private index: PairIndex | undefined;
  private view: FilteredPairs;
  private filter: PairFilter;
  private scores: ScoredFile | undefined;
  /** Each pair's margin (NaN: unscored), for the current index and scores; undefined without scores. */
  private margins: Float64Array | undefined;
  private generation = 0;
  private stale = false;
  version = -1;

  constructor(
    private readonly options: DatasetCheckOptions,
    private readonly countSides?: CountSides,
    private readonly tokenizer?: string,
    filter: PairFilter = { onlyFlagged: false, search: '' },
  ) {
    this.filter = filter;
  }

  /** The filter in force (kept when the panel replaces its source after a settings change). */
  get currentFilter(): PairFilter {
    return this.filter;
  }

  /** True once an index exists. */
  get loaded(): boolean {
    return this.index !== undefined;
  }

  /** Builds everything from the document's text; false when a newer load or filter overtook it. */
  async load(text: string, version: number, onProgress?: ProgressListener): Promise<boolean> {
    const generation = ++this.generation;
    const lines = new TextLines(text);
    const all: string[] = [];
    for (let i = 0; i < lines.lineCount; i++) all.push(lines.line(i));
    const steps = indexSteps(all, this.options);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        this.lines = lines;
        this.model = step.value.model;
        this.index = step.value.index;
        this.margins = this.marginsOf(this.index);
        this.version = version;
        this.stale = false;
        break;
      }
      onProgress?.('Checking pairs', step.value);
      await yieldToEventLoop();
      if (generation !== this.generation) return false;
    }
    return this.applyFilter(this.filter, onProgress, generation);
  }

  /**
   * Applies a document's content changes (in the order VS Code reports them) to the mirror and the
   * model. Cheap per change; the index is rebuilt lazily by `refresh`. Returns false when the mirror
   * no longer matches `lineCount` (then the caller reloads from the full text).
   */
  applyChanges(changes: readonly ContentChange[], version: number, lineCount: number): boolean {
    if (!this.lines || !this.model) return false;
    for (const change of changes) {
      const edit = this.lines.apply(change);
      this.model.applyEdit(edit.startLine, edit.endLineExclusive, edit.newLines);
    }
    this.version = version;
    this.stale = true;
    return this.lines.lineCount === lineCount;
  }

  /** Re-reads the index from the model after changes and re-applies the filter; false when overtaken. */
  async refresh(onProgress?: ProgressListener): Promise<boolean> {
    if (!this.model) return false;
    const generation = ++this.generation;
    this.index = pairIndexFromModel(this.model);
    this.margins = this.marginsOf(this.index);
    this.stale = false;
    return this.applyFilter(this.filter, onProgress, generation);
  }

  /** Puts a model's scores on the pairs (undefined removes them) and re-applies the filter; false when overtaken. */
  async setScores(scores: ScoredFile | undefined, onProgress?: ProgressListener): Promise<boolean> {
    this.scores = scores;
    if (!this.index || this.stale) return true; // applied when the index is (re)built
    this.margins = this.marginsOf(this.index);
    return this.applyFilter(this.filter, onProgress, ++this.generation);
  }

  private marginsOf(index: PairIndex): Float64Array | undefined {
    return this.scores ? pairMargins(index, (line) => this.lineText(line), this.scores) : undefined;
  }

  /** Changes the filter; false when a newer load or filter overtook it. */
  async setFilter(filter: PairFilter, onProgress?: ProgressListener): Promise<boolean> {
    return this.applyFilter(filter, onProgress, ++this.generation);
  }

  private async applyFilter(filter: PairFilter, onProgress: ProgressListener | undefined, generation: number): Promise<boolean> {
    this.filter = { onlyFlagged: filter.onlyFlagged, search: filter.search, onlyNegative: filter.onlyNegative === true, sort: filter.sort === 'margin' ? 'margin' : 'line' };
    const index = this.index;
    if (!index) return false;
    const margins = this.margins;
    if (isIdentityFilter(effectiveFilter(this.filter, margins))) {
      this.view = undefined;
      return true;
    }
    const steps = filterSteps(index, this.filter, (line) => this.lineText(line), undefined, margins);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        if (generation !== this.generation) return false;
        this.view = step.value;
        return true;
      }
      onProgress?.('Filtering', step.value);
      await yieldToEventLoop();
      if (generation !== this.generation || this.index !== index || this.margins !== margins) return false;
    }
  }

  /** Whether changes arrived since the index was built. */
  get isStale(): boolean {
    return this.stale;
  }

  /** A document line's text without its line break (from the mirror, so it matches the index). */
  lineText(line: number): string {
    return this.lines?.lineContent(line) ?? '';
  }

  /** The `pairs/reset` message for the current index and filter. */
  resetMessage(file: string): PairsResetMessage {
    const index = this.index;
    const message: PairsResetMessage = {
      type: 'pairs/reset',
      file,
      total: index ? filteredCount(index, this.view) : 0,
      allPairs: index ? index.lines.length : 0,
      flagged: index ? index.flaggedCount : 0,
      fileFlags: (index?.fileFlags ?? []).map(({ code, severity, message }) => ({ code, severity, message })),
      version: this.version,
    };
    if (this.tokenizer) message.tokenizer = this.tokenizer;
    if (this.scores && this.margins) message.scores = { kind: this.scores.kind, description: this.scores.description, ...marginSummary(this.margins) };
    return message;
  }

  /** The pairs at filtered positions [start, start + count), at most MAX_PAGE. */
  page(start: number, count: number): PairsPageMessage {
    const index = this.index;
    const pairs: PairView[] = [];
    if (index) {
      const end = Math.min(filteredCount(index, this.view), start + Math.min(Math.max(0, count), MAX_PAGE));
      for (let p = Math.max(0, start); p < end; p++) {
        const i = pairAt(index, this.view, p)!;
        const line = index.lines[i];
        const view = pairViewOf(this.lineText(line), line, index.flagsByLine.get(line) ?? [], this.countSides);
        if (!view) continue;
        view.flags.push(...fileHints(view, index.fileFlags));
        const score = this.margins && !Number.isNaN(this.margins[i]) ? this.scores?.byText.get(this.lineText(line)) : undefined;
        if (score) view.score = { ...score };
        pairs.push(view);
      }
    }
    return { type: 'pairs/page', start, pairs, version: this.version };
  }

  /** The filtered position of the next/previous flagged pair after `from`, or -1. */
  nextFlagged(from: number, direction: 1 | -1): number {
    return this.index ? nextFlagged(this.index, this.view, from, direction) : -1;
  }

  /** Whether `line` currently holds a pair (edits elsewhere are refused). */
  isPairLine(line: number): boolean {
    return this.index ? pairPosition(this.index, line) >= 0 : false;
  }
}
