// Which tokenizer the server uses: the configured model folder's (token counts, too-long checks,
// hover rendering) or, with none configured, the built-in tiny ChatML tokenizer for the hover only.
import { isAbsolute, join, basename } from 'node:path';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { loadTokenizerFromFolder, tinyTokenizer, type ChatTokenizer } from '../../core/tokenize/index.ts';
import type { HoverTokenizer } from './hover.ts';

export interface ModelTokenizer {
  /** The model's tokenizer, when one is configured and loads. */
  model?: ChatTokenizer;
  /** What the hover uses (the model's, else the tiny fallback). */
  hover: HoverTokenizer;
  /** One sentence for the user when the configured model could not be loaded. */
  problem?: string;
}

/** Resolves `anneal.model.path` (relative to the first workspace folder) and loads its tokenizer. */
export function resolveTokenizer(modelPath: string, workspaceRoot: string | undefined): ModelTokenizer {
  const tiny = (): HoverTokenizer => ({ tokenizer: tinyTokenizer(), label: 'built-in tiny ChatML tokenizer', fallback: true });
  if (!modelPath) return { hover: tiny() };
  const dir = isAbsolute(modelPath) || !workspaceRoot ? modelPath : join(workspaceRoot, modelPath);
  try {
    const model = loadTokenizerFromFolder(dir, nodeFiles);
    return { model, hover: { tokenizer: model, label: `${basename(dir)} tokenizer`, fallback: false } };
  } catch (error) {
    const problem = `anneal.model.path: ${error instanceof Error ? error.message : String(error)}`;
    return { hover: { ...tiny(), problem }, problem };
  }
}
