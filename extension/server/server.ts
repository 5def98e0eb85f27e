// The Anneal language server: a thin LSP adapter over core/datasets and core/recipe. It keeps one
// CheckedDocument per open file, applies incremental edits to it, validates after a short debounce
// and publishes diagnostics plus a file summary. Every handler is guarded: a bad input is logged to
// the connection console and answered with nothing, never a crash.
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  ProposedFeatures,
  TextDocumentSyncKind,
  type CancellationToken,
  type CodeAction,
  type Connection,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { datasetOptionsFor } from '../../core/datasets/datasetInfo.ts';
import type { DatasetCheckOptions } from '../../core/datasets/types.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import {
  defaultServerSettings,
  FileSummaryNotification,
  FileSummaryRequest,
  TimingNotification,
  type InitializationOptions,
  type ServerSettings,
} from '../../core/protocol/lsp.ts';
import { codeActions, resolveConvertAll, type ConvertAllData } from './codeActions.ts';
import { completeInRecord } from './completion.ts';
import { CheckedDocument, documentKind } from './documents.ts';
import { recordHover } from './hover.ts';
import { kindForUri, mergeSettings, settingsFromSection, uriToPath } from './settings.ts';
import { recordSymbols } from './symbols.ts';
import { resolveTokenizer, type ModelTokenizer } from './tokenizers.ts';

const DEFAULT_VALIDATION_DELAY_MS = 150;
/** Lines longer than this get no completion (a 10 MB line is data, not something being typed). */
const MAX_COMPLETION_LINE = 100_000;

const connection: Connection = createConnection(ProposedFeatures.all);
const docs = new Map<string, CheckedDocument>();
const timers = new Map<string, NodeJS.Timeout>();

let settings: ServerSettings = defaultServerSettings;
let validationDelayMs = DEFAULT_VALIDATION_DELAY_MS;
let timing = false;
let canPullConfiguration = false;
let workspaceFolders: string[] = [];
let tokenizer: ModelTokenizer = resolveTokenizer('', undefined);
let reportedTokenizerProblem: string | undefined;

/** Runs a handler; on any exception logs it and returns `fallback`. */
function guard<T>(what: string, fallback: T, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    logError(what, error);
    return fallback;
  }
}

function logError(what: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  connection.console.error(`${what} failed: ${detail}`);
}

process.on('uncaughtException', (error) => logError('uncaught exception', error));
process.on('unhandledRejection', (error) => logError('unhandled rejection', error));

function workspaceRoot(): string | undefined {
  return workspaceFolders[0] ? uriToPath(workspaceFolders[0]) : undefined;
}

function checkOptions(uri: string): DatasetCheckOptions {
  const model = tokenizer.model;
  const path = uriToPath(uri);
  const base: DatasetCheckOptions = {
    kind: kindForUri(uri, settings, workspaceFolders),
    maxDiagnostics: settings.maxDiagnosticsPerFile,
    countTokens: model ? (record) => model.countTokens(record) : undefined,
    maxLength: model && settings.maxLength > 0 ? settings.maxLength : undefined,
  };
  // A LLaMA-Factory dataset_info.json beside the file is read exactly as `anneal validate` and the trainer read it.
  return path ? datasetOptionsFor(path, nodeFiles, base) : base;
}

function applySettings(next: ServerSettings): void {
  const modelChanged = next.modelPath !== settings.modelPath;
  const changed = JSON.stringify(next) !== JSON.stringify(settings);
  settings = next;
  if (modelChanged) tokenizer = resolveTokenizer(settings.modelPath, workspaceRoot());
  if (tokenizer.problem && tokenizer.problem !== reportedTokenizerProblem) {
    reportedTokenizerProblem = tokenizer.problem;
    connection.console.warn(tokenizer.problem);
    void connection.window.showWarningMessage(`Anneal: ${tokenizer.problem}`);
  }
  if (!changed) return;
  for (const doc of docs.values()) {
    guard('applying settings', undefined, () => {
      doc.setOptions(checkOptions(doc.uri));
      doc.tokenizerLabel = tokenizer.hover.label;
    });
    schedule(doc.uri, 0);
  }
}

async function pullSettings(pushed?: unknown): Promise<void> {
  try {
    if (canPullConfiguration) {
      const section: unknown = await connection.workspace.getConfiguration({ section: 'anneal' });
      applySettings(settingsFromSection(section, settings));
    } else if (pushed && typeof pushed === 'object' && 'anneal' in pushed) {
      applySettings(settingsFromSection((pushed as { anneal: unknown }).anneal, settings));
    }
  } catch (error) {
    logError('reading settings', error);
  }
}

function schedule(uri: string, delayMs: number): void {
  clearTimeout(timers.get(uri));
  timers.set(
    uri,
    setTimeout(() => {
      timers.delete(uri);
      validate(uri);
    }, delayMs),
  );
}

function validate(uri: string): void {
  const doc = docs.get(uri);
  if (!doc) return;
  guard('validation', undefined, () => {
    const applyMs = doc.pendingApplyMs;
    const kind = doc.kind === 'recipe' ? 'recipe' : doc.pendingKind;
    doc.pendingApplyMs = 0;
    doc.pendingKind = 'edit';
    const checked = doc.checked();
    void connection.sendDiagnostics({ uri, version: checked.version, diagnostics: checked.diagnostics });
    void connection.sendNotification(FileSummaryNotification.method, checked.summary satisfies FileSummaryNotification.Params);
    if (timing) {
      const params: TimingNotification.Params = {
        uri,
        version: checked.version,
        kind,
        applyMs: round(applyMs),
        reportMs: round(checked.reportMs),
        diagnostics: checked.diagnostics.length,
      };
      void connection.sendNotification(TimingNotification.method, params);
    }
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

connection.onInitialize((params): InitializeResult => {
  const options = (params.initializationOptions ?? {}) as InitializationOptions;
  if (typeof options.validationDelayMs === 'number' && options.validationDelayMs >= 0) validationDelayMs = options.validationDelayMs;
  timing = options.timing === true;
  canPullConfiguration = params.capabilities.workspace?.configuration === true;
  workspaceFolders = (params.workspaceFolders ?? []).map((f) => f.uri);
  if (workspaceFolders.length === 0 && params.rootUri) workspaceFolders = [params.rootUri];
  applySettings(mergeSettings(defaultServerSettings, options.settings));
  return {
    capabilities: {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
      hoverProvider: true,
      completionProvider: { triggerCharacters: ['"'] },
      codeActionProvider: {
        codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite, CodeActionKind.Source],
        resolveProvider: true,
      },
      documentSymbolProvider: true,
    },
    serverInfo: { name: 'anneal-language-server' },
  };
});

connection.onInitialized(() => {
  if (canPullConfiguration) {
    void connection.client.register(DidChangeConfigurationNotification.type, { section: 'anneal' });
    void pullSettings();
  }
});

connection.onDidChangeConfiguration((change) => void pullSettings(change.settings));

connection.onDidOpenTextDocument(({ textDocument }) =>
  guard('didOpen', undefined, () => {
    const kind = documentKind(textDocument.uri, textDocument.languageId);
    if (!kind) return;
    const doc = new CheckedDocument(textDocument.uri, kind, textDocument.version, textDocument.text, checkOptions(textDocument.uri));
    doc.tokenizerLabel = tokenizer.hover.label;
    docs.set(textDocument.uri, doc);
    schedule(textDocument.uri, 0);
  }),
);

connection.onDidChangeTextDocument(({ textDocument, contentChanges }) =>
  guard('didChange', undefined, () => {
    const doc = docs.get(textDocument.uri);
    if (!doc) return;
    doc.applyChanges(contentChanges, textDocument.version);
    schedule(textDocument.uri, validationDelayMs);
  }),
);

connection.onDidCloseTextDocument(({ textDocument }) =>
  guard('didClose', undefined, () => {
    clearTimeout(timers.get(textDocument.uri));
    timers.delete(textDocument.uri);
    if (docs.delete(textDocument.uri)) void connection.sendDiagnostics({ uri: textDocument.uri, diagnostics: [] });
  }),
);

connection.onHover(({ textDocument, position }, token: CancellationToken) =>
  guard('hover', null, () => {
    const doc = docs.get(textDocument.uri);
    if (!doc || doc.kind !== 'dataset') return null;
    const info = doc.recordAt(position.line);
    if (!info) return null;
    return { contents: recordHover(info, tokenizer.hover, () => token.isCancellationRequested), range: info.range };
  }),
);

connection.onCompletion(({ textDocument, position }) =>
  guard('completion', [], () => {
    const doc = docs.get(textDocument.uri);
    if (!doc || doc.kind !== 'dataset') return [];
    const line = doc.lines.lineContent(position.line);
    if (line.length > MAX_COMPLETION_LINE) return [];
    const format = doc.recordAt(position.line)?.format ?? dominantFormat(doc);
    return completeInRecord(line, position, format);
  }),
);

function dominantFormat(doc: CheckedDocument) {
  const formats = doc.lastChecked?.summary.formats ?? {};
  let best: keyof typeof formats | undefined;
  for (const [f, n] of Object.entries(formats) as [keyof typeof formats, number][]) {
    if (best === undefined || n > (formats[best] ?? 0)) best = f;
  }
  return best;
}

connection.onCodeAction((params) =>
  guard('code actions', [], () => {
    const doc = docs.get(params.textDocument.uri);
    return doc ? codeActions(doc, params) : [];
  }),
);

connection.onCodeActionResolve((action: CodeAction) =>
  guard('code action resolve', action, () => {
    const data = action.data as ConvertAllData | undefined;
    if (data?.kind !== 'anneal.convertAll') return action;
    const doc = docs.get(data.uri);
    return doc ? resolveConvertAll(doc, action) : action;
  }),
);

connection.onDocumentSymbol(({ textDocument }) =>
  guard('document symbols', [], () => {
    const doc = docs.get(textDocument.uri);
    if (!doc || doc.kind !== 'dataset') return [];
    const total = doc.checked().summary.records;
    return recordSymbols(doc.lines.lineCount, (line) => doc.recordAt(line), total);
  }),
);

connection.onRequest(FileSummaryRequest.method, (params: FileSummaryRequest.Params): FileSummaryRequest.Result =>
  guard('summary', null, () => docs.get(params.uri)?.checked().summary ?? null),
);

connection.listen();
