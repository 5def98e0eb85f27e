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

/**
 * The base model a PEFT adapter folder `dir` names (adapter_config.json's base_model_name_or_path),
 * as a `model` string: a path as written (absolute, or relative to the adapter folder when it
 * exists there), Anneal's own `anneal/tiny` as `tiny`, anything else as written (a Hub id). Throws one
 * sentence when the folder names none.
 */
export function adapterBaseModel(dir: string, files: Pick<FileAccess, 'readText' | 'exists'>): string {
  let base: unknown;
  try {
    base = (JSON.parse(files.readText(`${dir}/adapter_config.json`) ?? '{}') as Record<string, unknown>).base_model_name_or_path;
  } catch {
    throw new Error(`${dir}/adapter_config.json does not parse; it is not a PEFT adapter folder.`);
  }
  if (typeof base !== 'string' || base === '') throw new Error(`${dir}/adapter_config.json names no base_model_name_or_path, so the model the adapter belongs to is unknown; set it to that model's folder or Hub id.`);
  if (base === 'anneal/tiny') return 'tiny';
  if (base.startsWith('/')) return base;
  const beside = `${dir}/${base}`;
  return files.exists(beside) ? beside : base;
}
