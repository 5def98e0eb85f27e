// Where a model's config, weights and tokenizer come from: the built-in `tiny` model (seeded random
// init, byte-level ChatML tokenizer) or a Hugging Face model folder (config.json + *.safetensors).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { loadTokenizerFromFolder, tinyTokenizer, tinyTokenizerFiles, type ChatTokenizer } from '../../core/tokenize/index.ts';
import { checkWeights, initialWeights, normalizeConfig, readModelConfig, type LlamaConfig, type ModelConfig } from './model.ts';
import { readSafetensors, type NamedTensor } from './safetensors.ts';
import { loadGgufSource } from './gguf.ts';
import { quantizeFrozenLinears, type QuantizedWeight } from './quantized.ts';
import { isGgufPath, parseOllamaRef, resolveOllamaModel } from '../../core/ollamaStore.ts';

/**
 * The built-in model: ~0.8M parameters, small enough that SFT on examples/sft.jsonl visibly learns
 * in about a minute on a 2-core CPU with wasm. Two kv heads for four query heads, so the grouped-
 * query path is exercised by every test.
 */
export function tinyConfig(): LlamaConfig {
  return normalizeConfig({
    model_type: 'llama',
    vocab_size: tinyTokenizer().vocabSize,
    hidden_size: 128,
    intermediate_size: 352,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    max_position_embeddings: 1024,
    tie_word_embeddings: true,
    initializer_range: 0.02,
    eos_token_id: tinyTokenizer().eosId,
    pad_token_id: tinyTokenizer().padId,
  });
}

export interface ModelSource {
  config: ModelConfig;
  weights: Map<string, NamedTensor>;
  tokenizer: ChatTokenizer;
  /** Tokenizer files to save beside trained weights (name -> JSON text). */
  tokenizerFiles: Map<string, string>;
  /** What adapter_config.json names as the base model. */
  baseName: string;
  /** load_in_4bit: the frozen decoder linear weights, kept quantized (not in `weights`). */
  quantized?: Map<string, QuantizedWeight>;
  /** A sequence classifier's (reward model's) `score.weight` [1, hidden], when the folder is one. */
  head?: Map<string, NamedTensor>;
}

/**
 * Opens `tiny`, a Hugging Face folder or a `.gguf` file (llama.cpp, Ollama) as a ModelSource; with
 * `loadIn4bit`, the decoder's linear weights stay quantized (GGUF blocks, or Q4_0 from floats).
 */
export async function openModelSource(model: string, seed: number, options: { loadIn4bit?: boolean } = {}): Promise<ModelSource> {
  const ollama = existsSync(model) ? undefined : parseOllamaRef(model);
  if (ollama) return loadGgufSource(resolveOllamaModel(ollama, nodeFiles.ollamaStore!(), nodeFiles), options);
  if (isGgufPath(model)) return loadGgufSource(model, options);
  const source = loadModelSource(model, seed);
  if (options.loadIn4bit) source.quantized = quantizeFrozenLinears(source.weights);
  return source;
}

/** Loads `tiny` (initialised from `seed`) or a Hugging Face folder; throws one-sentence errors. */
export function loadModelSource(model: string, seed: number): ModelSource {
  if (model === 'tiny') {
    const config = tinyConfig();
    const files = tinyTokenizerFiles();
    return {
      config,
      weights: initialWeights(config, seed),
      tokenizer: tinyTokenizer(),
      tokenizerFiles: new Map([
        ['tokenizer.json', JSON.stringify(files.tokenizerJson)],
        ['tokenizer_config.json', JSON.stringify(files.tokenizerConfig, null, 2)],
      ]),
      baseName: 'anneal/tiny',
    };
  }
  const { config, weights, head } = readModelFolder(model);
  const tokenizerFiles = new Map<string, string>();
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json']) {
    if (existsSync(join(model, f))) tokenizerFiles.set(f, readFileSync(join(model, f), 'utf8'));
  }
  return { config, weights, tokenizer: loadTokenizerFromFolder(model, nodeFiles), tokenizerFiles, baseName: model, ...(head ? { head } : {}) };
}

/** A Hugging Face model folder's config and checked weights (and a reward model's score head), without its tokenizer. */
export function readModelFolder(model: string): { config: ModelConfig; weights: Map<string, NamedTensor>; head?: Map<string, NamedTensor> } {
  const configPath = join(model, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath} not found; "model" must be "tiny" or a Hugging Face model folder.`);
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const all = readWeights(model);
  // A reward model (transformers' *ForSequenceClassification) has a score head instead of an LM
  // head: the head is kept apart, and the decoder reads as a tied model (its logits are never used).
  const classifier = Array.isArray(raw.architectures) && raw.architectures.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification'));
  const score = classifier ? all.get('score.weight') : undefined;
  if (score) all.delete('score.weight');
  const config = withPath(model, () => readModelConfig(classifier && !all.has('lm_head.weight') ? { ...raw, tie_word_embeddings: true } : raw));
  const weights = withPath(model, () => checkWeights(config, all));
  return { config, weights, ...(score ? { head: new Map([['score.weight', score]]) } : {}) };
}

/** Runs `f`, prefixing the model folder its error is about. */
function withPath<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
}

function readWeights(dir: string): Map<string, NamedTensor> {
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return readSafetensors(single).tensors;
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    const out = new Map<string, NamedTensor>();
    for (const file of new Set(Object.values(map))) for (const [k, v] of readSafetensors(join(dir, file)).tensors) out.set(k, v);
    return out;
  }
  throw new Error(`${dir} has no model.safetensors (or sharded index); convert the weights to safetensors first.`);
}
