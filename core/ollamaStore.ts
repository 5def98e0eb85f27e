// Ollama model names (`smollm2:135m`, `library/llama3.2:1b`, `ollama:smollm2`) resolved through the local
// Ollama store, so a model a user already pulled trains without another download. The store
// (`~/.ollama/models`, or OLLAMA_MODELS) keeps a JSON manifest per name and tag under
// manifests/<registry>/<namespace>/<name>/<tag>; its layer of media type
// `application/vnd.ollama.image.model` names the GGUF blob (blobs/sha256-<hex>). Pure: files come
// through FileAccess.

import type { FileAccess } from './fileAccess.ts';

export interface OllamaRef {
  /** As written, for messages. */
  name: string;
  registry: string;
  namespace: string;
  model: string;
  tag: string;
}

const PART = /^[a-z0-9][a-z0-9._-]*$/i;
const MODEL_LAYER = 'application/vnd.ollama.image.model';
const ADAPTER_LAYER = 'application/vnd.ollama.image.adapter';

/**
 * The Ollama reference `model` means, or undefined. A name needs a `:tag` (or the `ollama:` prefix) so
 * it never takes a Hugging Face id (`org/name`) or a folder: `smollm2:135m`, `user/model:tag`,
 * `ollama:smollm2` (tag `latest`).
 */
export function parseOllamaRef(model: string): OllamaRef | undefined {
  const prefixed = model.startsWith('ollama:');
  const rest = prefixed ? model.slice('ollama:'.length) : model;
  const colon = rest.lastIndexOf(':');
  if (!prefixed && colon < 0) return undefined;
  const path = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? 'latest' : rest.slice(colon + 1);
  const parts = path.split('/');
  if (parts.length > 3 || !parts.every((p) => PART.test(p)) || !PART.test(tag)) return undefined;
  const [registry, namespace, name] =
    parts.length === 3 ? parts : parts.length === 2 ? ['registry.ollama.ai', parts[0]!, parts[1]!] : ['registry.ollama.ai', 'library', parts[0]!];
  return { name: model, registry: registry!, namespace: namespace!, model: name!, tag };
}

/** Whether a model path names a GGUF file (llama.cpp, Ollama) rather than a Hugging Face folder. */
export function isGgufPath(model: string): boolean {
  return /\.gguf$/i.test(model);
}

/** The store folder: OLLAMA_MODELS, else ~/.ollama/models (the caller reads the environment). */
export function ollamaStoreDir(env: Record<string, string | undefined>, home: string): string {
  return env.OLLAMA_MODELS || `${home}/.ollama/models`;
}

/** The GGUF blob of an Ollama model in the store; throws one sentence saying what is missing and how to get it. */
export function resolveOllamaModel(ref: OllamaRef, store: string, files: FileAccess): string {
  const manifestPath = `${store}/manifests/${ref.registry}/${ref.namespace}/${ref.model}/${ref.tag}`;
  const text = files.readText(manifestPath);
  if (text === undefined) {
    throw new Error(`Ollama model \`${ref.name}\` is not in the Ollama store (${store}); run \`ollama pull ${ref.namespace === 'library' ? '' : `${ref.namespace}/`}${ref.model}:${ref.tag}\`, or set OLLAMA_MODELS to the store's folder.`);
  }
  let layers: { mediaType?: string; digest?: string }[];
  try {
    layers = (JSON.parse(text) as { layers?: typeof layers }).layers ?? [];
  } catch {
    throw new Error(`The Ollama manifest ${manifestPath} is not JSON; pull the model again.`);
  }
  if (layers.some((l) => l.mediaType === ADAPTER_LAYER)) {
    throw new Error(`Ollama model \`${ref.name}\` is a base model plus an adapter; train from its base model instead.`);
  }
  const digest = layers.find((l) => l.mediaType === MODEL_LAYER)?.digest;
  if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`The Ollama manifest ${manifestPath} names no model layer; pull the model again.`);
  const blob = `${store}/blobs/${digest.replace(':', '-')}`;
  if (!files.exists(blob)) throw new Error(`Ollama's blob ${blob} for \`${ref.name}\` is missing; pull the model again (\`ollama pull ${ref.model}:${ref.tag}\`).`);
  return blob;
}
