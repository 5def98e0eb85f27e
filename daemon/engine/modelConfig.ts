// What a Hugging Face config.json says about a Llama-family decoder, read the way transformers 5 reads
// it (which also reads transformers 4's form), and which tensors such a model has. Pure: no tfjs, no I/O.
//
// transformers 4 writes `rope_theta` and `rope_scaling` at the top level; transformers 5 writes one
// `rope_parameters` dict holding both. The normalized config keeps the transformers 4 form (top-level
// `rope_theta`, `rope_scaling` or null) because both versions read it, so a config saved from it loads
// the same model in either.
//
// GPT-2 is the other architecture (gpt2Config.ts); `readModelConfig`, `parameterShapes`,
// `checkWeights` and `linearModules` answer for either, by model_type.
import { checkGpt2Weights, GPT2_LINEAR_MODULES, gpt2ParameterShapes, normalizeGpt2Config, type Gpt2Config } from './gpt2Config.ts';

export type { Gpt2Config } from './gpt2Config.ts';

/** Architectures this engine computes exactly; `smollm` is Llama under another name. */
export const MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];
const MODEL_TYPE_ALIASES: Record<string, ModelType> = { smollm: 'llama' };

export const ROPE_TYPES = ['default', 'linear', 'dynamic', 'yarn', 'llama3'] as const;
export type RopeType = (typeof ROPE_TYPES)[number];

/** A non-default RoPE scaling, with transformers' key names (see rope.ts for what each does). */
export interface RopeScaling {
  rope_type: Exclude<RopeType, 'default'>;
  /** linear, dynamic, llama3, yarn: how much longer the context is than in pretraining. */
  factor: number;
  /** llama3, yarn: the pretraining context length. */
  original_max_position_embeddings?: number;
  /** llama3 */
  low_freq_factor?: number;
  high_freq_factor?: number;
  /** yarn: an explicit cos/sin scale, else derived from factor (and mscale/mscale_all_dim). */
  attention_factor?: number;
  beta_fast?: number;
  beta_slow?: number;
  mscale?: number;
  mscale_all_dim?: number;
  truncate?: boolean;
}

/** The subset of Hugging Face's LlamaConfig (also Mistral/Qwen2/Qwen3) this model reads. */
export interface LlamaConfig {
  model_type: ModelType;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** Set when the config gives it (Qwen3 defaults to 128); otherwise hidden_size / num_attention_heads. */
  head_dim?: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: RopeScaling | null;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  /**
   * Llama and Qwen3: biases on q, k, v and o. Always false for Qwen2 (whose q/k/v biases come with the
   * model type, never an o bias) and Mistral (no biases), as their transformers classes ignore it.
   */
  attention_bias: boolean;
  /** Llama only: biases on gate, up and down. */
  mlp_bias: boolean;
  initializer_range?: number;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
}

/** Which tensors beyond the Llama core a config implies. */
export interface Extras {
  /** Bias on q_proj, k_proj, v_proj. */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3's per-head RMSNorm of q and k (weights [head_dim]) before RoPE. */
  qkNorm: boolean;
}

export function extras(c: LlamaConfig): Extras {
  return {
    qkvBias: c.model_type === 'qwen2' || c.attention_bias,
    oBias: c.attention_bias,
    mlpBias: c.mlp_bias,
    qkNorm: c.model_type === 'qwen3',
  };
}

type Raw = Record<string, unknown>;

function num(raw: Raw, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new Error(`config.json needs a number for ${key} (got ${JSON.stringify(raw[key])}).`);
  }
  return v;
}

function optionalNum(raw: Raw, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.json's ${key} must be a number (got ${JSON.stringify(v)}).`);
  return v;
}

function modelType(raw: Raw): ModelType {
  const given = raw.model_type ?? 'llama';
  const t = MODEL_TYPE_ALIASES[String(given)] ?? String(given);
  if (!(MODEL_TYPES as readonly string[]).includes(t)) {
    throw new Error(`config.json is a ${String(given)} model; this engine trains ${MODEL_TYPES.join(', ')}, gpt2 (and smollm) models.`);
  }
  return t as ModelType;
}

/**
 * The rope dict as transformers 5 settles it: a non-null `rope_scaling` wins over `rope_parameters`;
 * `rope_theta` comes from that dict, else the top level, else 10000; the older `type` key stands in
 * for `rope_type`; llama3 and yarn take their original length from max_position_embeddings if unset.
 */
function readRope(raw: Raw, maxPositions: number): { theta: number; scaling: RopeScaling | null } {
  const scaling = raw.rope_scaling;
  const params = raw.rope_parameters;
  const dict = (scaling !== null && typeof scaling === 'object' ? scaling : params !== null && typeof params === 'object' ? params : {}) as Raw;
  if ('full_attention' in dict || 'sliding_attention' in dict) {
    throw new Error('config.json sets rope_parameters per layer type; this engine supports one RoPE for all layers.');
  }
  const theta = num(dict, 'rope_theta', optionalNum(raw, 'rope_theta') ?? 10000);
  const partial = optionalNum(dict, 'partial_rotary_factor') ?? optionalNum(raw, 'partial_rotary_factor') ?? 1;
  if (partial !== 1) throw new Error(`config.json sets partial_rotary_factor ${partial}; this engine rotates the whole head (1.0).`);
  const type = String(dict.rope_type ?? dict.type ?? 'default');
  if (!(ROPE_TYPES as readonly string[]).includes(type)) {
    throw new Error(`config.json asks for rope_type "${type}"; this engine computes ${ROPE_TYPES.join(', ')}.`);
  }
  if (type === 'default') return { theta, scaling: null };
  const out: RopeScaling = { rope_type: type as RopeScaling['rope_type'], factor: 1 };
  const original = optionalNum(dict, 'original_max_position_embeddings');
  if (type === 'llama3' || type === 'yarn') out.original_max_position_embeddings = original ?? maxPositions;
  const factor = optionalNum(dict, 'factor');
  if (factor !== undefined) out.factor = factor;
  else if (type === 'yarn') out.factor = maxPositions / out.original_max_position_embeddings!; // what transformers infers
  else throw new Error(`config.json's rope_type "${type}" needs a factor.`);
  if (type === 'llama3') {
    out.low_freq_factor = num(dict, 'low_freq_factor');
    out.high_freq_factor = num(dict, 'high_freq_factor');
  }
  if (type === 'yarn') {
    for (const key of ['attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim'] as const) {
      const v = optionalNum(dict, key);
      if (v !== undefined) out[key] = v;
    }
    if (dict.truncate !== undefined && dict.truncate !== null) out.truncate = Boolean(dict.truncate);
  }
  return { theta, scaling: out };
}

/**
 * Reads a config.json object (either transformers version's form) into the fields the model uses,
 * filling transformers' defaults; other fields are kept as they are. Throws one sentence for a model
 * this engine would compute wrongly.
 */
export function normalizeConfig(input: Partial<LlamaConfig> | Raw): LlamaConfig {
  const raw = input as Raw;
  const type = modelType(raw);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') throw new Error(`config.json sets hidden_act "${String(act)}"; this engine's MLP is SwiGLU (silu).`);
  const layerTypes = Array.isArray(raw.layer_types) ? (raw.layer_types as unknown[]) : [];
  if (raw.use_sliding_window === true || layerTypes.some((t) => t !== 'full_attention')) {
    // Mistral's sliding_window needs no check: it only masks keys farther back than the window.
    throw new Error('config.json turns on sliding-window attention for some layers; this engine attends to the full context, so set use_sliding_window to false.');
  }
  const heads = num(raw, 'num_attention_heads');
  const hidden = num(raw, 'hidden_size');
  const maxPositions = num(raw, 'max_position_embeddings', type === 'qwen2' || type === 'qwen3' ? 32768 : type === 'mistral' ? 131072 : 2048);
  const rope = readRope(raw, maxPositions);
  const { rope_parameters: _, ...rest } = raw; // replaced by the rope_theta/rope_scaling pair
  const config: LlamaConfig = {
    ...rest,
    model_type: type,
    vocab_size: num(raw, 'vocab_size'),
    hidden_size: hidden,
    intermediate_size: num(raw, 'intermediate_size'),
    num_hidden_layers: num(raw, 'num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: num(raw, 'num_key_value_heads', heads),
    rms_norm_eps: num(raw, 'rms_norm_eps', 1e-6),
    rope_theta: rope.theta,
    rope_scaling: rope.scaling,
    max_position_embeddings: maxPositions,
    tie_word_embeddings: Boolean(raw.tie_word_embeddings ?? false),
    attention_bias: type === 'llama' || type === 'qwen3' ? Boolean(raw.attention_bias ?? false) : false,
    mlp_bias: type === 'llama' ? Boolean(raw.mlp_bias ?? false) : false,
  };
  const hd = optionalNum(raw, 'head_dim') ?? (type === 'qwen3' ? 128 : undefined);
  if (hd !== undefined) config.head_dim = hd;
  else delete config.head_dim;
  if (hd === undefined && hidden % heads !== 0) {
    throw new Error(`config.json's hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}; give head_dim.`);
  }
  if (headDim(config) % 2 !== 0) throw new Error(`config.json gives head_dim ${headDim(config)}; RoPE needs an even head_dim.`);
  if (heads % config.num_key_value_heads !== 0) {
    throw new Error(`config.json's num_attention_heads ${heads} is not a multiple of num_key_value_heads ${config.num_key_value_heads}.`);
  }
  return config;
}

/** A config of any architecture this engine computes; `model_type` tells which. */
export type ModelConfig = LlamaConfig | Gpt2Config;

/** Reads any supported config.json: GPT-2's (gpt2Config.ts) or a Llama-family one (`normalizeConfig`). */
export function readModelConfig(raw: Raw): ModelConfig {
  return raw.model_type === 'gpt2' ? normalizeGpt2Config(raw) : normalizeConfig(raw);
}

export function headDim(c: LlamaConfig): number {
  return c.head_dim ?? c.hidden_size / c.num_attention_heads;
}

/** Every linear layer of a decoder layer, by its HF module name. */
export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** The linear layers LoRA can target in this config's architecture, by HF module name. */
export function linearModules(c: ModelConfig): readonly string[] {
  return c.model_type === 'gpt2' ? GPT2_LINEAR_MODULES : LINEAR_MODULES;
}

/** HF parameter names and shapes, in checkpoint order. */
export function parameterShapes(c: ModelConfig): Map<string, number[]> {
  if (c.model_type === 'gpt2') return gpt2ParameterShapes(c);
  const d = c.hidden_size;
  const hd = headDim(c);
  const q = c.num_attention_heads * hd;
  const kv = c.num_key_value_heads * hd;
  const ff = c.intermediate_size;
  const x = extras(c);
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [c.vocab_size, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    shapes.set(`${p}input_layernorm.weight`, [d]);
    shapes.set(`${p}self_attn.q_proj.weight`, [q, d]);
    shapes.set(`${p}self_attn.k_proj.weight`, [kv, d]);
    shapes.set(`${p}self_attn.v_proj.weight`, [kv, d]);
    if (x.qkvBias) {
      shapes.set(`${p}self_attn.q_proj.bias`, [q]);
      shapes.set(`${p}self_attn.k_proj.bias`, [kv]);
      shapes.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    if (x.qkNorm) {
      shapes.set(`${p}self_attn.q_norm.weight`, [hd]);
      shapes.set(`${p}self_attn.k_norm.weight`, [hd]);
    }
    shapes.set(`${p}self_attn.o_proj.weight`, [d, q]);
    if (x.oBias) shapes.set(`${p}self_attn.o_proj.bias`, [d]);
    shapes.set(`${p}post_attention_layernorm.weight`, [d]);
    shapes.set(`${p}mlp.gate_proj.weight`, [ff, d]);
    shapes.set(`${p}mlp.up_proj.weight`, [ff, d]);
    shapes.set(`${p}mlp.down_proj.weight`, [d, ff]);
    if (x.mlpBias) {
      shapes.set(`${p}mlp.gate_proj.bias`, [ff]);
      shapes.set(`${p}mlp.up_proj.bias`, [ff]);
      shapes.set(`${p}mlp.down_proj.bias`, [d]);
    }
  }
  shapes.set('model.norm.weight', [d]);
  if (!c.tie_word_embeddings) shapes.set('lm_head.weight', [c.vocab_size, d]);
  return shapes;
}

/** Count of parameters (tied embeddings counted once). */
export function parameterCount(c: ModelConfig): number {
  let n = 0;
  for (const s of parameterShapes(c).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

/** Which config would use a tensor this one does not, for the error that names it. */
function usedBy(name: string, c: LlamaConfig): string {
  const layer = /^model\.layers\.(\d+)\./.exec(name);
  if (layer && Number(layer[1]) >= c.num_hidden_layers) return `a model with more than num_hidden_layers ${c.num_hidden_layers}`;
  if (/self_attn\.o_proj\.bias$/.test(name)) return 'attention_bias: true (model_type llama or qwen3)';
  if (/self_attn\.[qkv]_proj\.bias$/.test(name)) return 'attention_bias: true (model_type llama or qwen3), or model_type qwen2';
  if (/mlp\.(gate|up|down)_proj\.bias$/.test(name)) return 'mlp_bias: true (model_type llama)';
  if (/self_attn\.[qk]_norm\.weight$/.test(name)) return 'model_type qwen3';
  if (name === 'lm_head.weight') return 'tie_word_embeddings: false';
  return `no architecture this engine supports (${MODEL_TYPES.join(', ')})`;
}

/**
 * Checks a checkpoint's tensor names against the config and returns the tensors the model takes:
 * every tensor must be one the architecture uses, so a config that does not match its weights fails
 * here instead of running a different model. A tied model may still ship lm_head.weight, but only as a
 * copy of the embedding (the tied head would silently replace anything else).
 */
export function checkWeights<T extends { shape: number[]; data: Float32Array }>(c: ModelConfig, weights: Map<string, T>): Map<string, T> {
  if (c.model_type === 'gpt2') return checkGpt2Weights(c, weights); // also turns its Conv1D weights to [out, in]
  const shapes = parameterShapes(c);
  const out = new Map<string, T>();
  const unused: string[] = [];
  for (const [name, t] of weights) {
    if (shapes.has(name)) out.set(name, t);
    // A buffer older transformers saved; it is recomputed from the config (transformers skips it too).
    else if (/\.rotary_emb\.inv_freq$/.test(name)) continue;
    else if (name === 'lm_head.weight' && c.tie_word_embeddings) checkTiedHead(t, weights.get('model.embed_tokens.weight'));
    else unused.push(name);
  }
  if (unused.length > 0) {
    const more = unused.length > 1 ? ` (and ${unused.length - 1} more unused tensor${unused.length > 2 ? 's' : ''})` : '';
    throw new Error(
      `The checkpoint has ${unused[0]}${more}, which this ${c.model_type} config does not use but ${usedBy(unused[0]!, c)} would; fix config.json to match the weights.`,
    );
  }
  return out;
}

function checkTiedHead(head: { shape: number[]; data: Float32Array }, embed: { shape: number[]; data: Float32Array } | undefined): void {
  const same = embed !== undefined && head.shape.join() === embed.shape.join() && head.data.every((v, i) => v === embed.data[i]);
  if (!same) {
    throw new Error(
      'The checkpoint has an lm_head.weight that differs from model.embed_tokens.weight, but config.json sets tie_word_embeddings: true (the head is the embedding); set it to false if the head was trained separately.',
    );
  }
}
