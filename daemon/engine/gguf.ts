// A GGUF file (llama.cpp, Ollama) as a model source: config from the `{arch}.*` metadata, weights
// dequantized to float32 under Hugging Face names, and the tokenizer + chat template from the
// `tokenizer.*` metadata. The header is parsed by @huggingface/gguf; tensor data is read per tensor
// (a large file never sits in memory whole) and decoded by ./dequantize.ts.
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { gguf } from '@huggingface/gguf';
import { loadChatTokenizer } from '../../core/tokenize/chatTokenizer.ts';
import { tokenizerFilesFromGguf } from '../../core/tokenize/gguf.ts';
import { checkWeights, normalizeConfig } from './model.ts';
import type { ModelSource } from './modelSource.ts';
import { byteSize, dequantize, GGML, ggmlTypeName, isSupportedType } from './dequantize.ts';
import { isFrozenLinear, QuantizedWeight } from './quantized.ts';
import type { NamedTensor } from './safetensors.ts';

/** What the header says: metadata values and where each tensor's bytes are. */
export interface GgufHeader {
  path: string;
  metadata: Record<string, unknown>;
  tensors: { name: string; shape: number[]; type: number; offset: number }[];
}

/** Parses a GGUF file's header (metadata, tensor table); throws one sentence for a non-GGUF file. */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(path, { allowLocalFile: true });
  } catch (e) {
    throw new Error(`${path} is not a readable GGUF file (${(e as Error).message}); check that the download finished.`);
  }
  const base = Number(parsed.tensorDataOffset);
  return {
    path,
    metadata: parsed.metadata as Record<string, unknown>,
    tensors: parsed.tensorInfos.map((t) => ({
      name: t.name,
      // GGML lists dimensions innermost first; Hugging Face (row-major) outermost first.
      shape: t.shape.map(Number).reverse(),
      type: t.dtype,
      offset: base + Number(t.offset),
    })),
  };
}

/** Architectures whose GGUF tensors map onto our decoder, and the HF model_type each becomes. */
const ARCHITECTURES: Record<string, string> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3' };

/** llama.cpp's per-layer tensor names -> Hugging Face's (after `model.layers.N.`). */
const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  attn_q_norm: 'self_attn.q_norm',
  attn_k_norm: 'self_attn.k_norm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

const TOP_NAMES: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

/** The Hugging Face name of a llama.cpp tensor name, or undefined for one we do not know. */
export function hfTensorName(name: string): string | undefined {
  if (TOP_NAMES[name]) return TOP_NAMES[name];
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(name);
  const mapped = m ? LAYER_NAMES[m[2]!] : undefined;
  return mapped ? `model.layers.${m![1]}.${mapped}.${m![3]}` : undefined;
}

function architecture(meta: Record<string, unknown>, path: string): string {
  const arch = String(meta['general.architecture'] ?? '');
  if (!ARCHITECTURES[arch]) {
    throw new Error(`${path} is a "${arch || 'unknown'}" GGUF model; Anneal reads ${Object.keys(ARCHITECTURES).join(', ')} GGUF files.`);
  }
  return arch;
}

/** A config.json-shaped object (transformers 4 keys) from the GGUF metadata, for normalizeConfig. */
export function ggufConfig(header: GgufHeader): Record<string, unknown> {
  const meta = header.metadata;
  const arch = architecture(meta, header.path);
  const get = (key: string) => meta[`${arch}.${key}`];
  const num = (key: string) => (get(key) === undefined ? undefined : Number(get(key)));
  const has = (name: string) => header.tensors.some((t) => t.name === name);
  const tokens = meta['tokenizer.ggml.tokens'];
  const heads = num('attention.head_count');
  const hidden = num('embedding_length');
  const config: Record<string, unknown> = {
    model_type: ARCHITECTURES[arch],
    vocab_size: num('vocab_size') ?? (Array.isArray(tokens) ? tokens.length : undefined),
    hidden_size: hidden,
    intermediate_size: num('feed_forward_length'),
    num_hidden_layers: num('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: num('attention.head_count_kv') ?? heads,
    rms_norm_eps: num('attention.layer_norm_rms_epsilon') ?? 1e-6,
    rope_theta: num('rope.freq_base') ?? 10000,
    max_position_embeddings: num('context_length') ?? 2048,
    // A GGUF without an output tensor reuses the embedding as the head.
    tie_word_embeddings: !has('output.weight'),
    attention_bias: has('blk.0.attn_q.bias'),
    bos_token_id: meta['tokenizer.ggml.bos_token_id'],
    eos_token_id: meta['tokenizer.ggml.eos_token_id'],
    pad_token_id: meta['tokenizer.ggml.padding_token_id'],
  };
  const keyLength = num('attention.key_length');
  if (keyLength !== undefined && heads && hidden && keyLength !== hidden / heads) config.head_dim = keyLength;
  const scaling = get('rope.scaling.type');
  if (scaling !== undefined && scaling !== 'none') {
    config.rope_scaling = {
      rope_type: String(scaling),
      factor: num('rope.scaling.factor'),
      original_max_position_embeddings: num('rope.scaling.original_context_length'),
    };
  }
  if (has('rope_freqs.weight')) {
    throw new Error(`${header.path} carries Llama 3.1-style rope frequency factors (rope_freqs.weight), which Anneal does not read from GGUF yet; use the model's Hugging Face folder.`);
  }
  return config;
}

/**
 * llama.cpp's converter reorders the rows of Llama's q_proj/k_proj within each head (it pairs
 * rotary halves as neighbours for its own RoPE kernel): HF row `j * half + i` is stored at
 * `2 * i + j`. Undo it so the weights match Hugging Face's rotate_half RoPE.
 */
export function unpermuteRows<T extends Float32Array | Uint8Array>(data: T, rows: number, rowLength: number, heads: number): T {
  const perHead = rows / heads;
  const half = perHead / 2;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = (h * perHead + 2 * i + j) * rowLength;
        const to = (h * perHead + j * half + i) * rowLength;
        out.set(data.subarray(from, from + rowLength), to);
      }
    }
  }
  return out;
}

/**
 * Every tensor dequantized to float32 under its Hugging Face name; unknown tensors are errors. With a
 * `quantized` map (load_in_4bit), the decoder layers' linear weights go there instead, kept in the
 * file's own blocks (float ones quantized to Q4_0), and are left out of the returned map.
 */
export function readGgufWeights(header: GgufHeader, onProgress?: (done: number, total: number) => void, quantized?: Map<string, QuantizedWeight>): Map<string, NamedTensor> {
  const arch = architecture(header.metadata, header.path);
  const heads = Number(header.metadata[`${arch}.attention.head_count`]);
  const kvHeads = Number(header.metadata[`${arch}.attention.head_count_kv`] ?? heads);
  const out = new Map<string, NamedTensor>();
  const fd = openSync(header.path, 'r');
  try {
    header.tensors.forEach((t, index) => {
      const name = hfTensorName(t.name);
      if (!name) throw new Error(`${header.path} has a tensor ${t.name} that the ${arch} architecture does not use; Anneal cannot load this model.`);
      if (!isSupportedType(t.type)) {
        throw new Error(`${t.name} in ${header.path} is stored as GGML ${ggmlTypeName(t.type)}; Anneal reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K — use a GGUF with one of those.`);
      }
      const count = t.shape.reduce((a, b) => a * b, 1);
      const bytes = new Uint8Array(byteSize(t.type, count));
      if (readSync(fd, bytes, 0, bytes.length, t.offset) !== bytes.length) throw new Error(`${header.path} ends inside tensor ${t.name}; the file is truncated.`);
      // Only Llama-architecture files were permuted by the converter (Qwen's were not). Whole rows
      // move, and a row is a whole number of blocks, so quantized rows move as bytes.
      const permutedHeads = (arch === 'llama' || arch === 'mistral') && /attn_[qk]\.weight$/.test(t.name) ? (t.name.endsWith('attn_q.weight') ? heads : kvHeads) : 0;
      const [rows, cols] = [t.shape[0]!, t.shape[1] ?? 1];
      if (quantized && isFrozenLinear(name) && !FLOAT_TYPES.has(t.type)) {
        const rowBytes = byteSize(t.type, cols);
        quantized.set(name, new QuantizedWeight([rows, cols], t.type, permutedHeads ? unpermuteRows(bytes, rows, rowBytes, permutedHeads) : bytes));
      } else {
        let data = dequantize(bytes, t.type, count);
        if (permutedHeads) data = unpermuteRows(data, rows, cols, permutedHeads);
        if (quantized && isFrozenLinear(name)) quantized.set(name, QuantizedWeight.fromFloats([rows, cols], data));
        else out.set(name, { shape: t.shape, data });
      }
      onProgress?.(index + 1, header.tensors.length);
    });
  } finally {
    closeSync(fd);
  }
  return out;
}

const FLOAT_TYPES = new Set<number>([GGML.F32, GGML.F16, GGML.BF16]);

/** tokenizer.json / tokenizer_config.json texts for the file's vocabulary, to save beside outputs. */
export function ggufTokenizerFiles(header: GgufHeader): Map<string, string> {
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(header.metadata);
  return new Map([
    ['tokenizer.json', JSON.stringify(tokenizerJson)],
    ['tokenizer_config.json', JSON.stringify(tokenizerConfig, null, 2)],
  ]);
}

/**
 * A GGUF file as a ModelSource: float32 weights under HF names, its own tokenizer and template; with
 * `loadIn4bit`, the decoder's linear weights stay in the file's quantized blocks (see quantized.ts).
 */
export async function loadGgufSource(path: string, options: { loadIn4bit?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<ModelSource> {
  const header = await readGgufHeader(path);
  const config = normalizeConfig(ggufConfig(header));
  const quantized = options.loadIn4bit ? new Map<string, QuantizedWeight>() : undefined;
  const weights = checkWeights(config, readGgufWeights(header, options.onProgress, quantized));
  const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(header.metadata);
  const eos = header.metadata['tokenizer.ggml.eos_token_id'];
  return {
    config,
    weights,
    ...(quantized ? { quantized } : {}),
    tokenizer: loadChatTokenizer(tokenizerJson, tokenizerConfig, { extraStopIds: eos === undefined ? [] : [Number(eos)] }),
    tokenizerFiles: ggufTokenizerFiles(header),
    // The file itself, not its general.name: an adapter trained on it must find its base again (a later stage, scoring).
    baseName: resolve(path),
  };
}
