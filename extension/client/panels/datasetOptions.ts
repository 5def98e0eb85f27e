// The check options the pair inspector and the report use for a document: the same kind, tokenizer
// and length limit the language server applies (extension/server reads the same settings), so the
// panels flag exactly what the Problems panel shows.
import * as vscode from 'vscode';
import type { DatasetCheckOptions } from '../../../core/datasets/types.ts';
import { sideTokenCounter, type CountSides } from '../../../core/pairs/pairView.ts';
import { defaultServerSettings } from '../../../core/protocol/lsp.ts';
import { kindForUri } from '../../server/settings.ts';
import { resolveTokenizer } from '../../server/tokenizers.ts';
import { readConfig, resolveModelPath } from '../config.ts';

export interface DocumentCheckSetup {
  options: DatasetCheckOptions;
  /** Per-side token counts for the inspector; absent without a configured model tokenizer. */
  countSides?: CountSides;
  /** The tokenizer's label when tokens are counted. */
  tokenizer?: string;
  /** One sentence when `anneal.model.path` is set but its tokenizer did not load. */
  problem?: string;
}

/** Options for checking `uri` the way the language server does. */
export function checkSetupFor(uri: vscode.Uri): DocumentCheckSetup {
  const config = readConfig();
  const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
  const kind = kindForUri(uri.toString(), { ...defaultServerSettings, datasetKinds: config.datasetKinds }, folders);
  const modelPath = resolveModelPath(config.modelPath);
  const resolved = resolveTokenizer(modelPath, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  const model = resolved.model;
  const options: DatasetCheckOptions = {
    ...(kind ? { kind } : {}),
    ...(model ? { countTokens: (record) => model.countTokens(record), ...(config.maxLength > 0 ? { maxLength: config.maxLength } : {}) } : {}),
  };
  if (!model) return { options, ...(resolved.problem ? { problem: resolved.problem } : {}) };
  return { options, countSides: sideTokenCounter(model), tokenizer: resolved.hover.label };
}
