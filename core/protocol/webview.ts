// Messages between the extension host and its webview panels (postMessage), declared once and imported
// by both ends. The dashboard and samples views speak the daemon's own JSON-RPC protocol: inside VS Code
// the host relays their frames to a daemon socket (the token never enters the webview); in a browser the
// same code opens the WebSocket itself. The pair inspector and the dataset report are editor-only views
// and use the typed messages below.

import type { Diagnostic, Severity } from '../diagnostics.ts';
import type { DatasetSummary, RecordFormat, Turns } from '../datasets/types.ts';
import type { PairScoreKind } from './scorePairs.ts';
import type { CompareHostToView, CompareViewToHost } from './compareView.ts';

/** The panels Anneal opens; each bundle is `dist/webviews/<kind>.js`. */
export type ViewKind = 'dashboard' | 'samples' | 'pairs' | 'report' | 'compare' | 'pipelineReport';

// ---- daemon relay (dashboard, samples) ---------------------------------------------------------

/** Either direction: one JSON-RPC frame of the daemon protocol, relayed unchanged. */
export interface RpcFrameMessage {
  type: 'rpc';
  frame: string;
}

/** host -> view: the relay's connection to the daemon changed; the view shows it and re-subscribes on `open`. */
export interface RelayStateMessage {
  type: 'relay/state';
  state: 'connecting' | 'open' | 'closed';
  /** Why it is closed and what to do, in one sentence. */
  reason?: string;
}

/** host -> view: which runs the dashboard (or samples view) should show; the first is the main one. */
export interface ShowRunsMessage {
  type: 'view/showRuns';
  runIds: string[];
}

// ---- pair inspector ---------------------------------------------------------------------------

/** One preference pair as the inspector shows it. Implicit-prompt pairs arrive split into prompt + continuations. */
export interface PairView {
  /** 0-based line of the record in the document. */
  line: number;
  format: Extract<RecordFormat, 'preference-explicit' | 'preference-implicit'>;
  prompt: Turns;
  chosen: Turns;
  rejected: Turns;
  chosenChars: number;
  rejectedChars: number;
  /** Present when a tokenizer is configured. */
  chosenTokens?: number;
  rejectedTokens?: number;
  /** The record's diagnostics (identical pair, length bias share, polite prefix, ...). */
  flags: { code: string; severity: Severity; message: string }[];
  /** The model's scores of this record's current text, when the file was scored (see core/pairs/pairScores.ts). */
  score?: { chosen: number; rejected: number; margin: number };
}

/** What scored the file's pairs and how they came out, for the inspector's header. */
export interface PairsScoreSummary {
  kind: PairScoreKind;
  /** What scored them, in words. */
  description: string;
  /** Pairs with a score; of those, `negative` have a margin below 0. */
  scored: number;
  negative: number;
  /** Pairs without one: edited or added since scoring, or left out (prompt too long). */
  unscored: number;
}

export interface PairFilter {
  onlyFlagged: boolean;
  /** Case-insensitive text that must appear in the prompt, chosen or rejected. */
  search: string;
  /** Only pairs whose model score has a margin below 0 (ignored while the file has no scores). */
  onlyNegative?: boolean;
  /** `margin`: lowest margin first, unscored pairs last (ignored while the file has no scores); default `line`. */
  sort?: PairSort;
}

export type PairSort = 'line' | 'margin';

/** host -> view: the document (re)loaded or changed; `total` pairs match the current filter. */
export interface PairsResetMessage {
  type: 'pairs/reset';
  file: string;
  total: number;
  /** Pairs in the whole file and how many are flagged, for the header. */
  allPairs: number;
  flagged: number;
  /** File-level findings (length bias, polite-prefix bias) shown above the list. */
  fileFlags: { code: string; severity: Severity; message: string }[];
  /** The document version the positions refer to; edits echo it so a stale view cannot edit the wrong line. */
  version?: number;
  /** Unit of chosenTokens/rejectedTokens: present (the tokenizer's label) when a model tokenizer counts them. */
  tokenizer?: string;
  /** Present once a model scored the file's pairs. */
  scores?: PairsScoreSummary;
}

/** host -> view: the pairs at filtered positions [start, start + pairs.length). */
export interface PairsPageMessage {
  type: 'pairs/page';
  start: number;
  pairs: PairView[];
  /** The document version the page was read from (matches the last `pairs/reset`). */
  version?: number;
}

/** view -> host: send the pairs at filtered positions [start, start + count). */
export interface PairsRequestPageMessage {
  type: 'pairs/requestPage';
  start: number;
  count: number;
}

/** view -> host: change the filter; the host answers with `pairs/reset`. */
export interface PairsSetFilterMessage {
  type: 'pairs/setFilter';
  filter: PairFilter;
}

export type PairEdit =
  | { kind: 'swap' }
  | { kind: 'setSide'; side: 'chosen' | 'rejected'; text: string }
  | { kind: 'delete' };

/** view -> host: apply an edit to the record on `line` as a WorkspaceEdit (undo works, nothing written behind the editor). */
export interface PairsEditMessage {
  type: 'pairs/edit';
  line: number;
  edit: PairEdit;
  /** The version the view's line number came from; the host refuses the edit when the document moved on. */
  version?: number;
}

/** view -> host: find the next (direction 1) or previous (-1) flagged pair after filtered position `from`; answered by `pairs/select`. */
export interface PairsNextFlaggedMessage {
  type: 'pairs/nextFlagged';
  from: number;
  direction: 1 | -1;
}

/** host -> view: select (and scroll to) this filtered position; -1 when nothing was found. */
export interface PairsSelectMessage {
  type: 'pairs/select';
  position: number;
}

/** view -> host: score the pairs with a model (the host asks which, then runs `anneal.scorePairs`). */
export interface PairsScoreMessage {
  type: 'pairs/score';
}

/** view -> host: forget the file's scores. */
export interface PairsClearScoresMessage {
  type: 'pairs/clearScores';
}

/** host -> view: long work is under way (indexing a large file); the view shows `label` and done/total. */
export interface ViewProgressMessage {
  type: 'view/progress';
  label: string;
  done: number;
  total: number;
}

/** view -> host: show this line in the text editor. */
export interface RevealLineMessage {
  type: 'reveal';
  line: number;
}

// ---- dataset report ----------------------------------------------------------------------------

export interface ReportDataMessage {
  type: 'report/data';
  file: string;
  summary: DatasetSummary;
  /** Diagnostics per code with their severity. */
  byCode: { code: string; severity: Severity; count: number }[];
  /** Token (or character, when no tokenizer) length histogram. */
  histogram: { unit: 'tokens' | 'characters'; edges: number[]; counts: number[] };
  /** Later copies of exact duplicates and the line of their first copy (0-based). */
  duplicates: { line: number; firstLine: number }[];
  /** First diagnostics, for the list on the page (capped by the host). */
  diagnostics: Diagnostic[];
  /** The tokenizer's label when the histogram counts tokens. */
  tokenizer?: string;
  /** True when `diagnostics` or `duplicates` were cut to the host's cap (counts stay exact). */
  truncated?: boolean;
  /** Present once a model scored the file's pairs: the distribution of their margins. */
  margins?: ReportMargins;
}

/** The margins of the file's scored pairs (core/pairs/marginHistogram.ts). */
export interface ReportMargins {
  description: string;
  scored: number;
  /** Margin below 0: the model prefers the rejected answer. */
  negative: number;
  /** Pairs without a score (edited or added since scoring, or left out). */
  unscored: number;
  /** Bin edges (counts.length + 1, ascending, 0 among them) and counts per bin [edge i, edge i+1). */
  edges: number[];
  counts: number[];
}

// ---- panel shell ------------------------------------------------------------------------------

/** host -> view: the panel's stored state changed; the HTML shell's bootstrap stores it, views may ignore it. */
export interface PanelStateMessage {
  type: 'panel/state';
  state: PanelState;
}

// ---- unions -----------------------------------------------------------------------------------

/** Everything the host may post to a view. */
export type HostToView =
  | RpcFrameMessage
  | RelayStateMessage
  | ShowRunsMessage
  | PairsResetMessage
  | PairsPageMessage
  | ReportDataMessage
  | PairsSelectMessage
  | ViewProgressMessage
  | PanelStateMessage
  | CompareHostToView;

/** Everything a view may post to the host. `ready` is sent once the view's script has loaded. */
export type ViewToHost =
  | RpcFrameMessage
  | { type: 'ready' }
  | PairsRequestPageMessage
  | PairsSetFilterMessage
  | PairsEditMessage
  | PairsNextFlaggedMessage
  | PairsScoreMessage
  | PairsClearScoresMessage
  | RevealLineMessage
  | CompareViewToHost;

/** State a panel's serializer stores so the view comes back after a window reload. */
export interface PanelState {
  kind: ViewKind;
  /** dashboard/samples: the runs shown; pairs/report: the document's URI. */
  runIds?: string[];
  uri?: string;
  /** pipelineReport: the pipeline shown. */
  pipelineId?: string;
}
