// Messages between the extension host and its webview panels (postMessage), declared once and imported
// by both ends. The dashboard and samples views speak the daemon's own JSON-RPC protocol: inside VS Code
// the host relays their frames to a daemon socket (the token never enters the webview); in a browser the
// same code opens the WebSocket itself. The pair inspector and the dataset report are editor-only views
// and use the typed messages below.

import type { Diagnostic, Severity } from '../diagnostics.ts';
import type { DatasetSummary, RecordFormat, Turns } from '../datasets/types.ts';

/** The panels Anneal opens; each bundle is `dist/webviews/<kind>.js`. */
export type ViewKind = 'dashboard' | 'samples' | 'pairs' | 'report';

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
}

export interface PairFilter {
  onlyFlagged: boolean;
  /** Case-insensitive text that must appear in the prompt, chosen or rejected. */
  search: string;
}

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
}

/** host -> view: the pairs at filtered positions [start, start + pairs.length). */
export interface PairsPageMessage {
  type: 'pairs/page';
  start: number;
  pairs: PairView[];
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
  | PanelStateMessage;

/** Everything a view may post to the host. `ready` is sent once the view's script has loaded. */
export type ViewToHost =
  | RpcFrameMessage
  | { type: 'ready' }
  | PairsRequestPageMessage
  | PairsSetFilterMessage
  | PairsEditMessage
  | RevealLineMessage;

/** State a panel's serializer stores so the view comes back after a window reload. */
export interface PanelState {
  kind: ViewKind;
  /** dashboard/samples: the runs shown; pairs/report: the document's URI. */
  runIds?: string[];
  uri?: string;
}
