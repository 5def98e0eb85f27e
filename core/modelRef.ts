// What a recipe's or the CLI's `model` string names: the built-in `tiny`, an Ollama name, a Hugging Face
// Hub id, or else a path (a Hugging Face folder or a .gguf file). One owner, so the CLI, the daemon's
// checks and the recipe checks read a name the same way.

import type { FileAccess } from './fileAccess.ts';
import { parseHubRef } from './hubCache.ts';
import { parseOllamaRef } from './ollamaStore.ts';

/** True when `model` is resolved by name (tiny, Ollama, Hub) rather than read as a path; an existing path stays a path. */
export function isNamedModel(model: string, files: Pick<FileAccess, 'exists'>): boolean {
  if (model === 'tiny') return true;
  if (files.exists(model)) return false;
  return parseOllamaRef(model) !== undefined || parseHubRef(model) !== undefined;
}
