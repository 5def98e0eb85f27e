// What a Hugging Face GPT-2 config.json says (GPT2Config, read as transformers 5 reads it), which
// tensors GPT2LMHeadModel has, and the conversion between its checkpoint layout and the engine's.
// Pure: no tfjs, no I/O.
//
// GPT-2's linears are Conv1D: weight [in, out], y = x W + b. The engine keeps one layout, Linear's
// [out, in], so `linear`, `linearFrozen` and LoRA work unchanged: Conv1D weights are transposed when
// a checkpoint is read (`checkGpt2Weights`) and back when one is written (`gpt2Checkpoint`). PEFT's
// LoRA tensors are the same either way (lora_A [r, in], lora_B [out, r]); its adapter_config says
// fan_in_fan_out: true for GPT-2 because the base weight it merges into is [in, out].

/** GELU's tanh approximation under the names transformers' ACT2FN gives it, and the exact (erf) GELU. */
export const GPT2_ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu'] as const;
export type Gpt2Activation = (typeof GPT2_ACTIVATIONS)[number];

/**
 * The subset of GPT2Config the model reads. The sizes carry the names GPT2Config's attribute_map also
 * answers to (hidden_size for n_embd, ...), the names the rest of the engine reads for any model;
 * `gpt2Checkpoint` writes them back under GPT-2's own names.
 */
export interface Gpt2Config {
  model_type: 'gpt2';
  vocab_size: number;
  /** n_embd */
  hidden_size: number;
  /** n_layer */
  num_hidden_layers: number;
  /** n_head */
  num_attention_heads: number;
  /** n_positions: the learned position table's length. */
  max_position_embeddings: number;
  /** The MLP's width (null in config.json means 4 * n_embd). */
  n_inner: number;
  activation_function: Gpt2Activation;
  layer_norm_epsilon: number;
  /** Divide attention scores by sqrt(head_dim). */
  scale_attn_weights: boolean;
  /** Also divide layer i's scores by i + 1. */
  scale_attn_by_inverse_layer_idx: boolean;
  /** The head is the token embedding (GPT-2's default); false gives a separate lm_head.weight. */
  tie_word_embeddings: boolean;
  initializer_range?: number;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
}

/** Every Conv1D layer of a block, by its HF module name (`c_proj` is both attn.c_proj and mlp.c_proj, as PEFT matches it). */
export const GPT2_LINEAR_MODULES = ['c_attn', 'c_proj', 'c_fc'] as const;

/** GPT-2's own key for each size, and the shared name it is kept under. */
const SIZE_KEYS = { n_embd: 'hidden_size', n_layer: 'num_hidden_layers', n_head: 'num_attention_heads', n_positions: 'max_position_embeddings' } as const;

type Raw = Record<string, unknown>;

/** A number from `key`, else from its attribute_map alias, else transformers' default. */
function size(raw: Raw, key: string, alias: string | null, fallback: number): number {
  const at = raw[key] ?? (alias === null ? undefined : raw[alias]);
  const v = at ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.json needs a number for ${key} (got ${JSON.stringify(at)}).`);
  return v;
}

/**
 * Reads a GPT-2 config.json into the fields the model uses, with GPT2Config's defaults (GPT-2 small)
 * for missing ones; other fields are kept. Throws one sentence for a setting this engine would
 * compute wrongly. The dropouts (attn_pdrop, resid_pdrop, embd_pdrop) are kept but not applied.
 */
export function normalizeGpt2Config(raw: Raw): Gpt2Config {
  const act = String(raw.activation_function ?? 'gelu_new');
  if (!(GPT2_ACTIVATIONS as readonly string[]).includes(act)) {
    throw new Error(`config.json sets activation_function "${act}"; this engine's GPT-2 computes ${GPT2_ACTIVATIONS.join(', ')}.`);
  }
  if (raw.add_cross_attention === true) {
    throw new Error('config.json sets add_cross_attention: true; this engine trains GPT-2 as a decoder alone, so set it to false.');
  }
  const rest: Raw = { ...raw };
  for (const key of Object.keys(SIZE_KEYS)) delete rest[key];
  const hidden = size(raw, 'n_embd', 'hidden_size', 768);
  const heads = size(raw, 'n_head', 'num_attention_heads', 12);
  if (hidden % heads !== 0) throw new Error(`config.json's n_embd ${hidden} is not a multiple of n_head ${heads}.`);
  return {
    ...rest,
    model_type: 'gpt2',
    vocab_size: size(raw, 'vocab_size', null, 50257),
    hidden_size: hidden,
    num_hidden_layers: size(raw, 'n_layer', 'num_hidden_layers', 12),
    num_attention_heads: heads,
    max_position_embeddings: size(raw, 'n_positions', 'max_position_embeddings', 1024),
    n_inner: raw.n_inner === null || raw.n_inner === undefined ? 4 * hidden : size(raw, 'n_inner', null, 0),
    activation_function: act as Gpt2Activation,
    layer_norm_epsilon: size(raw, 'layer_norm_epsilon', null, 1e-5),
    scale_attn_weights: Boolean(raw.scale_attn_weights ?? true),
    scale_attn_by_inverse_layer_idx: Boolean(raw.scale_attn_by_inverse_layer_idx ?? false),
    tie_word_embeddings: Boolean(raw.tie_word_embeddings ?? true),
  };
}

/** HF parameter names (GPT2LMHeadModel's) and the engine's shapes ([out, in] linears), in checkpoint order. */
export function gpt2ParameterShapes(c: Gpt2Config): Map<string, number[]> {
  const d = c.hidden_size;
  const ff = c.n_inner;
  const shapes = new Map<string, number[]>();
  shapes.set('transformer.wte.weight', [c.vocab_size, d]);
  shapes.set('transformer.wpe.weight', [c.max_position_embeddings, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `transformer.h.${i}.`;
    shapes.set(`${p}ln_1.weight`, [d]);
    shapes.set(`${p}ln_1.bias`, [d]);
    shapes.set(`${p}attn.c_attn.weight`, [3 * d, d]);
    shapes.set(`${p}attn.c_attn.bias`, [3 * d]);
    shapes.set(`${p}attn.c_proj.weight`, [d, d]);
    shapes.set(`${p}attn.c_proj.bias`, [d]);
    shapes.set(`${p}ln_2.weight`, [d]);
    shapes.set(`${p}ln_2.bias`, [d]);
    shapes.set(`${p}mlp.c_fc.weight`, [ff, d]);
    shapes.set(`${p}mlp.c_fc.bias`, [ff]);
    shapes.set(`${p}mlp.c_proj.weight`, [d, ff]);
    shapes.set(`${p}mlp.c_proj.bias`, [d]);
  }
  shapes.set('transformer.ln_f.weight', [d]);
  shapes.set('transformer.ln_f.bias', [d]);
  if (!c.tie_word_embeddings) shapes.set('lm_head.weight', [c.vocab_size, d]);
  return shapes;
}

const isConv1D = (name: string) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);

/** A row-major [rows, cols] matrix as [cols, rows]. */
function transposed(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Which config would use a tensor this one does not, for the error that names it. */
function usedBy(name: string, c: Gpt2Config): string {
  const layer = /^transformer\.h\.(\d+)\./.exec(name);
  if (layer && Number(layer[1]) >= c.num_hidden_layers) return `a model with more than n_layer ${c.num_hidden_layers}`;
  if (/\.(crossattention|ln_cross_attn)\./.test(name)) return 'add_cross_attention: true (which this engine does not compute)';
  if (name === 'lm_head.weight') return 'tie_word_embeddings: false';
  return 'no GPT-2 this engine supports';
}

/**
 * A GPT-2 checkpoint's tensors as the model takes them: names as GPT2LMHeadModel's (checkpoints saved
 * from GPT2Model, like openai-community/gpt2's, lack the `transformer.` prefix), Conv1D weights
 * transposed to [out, in], the old causal-mask buffers (`attn.bias`, `attn.masked_bias`) dropped.
 * Every other tensor must be one the config uses; a tied head may only be a copy of the embedding.
 */
export function checkGpt2Weights<T extends { shape: number[]; data: Float32Array }>(c: Gpt2Config, weights: Map<string, T>): Map<string, T> {
  const shapes = gpt2ParameterShapes(c);
  const named = new Map<string, T>();
  for (const [key, t] of weights) named.set(key === 'lm_head.weight' || key.startsWith('transformer.') ? key : `transformer.${key}`, t);
  const out = new Map<string, T>();
  const unused: string[] = [];
  for (const [name, t] of named) {
    const shape = shapes.get(name);
    if (shape && isConv1D(name)) {
      const [outDim, inDim] = shape as [number, number];
      if (t.shape.join() !== [inDim, outDim].join()) throw new Error(`${name} has shape [${t.shape}] but the config implies [${inDim},${outDim}] (Conv1D: [in, out]).`);
      out.set(name, { ...t, shape: [outDim, inDim], data: transposed(t.data, inDim, outDim) });
    } else if (shape) out.set(name, t);
    // Causal-mask buffers older transformers saved; transformers skips them too.
    else if (/\.attn\.(bias|masked_bias)$/.test(name)) continue;
    else if (name === 'lm_head.weight' && c.tie_word_embeddings) checkTiedHead(t, named.get('transformer.wte.weight'));
    else unused.push(name);
  }
  if (unused.length > 0) {
    const more = unused.length > 1 ? ` (and ${unused.length - 1} more unused tensor${unused.length > 2 ? 's' : ''})` : '';
    throw new Error(`The checkpoint has ${unused[0]}${more}, which this gpt2 config does not use but ${usedBy(unused[0]!, c)} would; fix config.json to match the weights.`);
  }
  return out;
}

function checkTiedHead(head: { shape: number[]; data: Float32Array }, embed: { shape: number[]; data: Float32Array } | undefined): void {
  const same = embed !== undefined && head.shape.join() === embed.shape.join() && head.data.every((v, i) => v === embed.data[i]);
  if (!same) {
    throw new Error(
      'The checkpoint has an lm_head.weight that differs from transformer.wte.weight, but config.json sets tie_word_embeddings: true (the head is the embedding); set it to false if the head was trained separately.',
    );
  }
}

/**
 * The engine's tensors and config as a GPT2LMHeadModel folder holds them: Conv1D weights back to
 * [in, out] and the sizes under GPT-2's own keys, so transformers loads the saved folder.
 */
export function gpt2Checkpoint<T extends { shape: number[]; data: Float32Array }>(
  c: Gpt2Config,
  tensors: Map<string, T>,
): { config: Record<string, unknown>; tensors: Map<string, { shape: number[]; data: Float32Array }> } {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of tensors) {
    if (!isConv1D(name)) out.set(name, t);
    else {
      const [outDim, inDim] = t.shape as [number, number];
      out.set(name, { shape: [inDim, outDim], data: transposed(t.data, outDim, inDim) });
    }
  }
  const { hidden_size, num_hidden_layers, num_attention_heads, max_position_embeddings, ...rest } = c as Gpt2Config & Raw;
  delete rest.torch_dtype; // transformers 5's key is dtype; the weights are written as float32
  const config = {
    ...rest,
    architectures: ['GPT2LMHeadModel'],
    dtype: 'float32',
    n_embd: hidden_size,
    n_layer: num_hidden_layers,
    n_head: num_attention_heads,
    n_positions: max_position_embeddings,
  };
  return { config, tensors: out };
}
