// The one typed mirror of the `anneal.*` settings declared in package.json `contributes.configuration`.
// Every read of a setting in the extension goes through here; adding a setting means: declare it in
// package.json, add it to AnnealConfig and read it in readConfig (and in extension/server/settings.ts
// when the language server needs it).
import * as vscode from 'vscode';
import type { DatasetKind } from '../../core/datasets/types.ts';
import { defaultServerSettings, type ServerSettings } from '../../core/protocol/lsp.ts';

export const CONFIG_SECTION = 'anneal';

export interface AnnealConfig {
  /** `anneal.datasets.kinds`: glob -> dataset kind. */
  datasetKinds: Record<string, DatasetKind>;
  /** `anneal.model.path`: model/tokenizer folder for token counts and the hover's chat template. */
  modelPath: string;
  /** `anneal.diagnostics.maxPerFile`. */
  maxDiagnosticsPerFile: number;
  /** `anneal.maxLength`: tokens above which a record is flagged `too-long`. */
  maxLength: number;
  /** `anneal.trace.server`: LSP message tracing (read by vscode-languageclient itself). */
  traceServer: 'off' | 'messages' | 'verbose';
  /** `anneal.daemon.stateDir`: the local daemon's state dir (runs, token, daemon.json); empty = ~/.anneal. */
  daemonStateDir: string;
  /** `anneal.daemon.url`: a remote daemon (ws://host:port/); empty = the local one. Its token is in SecretStorage. */
  daemonUrl: string;
  /** `anneal.daemon.autoStart`: start the local daemon when training needs it (and restart it if it dies). */
  daemonAutoStart: boolean;
  /** `anneal.train.maxSteps`: cap on steps for runs started from the editor; 0 = the recipe's own. */
  trainMaxSteps: number;
  /** `anneal.python`: the TRL engine's Python for recipes that name none; empty = the daemon finds one. */
  python: string;
}

/** Reads the current settings, with package.json's defaults where unset. */
export function readConfig(): AnnealConfig {
  const c = vscode.workspace.getConfiguration(CONFIG_SECTION);
  return {
    datasetKinds: c.get<Record<string, DatasetKind>>('datasets.kinds') ?? defaultServerSettings.datasetKinds,
    modelPath: c.get<string>('model.path') ?? defaultServerSettings.modelPath,
    maxDiagnosticsPerFile: c.get<number>('diagnostics.maxPerFile') ?? defaultServerSettings.maxDiagnosticsPerFile,
    maxLength: c.get<number>('maxLength') ?? defaultServerSettings.maxLength,
    traceServer: c.get<'off' | 'messages' | 'verbose'>('trace.server') ?? 'off',
    daemonStateDir: c.get<string>('daemon.stateDir') ?? '',
    daemonUrl: (c.get<string>('daemon.url') ?? '').trim(),
    daemonAutoStart: c.get<boolean>('daemon.autoStart') ?? true,
    trainMaxSteps: c.get<number>('train.maxSteps') ?? 0,
    python: (c.get<string>('python') ?? '').trim(),
  };
}

/** The part of the config the language server uses (sent in initializationOptions). */
export function serverSettings(config: AnnealConfig): ServerSettings {
  return {
    datasetKinds: config.datasetKinds,
    modelPath: resolveModelPath(config.modelPath),
    maxDiagnosticsPerFile: config.maxDiagnosticsPerFile,
    maxLength: config.maxLength,
  };
}

/** A relative model path is taken relative to the first workspace folder. */
export function resolveModelPath(path: string): string {
  if (!path || path.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(path)) return path;
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? vscode.Uri.joinPath(folder.uri, path).fsPath : path;
}
