// Anneal's extensions to the Language Server Protocol, declared once and imported by both the
// language server (extension/server) and the extension client (extension/client). Each message is a
// namespace with a literal `method`, its params/result types and the side that sends it, so neither
// end spells a method name by hand. Plain literals (no jsonrpc classes) keep core/ free of the
// several vscode-jsonrpc copies the client and server bundle.

import type { DatasetKind, RecordFormat, RecordStyle } from '../datasets/types.ts';

/** What the server knows about one open file, for the status bar and the summary command. */
export interface FileSummary {
  uri: string;
  /** The document version the summary was computed for. */
  version: number;
  fileKind: 'dataset' | 'recipe';
  /** Number of non-empty lines checked as records (0 for recipes). */
  records: number;
  errors: number;
  warnings: number;
  infos: number;
  /** Records per detected format, e.g. `{ messages: 1204 }`. */
  formats: Partial<Record<RecordFormat, number>>;
  /** The file's kind (from settings or detection); undefined when it could not be decided. */
  datasetKind?: DatasetKind;
  style?: RecordStyle | 'mixed';
  /** Token-length percentiles when a tokenizer counted them. */
  tokens?: { p50: number; p90: number; p99: number; max: number; tokenizer: string };
  /** True when more problems exist than `anneal.diagnostics.maxPerFile` let through. */
  truncated: boolean;
  /** The cap that applied. */
  maxDiagnostics: number;
  /** One line for a status bar, e.g. `1,204 records · 3 errors · SFT messages`. */
  text: string;
}

/** client -> server request: the summary of one open document (null when the server does not check it). */
export namespace FileSummaryRequest {
  export const method = 'anneal/fileSummary' as const;
  export interface Params {
    uri: string;
  }
  export type Result = FileSummary | null;
}

/** server -> client notification: a document's summary changed (sent after every validation). */
export namespace FileSummaryNotification {
  export const method = 'anneal/fileSummaryChanged' as const;
  export type Params = FileSummary;
}

/** server -> client notification: how long the server spent on one validation (for the benchmark and logs). */
export namespace TimingNotification {
  export const method = '$/anneal/timing' as const;
  export interface Params {
    uri: string;
    version: number;
    /** `open` = checked from scratch, `edit` = incremental update, `recipe` = recipe check. */
    kind: 'open' | 'edit' | 'recipe';
    /** Milliseconds spent applying the text change(s) to the incremental model. */
    applyMs: number;
    /** Milliseconds spent producing the report (diagnostics + summary) and converting it. */
    reportMs: number;
    diagnostics: number;
  }
}

/** Options the client passes in `initialize` (all optional; tests and the benchmark use them). */
export interface InitializationOptions {
  /** Delay after the last edit before diagnostics are computed; 0 validates immediately. Default 150. */
  validationDelayMs?: number;
  /** Send TimingNotification after each validation. */
  timing?: boolean;
  /** Settings to use before the first workspace/configuration answer (and for clients without it). */
  settings?: Partial<ServerSettings>;
}

/** The `anneal.*` settings the language server reads (section `anneal`), as the client sends them. */
export interface ServerSettings {
  /** Glob (matched against the workspace-relative and absolute path) -> dataset kind. */
  datasetKinds: Record<string, DatasetKind>;
  /** A Hugging Face model folder whose tokenizer counts tokens; empty for none. */
  modelPath: string;
  /** Most diagnostics published per file. */
  maxDiagnosticsPerFile: number;
  /** Records longer than this many tokens get a warning (only when a model is configured); 0 = off. */
  maxLength: number;
}

/** Defaults shared by the server and the client's config mirror (package.json states the same). */
export const defaultServerSettings: ServerSettings = {
  datasetKinds: {},
  modelPath: '',
  maxDiagnosticsPerFile: 1000,
  maxLength: 2048,
};
