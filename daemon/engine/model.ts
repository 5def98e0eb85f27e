// The Llama-family decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU), and nothing else:
// no I/O, no training loop. Parameter names and layouts are Hugging Face's ([out, in] linears), so
// a checkpoint's tensors map one to one onto `LlamaModel.params`.
import * as tf from '@tensorflow/tfjs-core';
import { gpt2Forward, type Gpt2Model } from './gpt2.ts';
import { headDim, parameterShapes, type LlamaConfig, type ModelConfig } from './modelConfig.ts';
import { applyRope, bmm, bmmT, embedding, linear, linearFrozen, linearQuantized, recordingGradients, ropeRows } from './ops.ts';
import { attention, rmsNorm, swiglu } from './layerOps.ts';
import { graphDecoderLayer, LAYER_MODULES, type GraphLayerInputs, type GraphModule } from './layerGraph.ts';
import { graphsAvailable } from './tfGraph.ts';
import type { QuantizedWeight } from './quantized.ts';
import { recomputed, variablesUnder } from './recompute.ts';
import { ropeTables } from './rope.ts';
import { Rng } from './rng.ts';

// The config and the tensor list live in modelConfig.ts (pure), RoPE in rope.ts.
export {
  checkWeights,
  headDim,
  LINEAR_MODULES,
  linearModules,
  normalizeConfig,
  parameterCount,
  parameterShapes,
  readModelConfig,
  type Gpt2Config,
  type LlamaConfig,
  type ModelConfig,
} from './modelConfig.ts';
export { ropeTables } from './rope.ts';

/** HF's init: linears and embeddings ~ N(0, initializer_range), norms 1, biases 0; seeded. */
export function initialWeights(c: ModelConfig, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const std = c.initializer_range ?? 0.02;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(c)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight') || /\.ln_\w+\.weight$/.test(name)) data.fill(1); // RMSNorm, GPT-2's LayerNorms
    else if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    out.set(name, { shape, data });
  }
  return out;
}

/** A model of any architecture (Llama's here, GPT-2's in gpt2.ts): its config and one tf.Variable per HF parameter name. */
export interface LlamaModel {
  config: ModelConfig;
  params: Map<string, tf.Variable>;
  /** Frozen linear weights kept quantized (load_in_4bit); they are not in `params`. */
  quantized?: Map<string, QuantizedWeight>;
}

/** Builds variables from weights (e.g. `initialWeights` or a checkpoint); `trainable` marks them. */
export function createModel(
  config: ModelConfig,
  weights: Map<string, { shape: number[]; data: Float32Array }>,
  trainable: boolean,
  quantized?: Map<string, QuantizedWeight>,
): LlamaModel {
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of parameterShapes(config)) {
    const q = quantized?.get(name);
    if (q) {
      if (q.shape.join() !== shape.join()) throw new Error(`${name} has shape [${q.shape}] but the config implies [${shape}].`);
      continue;
    }
    const w = weights.get(name);
    if (!w) throw new Error(`The model's weights lack ${name}.`);
    if (w.shape.join() !== shape.join()) throw new Error(`${name} has shape [${w.shape}] but the config implies [${shape}].`);
    params.set(name, ownedVariable(tf.tensor(w.data, shape, 'float32'), trainable));
  }
  return { config, params, ...(quantized && quantized.size > 0 ? { quantized } : {}) };
}

/** A variable that takes over `t` (tf.variable copies the reference; the source must be disposed). */
export function ownedVariable(t: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

/** Overwrites a variable's value with host data (no tensor left behind). */
export function assignData(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}

export function disposeModel(m: LlamaModel): void {
  for (const v of m.params.values()) v.dispose();
  m.params.clear();
}

/** A low-rank (or other) correction added to a linear layer's output, keyed by HF module path. */
export interface LinearAdapter {
  /** Returns the delta for `x` through module `name` (e.g. `model.layers.0.self_attn.q_proj`), or null. */
  delta(name: string, x: tf.Tensor2D): tf.Tensor2D | null;
  /** Trainable tensors the deltas read, named under their module's path (`<module>.lora_A.weight`). */
  readonly params?: Map<string, tf.Variable>;
  /**
   * Optional: x @ w^T plus this adapter's delta for module `name`, as one op, for a frozen `w`; null
   * where the adapter leaves the module alone (then `proj` multiplies by w itself).
   */
  projectFrozen?(name: string, x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D | null;
  /**
   * Optional: LoRA's pieces for module `name`, for a layer run as one graph (layerGraph.ts): A, B, the
   * scale and dropout's rate and seed while training; null where it leaves the module alone.
   */
  loraPieces?(name: string): LoraPieces | null;
}

export interface LoraPieces {
  a: tf.Variable;
  b: tf.Variable;
  scale: number;
  dropout?: { rate: number; seed: number };
}

/** Per-layer keys and values for incremental decoding (rotated, before grouped-query expansion). */
export interface KVCache {
  k: (tf.Tensor4D | null)[]; // [B, Hkv, Tpast, hd]
  v: (tf.Tensor4D | null)[];
  length: number;
}

export function emptyCache(c: ModelConfig): KVCache {
  return { k: new Array(c.num_hidden_layers).fill(null), v: new Array(c.num_hidden_layers).fill(null), length: 0 };
}

/**
 * Layer `l`'s keys and values [B, Hkv, S, hd] with this pass's appended to the cache's, which then
 * holds (and keeps) the result; the previous tensors are freed.
 */
export function appendToCache(cache: KVCache, l: number, k: tf.Tensor4D, v: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const ck = cache.k[l];
  const cv = cache.v[l];
  const keys = ck && cv ? (tf.concat([ck, k], 2) as tf.Tensor4D) : k;
  const values = ck && cv ? (tf.concat([cv, v], 2) as tf.Tensor4D) : v;
  cache.k[l] = tf.keep(keys);
  cache.v[l] = tf.keep(values);
  ck?.dispose();
  cv?.dispose();
  return [keys, values];
}

export function disposeCache(cache: KVCache): void {
  for (const t of [...cache.k, ...cache.v]) t?.dispose();
}

/** Host-side inputs of one forward pass: token ids, positions (for RoPE) and the attention bias. */
export interface ForwardInputs {
  batch: number;
  /** Query length (new tokens this pass). */
  length: number;
  ids: Int32Array; // [B*T]
  positions: Int32Array; // [B*T]
  /** Additive attention bias [B, T, Tpast+T]: 0 where a query may attend, -1e9 where not. */
  bias: Float32Array;
}

export interface ForwardOptions {
  adapter?: LinearAdapter;
  /** Base weights take no gradient (LoRA): skips dW in the backward pass. */
  frozenBase?: boolean;
  cache?: KVCache;
  /** Only these flattened positions go through the final norm + lm_head (the ones that carry loss). */
  select?: Int32Array;
  /** Weights transposed once for inference (ops.transposedWeights); no gradient flows through them. */
  transposed?: Map<string, tf.Tensor2D>;
  /**
   * Training: the loss from the final hidden states and the head weight [vocab, hidden], computed by
   * the caller (headOps.headCrossEntropy, which never holds all the logits); forward then returns this
   * scalar instead of logits. Not used when an adapter changes the head.
   */
  lossHead?: (hidden: tf.Tensor2D, head: tf.Tensor2D) => tf.Scalar;
  /**
   * Gradient checkpointing (transformers' gradient_checkpointing, recompute.ts): each layer keeps only
   * its input for the backward pass and runs again there. For training; a KV cache turns it off.
   */
  checkpointLayers?: boolean;
}

function param(m: LlamaModel, name: string): tf.Variable {
  const p = m.params.get(name);
  if (!p) throw new Error(`missing parameter ${name}`);
  return p;
}

/** RoPE's tables for one kind of head (ops.applyRope): [N, heads * hd] each. */
interface RopeRows {
  cos: tf.Tensor2D;
  sinSigned: tf.Tensor2D;
}

/**
 * What the layers of one pass share: sizes, options, RoPE's tables for query heads (with attention's
 * 1/sqrt(hd) folded in) and key heads, and the attention bias [B * Hkv, G * T, S], laid out as the
 * scores are (made once per pass, so no layer adds it with broadcasting or reshapes scores for it).
 */
interface Pass {
  B: number;
  T: number;
  S: number;
  opts: ForwardOptions;
  ropeQ: RopeRows;
  ropeK: RopeRows;
  bias: tf.Tensor3D;
}

/** x @ W^T (+ bias) (+ the adapter's delta) for linear module `name`. */
function proj(m: LlamaModel, opts: ForwardOptions, name: string, x: tf.Tensor2D): tf.Tensor2D {
  const wT = opts.transposed?.get(`${name}.weight`);
  const q = m.quantized?.get(`${name}.weight`);
  const w = wT || q ? null : (param(m, `${name}.weight`) as tf.Tensor as tf.Tensor2D);
  const fused = w && opts.frozenBase ? opts.adapter?.projectFrozen?.(name, x, w) : null;
  let y: tf.Tensor2D = fused ? fused : wT ? tf.matMul(x, wT) : q ? linearQuantized(x, q) : opts.frozenBase ? linearFrozen(x, w!) : linear(x, w!);
  const b = m.params.get(`${name}.bias`);
  if (b) y = tf.add(y, b);
  const d = fused ? null : opts.adapter?.delta(name, x);
  return d ? tf.add(y, d) : y;
}

/** Decoder layer `l`: pre-norm grouped-query self-attention, then a SwiGLU MLP, each added to the residual h [N, hidden]. */
function decoderLayer(m: LlamaModel, l: number, h: tf.Tensor2D, pass: Pass): tf.Tensor2D {
  const c = m.config as LlamaConfig;
  const { B, T, S, opts } = pass;
  const N = B * T;
  const H = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const hd = headDim(c);
  const p = `model.layers.${l}.`;
  const graph = graphLayerInputs(m, l, pass);
  if (graph) return graphDecoderLayer(h, graph);

  // Qwen3's q_norm/k_norm: RMSNorm over each head's vector, before RoPE; absent in other models.
  const headNorm = (y: tf.Tensor2D, name: string, heads: number): tf.Tensor2D => {
    const w = m.params.get(`${name}.weight`);
    if (!w) return y;
    return tf.reshape(rmsNorm(tf.reshape(y, [N * heads, hd]), w as tf.Tensor as tf.Tensor1D, c.rms_norm_eps), [N, heads * hd]);
  };
  const rope = (x: tf.Tensor2D, r: RopeRows): tf.Tensor2D => applyRope(x, r.cos, r.sinSigned, hd);
  // Grouped-query attention without repeating keys and values (layerOps.attention): HF's repeat_kv
  // gives query head h the kv head floor(h / G), so heads are grouped kv-major.
  const x = rmsNorm(h, param(m, `${p}input_layernorm.weight`) as tf.Tensor as tf.Tensor1D, c.rms_norm_eps) as tf.Tensor2D;
  // q comes out of RoPE already times 1/sqrt(hd) (folded into its tables).
  const q = rope(headNorm(proj(m, opts, `${p}self_attn.q_proj`, x), `${p}self_attn.q_norm`, H), pass.ropeQ);
  const k = rope(headNorm(proj(m, opts, `${p}self_attn.k_proj`, x), `${p}self_attn.k_norm`, Hkv), pass.ropeK);
  const v = proj(m, opts, `${p}self_attn.v_proj`, x);
  const ctx = opts.cache ? cachedAttention(opts.cache, l, q, k, v, pass, H, Hkv, hd) : attention(q, k, v, pass.bias, { B, T, S, H, Hkv, hd });
  h = tf.add(h, proj(m, opts, `${p}self_attn.o_proj`, ctx));

  const x2 = rmsNorm(h, param(m, `${p}post_attention_layernorm.weight`) as tf.Tensor as tf.Tensor1D, c.rms_norm_eps) as tf.Tensor2D;
  const gate = proj(m, opts, `${p}mlp.gate_proj`, x2);
  const up = proj(m, opts, `${p}mlp.up_proj`, x2);
  return tf.add(h, proj(m, opts, `${p}mlp.down_proj`, swiglu(gate, up)));
}

/**
 * Layer `l`'s inputs for running it as one TensorFlow graph (layerGraph.ts), or null where the layer
 * must run op by op: off the native backend; training with gradients for the model's own weights (full
 * fine-tuning); an adapter other than LoRA; a KV cache; quantized or pre-transposed weights; or with
 * ANNEAL_LAYER_GRAPHS=0. Without a tape (evaluation, scoring) any weights qualify.
 */
function graphLayerInputs(m: LlamaModel, l: number, pass: Pass): GraphLayerInputs | null {
  const { opts } = pass;
  const adapter = opts.adapter;
  if ((recordingGradients() && !opts.frozenBase) || (adapter && !adapter.loraPieces)) return null;
  if (opts.cache || opts.transposed || m.quantized || process.env.ANNEAL_LAYER_GRAPHS === '0' || !graphsAvailable()) return null;
  const c = m.config as LlamaConfig;
  const p = `model.layers.${l}.`;
  const qNorm = m.params.get(`${p}self_attn.q_norm.weight`);
  const kNorm = m.params.get(`${p}self_attn.k_norm.weight`);
  let scale = 0;
  const modules: GraphModule[] = LAYER_MODULES.map((mod) => {
    const name = `${p}${mod}`;
    const weight = param(m, `${name}.weight`) as tf.Tensor as tf.Tensor2D;
    const lora = adapter?.loraPieces!(name) ?? null;
    if (lora) scale = lora.scale;
    const bias = m.params.get(`${name}.bias`) as tf.Tensor as tf.Tensor1D | undefined;
    return { weight, ...(bias ? { bias } : {}), ...(lora ? { a: lora.a, b: lora.b, ...(lora.dropout ? { dropout: lora.dropout } : {}) } : {}) };
  });
  return {
    norm1: param(m, `${p}input_layernorm.weight`) as tf.Tensor as tf.Tensor1D,
    norm2: param(m, `${p}post_attention_layernorm.weight`) as tf.Tensor as tf.Tensor1D,
    ...(qNorm && kNorm ? { headNorms: { q: qNorm as tf.Tensor as tf.Tensor1D, k: kNorm as tf.Tensor as tf.Tensor1D } } : {}),
    modules,
    ropeQ: pass.ropeQ,
    ropeK: pass.ropeK,
    bias: pass.bias,
    eps: c.rms_norm_eps,
    scale,
    dims: { B: pass.B, T: pass.T, S: pass.S, H: c.num_attention_heads, Hkv: c.num_key_value_heads, hd: headDim(c) },
  };
}

/**
 * layerOps.attention for a pass that extends a KV cache (generation, scoring with a cached prefix):
 * this pass's keys and values are appended to layer `l`'s cache and the queries attend to all S keys.
 */
function cachedAttention(cache: KVCache, l: number, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, pass: Pass, H: number, Hkv: number, hd: number): tf.Tensor2D {
  const { B, T, S } = pass;
  const G = H / Hkv;
  const [k4, v4] = appendToCache(cache, l, tf.transpose(tf.reshape(k, [B, T, Hkv, hd]), [0, 2, 1, 3]) as tf.Tensor4D, tf.transpose(tf.reshape(v, [B, T, Hkv, hd]), [0, 2, 1, 3]) as tf.Tensor4D);
  // q [B, T, Hkv, G, hd] -> [B*Hkv, G*T, hd]; scores per kv head [B*Hkv, G*T, S] against the keys as stored.
  const qh = tf.reshape(tf.transpose(tf.reshape(q, [B, T, Hkv, G, hd]), [0, 2, 3, 1, 4]), [B * Hkv, G * T, hd]) as tf.Tensor3D;
  const kh = tf.reshape(k4, [B * Hkv, S, hd]) as tf.Tensor3D;
  const vh = tf.reshape(v4, [B * Hkv, S, hd]) as tf.Tensor3D;
  const probs = tf.softmax(tf.add(bmmT(qh, kh), pass.bias)) as tf.Tensor3D;
  // [B*Hkv, G*T, hd] -> [B, T, Hkv, G, hd] = [N, H*hd] in HF's head order.
  return tf.reshape(tf.transpose(tf.reshape(bmm(probs, vh), [B, Hkv, G, T, hd]), [0, 3, 1, 2, 4]), [B * T, H * hd]) as tf.Tensor2D;
}

/**
 * Runs the decoder; returns logits [N, vocab] for every position (or for `select`ed ones), rows in
 * batch-major order. Must be called inside tf.tidy.
 */
export function forward(m: LlamaModel, inp: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor2D {
  if (m.config.model_type === 'gpt2') return gpt2Forward(m as Gpt2Model, inp, opts);
  const c = m.config;
  const B = inp.batch;
  const T = inp.length;
  const N = B * T;
  const hd = headDim(c);
  const S = (opts.cache?.length ?? 0) + T; // key length
  const H = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const { cos, sin } = ropeTables(c, inp.positions);
  const rowsQ = ropeRows(cos, sin, N, H, hd, 1 / Math.sqrt(hd));
  const rowsK = ropeRows(cos, sin, N, Hkv, hd);
  const upload = (r: typeof rowsQ, heads: number): RopeRows => ({ cos: tf.tensor2d(r.cos, [N, heads * hd]), sinSigned: tf.tensor2d(r.sinSigned, [N, heads * hd]) });
  // The bias [B, T, S] repeated for each query head, in the scores' [B, Hkv, G, T, S] order.
  const bias = () => tf.reshape(tf.tile(tf.tensor4d(inp.bias, [B, 1, T, S]), [1, H, 1, 1]), [B * Hkv, (H / Hkv) * T, S]) as tf.Tensor3D;
  const pass = (): Pass => ({ B, T, S, opts, ropeQ: upload(rowsQ, H), ropeK: upload(rowsK, Hkv), bias: bias() });
  // Checkpointing trades about one more forward pass per step for keeping one layer's activations
  // at a time instead of every layer's (recompute.ts). A recomputed layer reads no tensor made out
  // here, since those are gone by the backward pass: it uploads its pass constants itself.
  const checkpoint = opts.checkpointLayers === true && !opts.cache;
  const shared = checkpoint ? null : pass();

  let h = embedding(param(m, 'model.embed_tokens.weight') as tf.Tensor as tf.Tensor2D, tf.tensor1d(inp.ids, 'int32')) as tf.Tensor2D;
  for (let l = 0; l < c.num_hidden_layers; l++) {
    h = checkpoint
      ? recomputed((x) => decoderLayer(m, l, x, pass()), h, variablesUnder(`model.layers.${l}.`, opts.frozenBase ? undefined : m.params, opts.adapter?.params))
      : decoderLayer(m, l, h, shared!);
  }
  if (opts.cache) opts.cache.length = S;
  if (opts.select) h = embedding(h, tf.tensor1d(opts.select, 'int32')) as tf.Tensor2D;
  const hn = rmsNorm(h, param(m, 'model.norm.weight') as tf.Tensor as tf.Tensor1D, c.rms_norm_eps) as tf.Tensor2D;
  const head = (m.params.get('lm_head.weight') ?? param(m, 'model.embed_tokens.weight')) as tf.Tensor as tf.Tensor2D;
  const headName = m.params.has('lm_head.weight') ? 'lm_head' : 'model.embed_tokens';
  if (opts.lossHead && !opts.adapter?.params?.has('lm_head.lora_A.weight')) return opts.lossHead(hn, head) as tf.Tensor as tf.Tensor2D;
  const headT = opts.transposed?.get(m.params.has('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight');
  let logits: tf.Tensor2D = headT ? tf.matMul(hn, headT) : opts.frozenBase ? linearFrozen(hn, head) : linear(hn, head);
  const d = headName === 'lm_head' ? opts.adapter?.delta('lm_head', hn) : null;
  if (d) logits = tf.add(logits, d);
  return logits;
}

/** Attention bias for right-padded or packed rows: query i sees key j when j <= i in the same segment. */
export function causalBias(segments: Int32Array, batch: number, length: number): Float32Array {
  const bias = new Float32Array(batch * length * length).fill(-1e9);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      const si = segments[b * length + i]!;
      const row = (b * length + i) * length;
      // A padding query (segment 0) still needs one visible key to keep softmax finite; let it see itself.
      if (si === 0) { bias[row + i] = 0; continue; }
      for (let j = 0; j <= i; j++) if (segments[b * length + j] === si) bias[row + j] = 0;
    }
  }
  return bias;
}
