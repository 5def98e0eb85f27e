// Loading a tokenizer from a Hugging Face model folder, cached per folder: constructing a large
// vocabulary costs about a second, and the hover and the length checks ask for it constantly.

import type { FileAccess } from '../fileAccess.ts';
import { loadChatTokenizer } from './chatTokenizer.ts';
import type { ChatTokenizer } from './types.ts';

const cache = new Map<string, { configText: string; tokenizer: ChatTokenizer }>();

function join(dir: string, name: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? dir + name : `${dir}/${name}`;
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${(err as Error).message}); download it again from the model's page.`);
  }
}

/**
 * The tokenizer of the model in `dir` (tokenizer.json + tokenizer_config.json, optional
 * chat_template.jinja and generation_config.json). Cached per folder until its tokenizer_config.json
 * changes or forgetTokenizer is called; throws an Error with a one-sentence message when files are
 * missing or bad.
 */
export function loadTokenizerFromFolder(dir: string, files: FileAccess): ChatTokenizer {
  const configPath = join(dir, 'tokenizer_config.json');
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!files.isDirectory(dir)) {
    throw new Error(`Model folder ${dir} does not exist; point "model" at a Hugging Face model folder or use "tiny".`);
  }
  const configText = files.readText(configPath) ?? '{}';
  const cached = cache.get(dir);
  if (cached && cached.configText === configText) return cached.tokenizer;

  const tokenizerText = files.readText(tokenizerPath);
  if (tokenizerText === undefined) {
    throw new Error(`${tokenizerPath} is missing; copy tokenizer.json from the model's Hugging Face repository into the folder.`);
  }
  const config = parseJson(configText, configPath);
  const template = files.readText(join(dir, 'chat_template.jinja'));
  const generation = files.readText(join(dir, 'generation_config.json'));
  let extraStopIds: number[] | undefined;
  if (generation !== undefined) {
    try {
      const eos = (JSON.parse(generation) as { eos_token_id?: unknown }).eos_token_id;
      extraStopIds = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => Number.isInteger(x));
    } catch {
      // generation_config.json only adds stop ids; a broken one is ignored rather than fatal.
    }
  }
  const tokenizer = loadChatTokenizer(parseJson(tokenizerText, tokenizerPath), config, {
    chatTemplate: template,
    extraStopIds,
  });
  cache.set(dir, { configText, tokenizer });
  return tokenizer;
}

/** Drop cached tokenizers (one folder, or all), e.g. when a watcher sees the files change. */
export function forgetTokenizer(dir?: string): void {
  if (dir === undefined) cache.clear();
  else cache.delete(dir);
}
