// One generated token per row for the Llama family (T = 1), with as few kernels as the math allows.
//
// Why: decoding one position through `forward` runs ~64 kernels per layer on SmolLM2, most of them on
// vectors of a few hundred numbers, and each kernel costs tens of microseconds of dispatch (on native
// TensorFlow, an N-API call plus uploads of its shape and scalar arguments) — more than the layer's
// matrix products themselves. Here a layer is 30 kernels on native TensorFlow (SmolLM2: 908 ops per
// token instead of 1934) and about 40 on wasm: every per-token shape is chosen so that the next op
// takes it as it is, and on native TensorFlow the ops skip tfjs-core's layer (nativeOps.ts).
//
// What equals what (the math is `forward`'s in model.ts):
// - RoPE at one position is a rotation: x*cos + rotate_half(x)*sin = x @ R with R [hd, hd] holding cos
//   on its diagonal and -sin/+sin across the halves; one product turns a row's heads.
// - LoRA: W + scale * B A replaces W for the generation (no dropout: inference).
// Native TensorFlow and the GPU backends fuse the weights once per generation (prepareDecode):
// - RMSNorm(x) W^T = (x * rsqrt(mean(x^2) + eps)) (W * g)^T: the norm weight g is folded into the
//   columns of the fused weight that follows it (q/k/v, gate/up).
// - q, k and v are one product against their concatenated rows, ordered per kv head as its G query
//   heads, its key head, its value head: the product reshapes to [B, Hkv, G+2, hd], where one split
//   gives the rows RoPE turns (q and k together) and the value row, already in the cache's shape.
// - 1/sqrt(hd) is folded into the q rows (or into Qwen3's q_norm weight, which comes after them).
// - gate and up are one product, split once.
// wasm instead multiplies by generation's transposed copies as they are (ops.transposedWeights: made
// for the prompt, and packed by XNNPACK on their first use there): copying and packing fused weights
// once more cost it about a second on SmolLM2, more than 32 tokens of fusion saved.
// The KV cache keeps `forward`'s layout [B, Hkv, S, hd], so a prefill through `forward` hands its cache
// over as it is; wasm, whose products are fast only without transpose flags, keeps keys transposed
// ([B, Hkv, hd, S]) and converts the cache once, on the first decoded token.
import * as tf from '@tensorflow/tfjs-core';
import { headDim, type KVCache, type LinearAdapter, type LlamaConfig, type LlamaModel } from './model.ts';
import { nativeOps } from './nativeOps.ts';
import { coreKernels, type Kernels } from './kernels.ts';
import { ropeTables } from './rope.ts';

/** An adapter that can say what it adds to a module's weight (LoRA: scale * B A), to merge it for inference. */
export interface MergeableAdapter extends LinearAdapter {
  /** The [out, in] delta of module `name`'s weight, as a new tensor, or null if the adapter leaves it alone. */
  weightDelta(name: string): tf.Tensor2D | null;
}

function mergeable(a: LinearAdapter | undefined): a is MergeableAdapter | undefined {
  return a === undefined || typeof (a as Partial<MergeableAdapter>).weightDelta === 'function';
}

// Types, not interfaces, so that tf.tidy can return them (their tensors kept).
/** A layer's weights fused (native TensorFlow, GPU): [out, in] each. */
type FusedLayer = {
  kind: 'fused';
  /** [(Hkv * (G+2)) * hd, hidden]; input_layernorm folded in. */
  qkv: tf.Tensor2D;
  qkvBias?: tf.Tensor1D;
  /** Qwen3's q_norm/k_norm weights per row of the [Hkv, G+1, hd] block, 1/sqrt(hd) folded into q's. */
  qkNorm?: tf.Tensor3D;
  o: tf.Tensor2D;
  oBias?: tf.Tensor1D;
  /** [2 * intermediate, hidden]: gate rows, then up rows; post_attention_layernorm folded in. */
  gateUp: tf.Tensor2D;
  gateUpBias?: tf.Tensor1D;
  down: tf.Tensor2D;
  downBias?: tf.Tensor1D;
};

/** A layer's weights as generation's transposed copies hold them (wasm): [in, out] each. */
type PlainLayer = {
  kind: 'plain';
  inputNorm: tf.Tensor1D;
  q: tf.Tensor2D;
  k: tf.Tensor2D;
  v: tf.Tensor2D;
  qBias?: tf.Tensor1D;
  kBias?: tf.Tensor1D;
  vBias?: tf.Tensor1D;
  /** Qwen3's q_norm (times 1/sqrt(hd)) and k_norm weights. */
  qNorm?: tf.Tensor1D;
  kNorm?: tf.Tensor1D;
  o: tf.Tensor2D;
  oBias?: tf.Tensor1D;
  postNorm: tf.Tensor1D;
  gate: tf.Tensor2D;
  up: tf.Tensor2D;
  gateBias?: tf.Tensor1D;
  upBias?: tf.Tensor1D;
  down: tf.Tensor2D;
  downBias?: tf.Tensor1D;
};

type LayerWeights = FusedLayer | PlainLayer;

/** Weights fused for decoding, made once per generation by `prepareDecode`; `dispose` frees them. */
export interface DecodeWeights {
  layers: LayerWeights[];
  /** Whether products take transpose flags (native, GPU) or every weight is stored [in, out] (wasm). */
  flags: boolean;
  embedding: tf.Tensor2D;
  finalNorm: tf.Tensor1D;
  /** The head as stored ([vocab, hidden]), or transposed on wasm. */
  head: tf.Tensor2D;
  eps: tf.Scalar;
  ops: Kernels;
  /** Caches whose keys were transposed for wasm (converted once, on the first decoded token). */
  converted: WeakSet<KVCache>;
  dispose(): void;
}

/** Whether `decodeStep` covers this model and adapter (Llama family; an adapter it can merge, or none). */
export function canDecode(m: LlamaModel, adapter?: LinearAdapter): boolean {
  return m.config.model_type !== 'gpt2' && mergeable(adapter);
}

/**
 * The weights `decodeStep` multiplies by; call outside tf.tidy. Native TensorFlow and the GPU backends
 * get q/k/v and gate/up fused and folded: copies of those weights (and of o/down when an adapter
 * changes them) for the generation. wasm takes over `transposed`, generation's [in, out] copies made
 * for the prompt (ops.transposedWeights), and uses them as they are; only modules an adapter changes
 * are copied (merged). What is not used is disposed at once, the rest by `dispose`.
 */
export function prepareDecode(m: LlamaModel, adapter?: LinearAdapter, transposed?: Map<string, tf.Tensor2D> | null): DecodeWeights {
  if (!canDecode(m, adapter)) throw new Error('prepareDecode: a Llama-family model and a mergeable adapter are needed');
  const c = m.config as LlamaConfig;
  const flags = tf.getBackend() !== 'wasm';
  const H = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const G = H / Hkv;
  const hd = headDim(c);
  const qScale = 1 / Math.sqrt(hd);
  // load_in_4bit weights are dequantized here, once per generation (dispose below frees them).
  const p = (name: string) => (m.params.get(name) ?? m.quantized?.get(name)?.materialize()) as tf.Tensor | undefined;
  const need = (name: string) => {
    const t = p(name);
    if (!t) throw new Error(`missing parameter ${name}`);
    return t;
  };
  const merged = adapter as MergeableAdapter | undefined;
  const copies = flags ? undefined : transposed ?? undefined;
  // Module `name`'s weight (+ the adapter's delta) as the products take it: [out, in] with flags, its
  // input columns times `g` (the norm weight before it) and `s`, in one pass; [in, out] without
  // (generation's transposed copy when the adapter leaves the module alone).
  const stored = (name: string, g?: tf.Tensor, s = 1): tf.Tensor2D => {
    const d = merged?.weightDelta(name);
    const t = d ? undefined : copies?.get(`${name}.weight`);
    if (t) return t;
    let w = need(`${name}.weight`) as tf.Tensor2D;
    if (d) w = tf.add(w, d);
    if (!flags) return tf.transpose(w);
    return g ? tf.mul(w, s === 1 ? g : tf.mul(g, s)) : w;
  };
  // [out, in] pieces stacked along the output axis, in groups per kv head when `perHead` says how
  // many outputs per kv head each piece has (rows j: q heads jG..jG+G-1, k head j, v head j).
  const join = (pieces: tf.Tensor[], perHead?: number[]): tf.Tensor2D => {
    if (!perHead) return tf.concat(pieces, 0) as tf.Tensor2D;
    const grouped = pieces.map((t, i) => tf.reshape(t, [Hkv, perHead[i]!, -1]));
    return tf.reshape(tf.concat(grouped, 1), [Hkv * (G + 2) * hd, -1]) as tf.Tensor2D;
  };
  const bias = (name: string) => p(`${name}.bias`) as tf.Tensor1D | undefined;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const pre = `model.layers.${l}.`;
    const [q, k, v, o] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((n) => `${pre}self_attn.${n}`) as [string, string, string, string];
    const [gate, up, down] = ['gate_proj', 'up_proj', 'down_proj'].map((n) => `${pre}mlp.${n}`) as [string, string, string];
    const g1 = need(`${pre}input_layernorm.weight`) as tf.Tensor1D;
    const g2 = need(`${pre}post_attention_layernorm.weight`) as tf.Tensor1D;
    const qNorm = p(`${pre}self_attn.q_norm.weight`) as tf.Tensor1D | undefined;
    const kNorm = p(`${pre}self_attn.k_norm.weight`) as tf.Tensor1D | undefined;
    const layer = tf.tidy((): LayerWeights => {
      if (!flags) {
        return {
          kind: 'plain',
          inputNorm: g1,
          q: stored(q),
          k: stored(k),
          v: stored(v),
          qBias: bias(q),
          kBias: bias(k),
          vBias: bias(v),
          qNorm: qNorm ? (tf.mul(qNorm, qScale) as tf.Tensor1D) : undefined,
          kNorm,
          o: stored(o),
          oBias: bias(o),
          postNorm: g2,
          gate: stored(gate),
          up: stored(up),
          gateBias: bias(gate),
          upBias: bias(up),
          down: stored(down),
          downBias: bias(down),
        };
      }
      // With q_norm, the scale goes after the norm (a norm would undo it before); else on q's rows.
      const sq = qNorm ? 1 : qScale;
      const qkv = join([stored(q, g1, sq), stored(k, g1), stored(v, g1)], [G * hd, hd, hd]);
      const [bq, bk, bv] = [bias(q), bias(k), bias(v)];
      const grouped = (t: tf.Tensor, n: number) => tf.reshape(t, [Hkv, n]);
      const qkvBias = bq && bk && bv ? (tf.reshape(tf.concat([grouped(tf.mul(bq, sq), G * hd), grouped(bk, hd), grouped(bv, hd)], 1), [-1]) as tf.Tensor1D) : undefined;
      let qkNorm: tf.Tensor3D | undefined;
      if (qNorm && kNorm) {
        const qRows = tf.tile(tf.reshape(tf.mul(qNorm, qScale), [1, 1, hd]), [Hkv, G, 1]);
        qkNorm = tf.concat([qRows, tf.tile(tf.reshape(kNorm, [1, 1, hd]), [Hkv, 1, 1])], 1) as tf.Tensor3D;
      }
      const [bg, bu] = [bias(gate), bias(up)];
      return {
        kind: 'fused',
        qkv,
        qkvBias,
        qkNorm,
        o: stored(o),
        oBias: bias(o),
        gateUp: join([stored(gate, g2), stored(up, g2)]),
        gateUpBias: bg && bu ? (tf.concat([bg, bu], 0) as tf.Tensor1D) : undefined,
        down: stored(down),
        downBias: bias(down),
      };
    });
    layers.push(layer);
    // The prompt's copies this layer does not use (an adapter's modules are merged) go now, not at the
    // end, so that the peak stays one copy.
    const kept = new Set<unknown>(Object.values(layer));
    for (const n of [q, k, v, o, gate, up, down]) {
      const t = transposed?.get(`${n}.weight`);
      if (t && !kept.has(t)) {
        t.dispose();
        transposed!.delete(`${n}.weight`);
      }
    }
  }
  // Only an untied head can carry an adapter (PEFT's all-linear leaves it out anyway).
  const head = tf.tidy(() => stored(p('lm_head.weight') ? 'lm_head' : 'model.embed_tokens'));
  const owned = new Set<tf.Tensor>(m.params.values());
  const eps = tf.scalar(c.rms_norm_eps);
  const ops = nativeOps() ?? coreKernels;
  const mine = (): tf.Tensor[] => {
    const all: (tf.Tensor | undefined)[] = [head, eps];
    for (const L of layers) all.push(...Object.values(L).filter((t): t is tf.Tensor => t instanceof tf.Tensor));
    // Parameters used as they are belong to the model.
    return all.filter((t): t is tf.Tensor => t !== undefined && !owned.has(t));
  };
  if (transposed) {
    const used = new Set(mine());
    for (const t of transposed.values()) if (!used.has(t)) t.dispose();
  }
  return {
    layers,
    flags,
    embedding: need('model.embed_tokens.weight') as tf.Tensor2D,
    finalNorm: need('model.norm.weight') as tf.Tensor1D,
    head,
    eps,
    ops,
    converted: new WeakSet(),
    dispose() {
      ops.dispose();
      for (const t of new Set(mine())) t.dispose();
    },
  };
}

/** Host-side inputs of one decoding step: one token per row. */
export interface DecodeInputs {
  batch: number;
  ids: Int32Array; // [B]
  positions: Int32Array; // [B]
  /** Additive attention bias [B, S] over the cache plus this token (0 or -1e9); null when every key is visible. */
  bias: Float32Array | null;
}

/** Rotation matrices [B, hd, hd] with x @ R = x*cos + rotate_half(x)*sin, for each row's position. */
function rotations(c: LlamaConfig, positions: Int32Array): Float32Array {
  const hd = headDim(c);
  const half = hd / 2;
  const { cos, sin } = ropeTables(c, positions);
  const r = new Float32Array(positions.length * hd * hd);
  for (let b = 0; b < positions.length; b++) {
    const at = b * hd * hd;
    for (let j = 0; j < hd; j++) {
      r[at + j * hd + j] = cos[b * hd + j]!;
      // out_j += rotate_half(x)_j * sin_j, rotate_half(x) = cat(-x2, x1)
      if (j < half) r[at + (j + half) * hd + j] = -sin[b * hd + j]!;
      else r[at + (j - half) * hd + j] = sin[b * hd + j]!;
    }
  }
  return r;
}

/**
 * One decoding step: each row's token at its position, attending to the cache (which gains the
 * token's keys and values). Returns logits [B, vocab]. Equal to `forward` with the cache and T = 1.
 * Must be called inside tf.tidy. On wasm the cache's keys are transposed on the first call, after
 * which the cache is this function's, not `forward`'s.
 */
export function decodeStep(m: LlamaModel, w: DecodeWeights, cache: KVCache, inp: DecodeInputs): tf.Tensor2D {
  const c = m.config as LlamaConfig;
  const B = inp.batch;
  const H = c.num_attention_heads;
  const Hkv = c.num_key_value_heads;
  const G = H / Hkv;
  const hd = headDim(c);
  const S = cache.length + 1;
  const { flags, ops: k } = w;
  if (!flags && cache.length > 0 && !w.converted.has(cache)) {
    for (let l = 0; l < cache.k.length; l++) {
      const old = cache.k[l]!;
      cache.k[l] = tf.keep(tf.transpose(old, [0, 1, 3, 2]));
      old.dispose();
    }
  }
  w.converted.add(cache);

  // x W^T (+ b): the weight as stored ([out, in] with flags, [in, out] without).
  const linear = (x: tf.Tensor2D, wt: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D => {
    const y = k.matMul(x, wt, flags);
    return b ? k.add(y, b) : y;
  };
  // x * rsqrt(mean(x^2) + eps) over the last axis, times the norm's weight where it is not folded.
  const normalize = <T extends tf.Tensor>(x: T, g?: tf.Tensor): T => {
    const y = k.mul(x, k.rsqrt(k.add(k.meanLast(k.square(x)), w.eps)));
    return g ? k.mul(y, g) : y;
  };
  const turns = rotations(c, inp.positions);
  const R = tf.tensor(turns, flags ? [B, 1, hd, hd] : [B, hd, hd]);
  // wasm's q is not scaled in its weights: the scale rides on its rotation (Qwen3's on q_norm).
  const plainQ = !flags && !w.layers.some((L) => L.kind === 'plain' && L.qNorm) ? tf.tensor(turns.map((x) => x / Math.sqrt(hd)), [B, hd, hd]) : R;
  const bias = inp.bias ? tf.tensor(inp.bias, flags ? [B, 1, 1, S] : [B, 1, S]) : null;

  let h = k.gather(w.embedding, tf.tensor1d(inp.ids, 'int32'));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const L = w.layers[l]!;
    // This token's q [B, Hkv, G, hd] and k, v in the cache's layout.
    let q: tf.Tensor;
    let key: tf.Tensor;
    let v: tf.Tensor;
    if (L.kind === 'fused') {
      const qkv = k.reshape(linear(normalize(h), L.qkv, L.qkvBias), [B, Hkv, G + 2, hd]);
      let qk: tf.Tensor;
      [qk, v] = k.split(qkv, [G + 1, 1], 2) as [tf.Tensor, tf.Tensor];
      if (L.qkNorm) qk = k.mul(normalize(qk), L.qkNorm);
      [q, key] = k.split(k.batchMatMul(qk, R), [G, 1], 2) as [tf.Tensor, tf.Tensor];
    } else {
      const x = normalize(h, L.inputNorm);
      let qh = k.reshape(linear(x, L.q, L.qBias), [B, H, hd]);
      let kh = k.reshape(linear(x, L.k, L.kBias), [B, Hkv, hd]);
      if (L.qNorm && L.kNorm) {
        qh = normalize(qh, L.qNorm);
        kh = normalize(kh, L.kNorm);
      }
      q = k.batchMatMul(qh, plainQ);
      key = k.reshape(k.batchMatMul(kh, R), [B, Hkv, hd, 1]);
      v = k.reshape(linear(x, L.v, L.vBias), [B, Hkv, 1, hd]);
    }
    const ck = cache.k[l];
    const cv = cache.v[l];
    const K = ck ? k.concat([ck, key], flags ? 2 : 3) : key;
    const V = cv ? k.concat([cv, v], 2) : v;
    cache.k[l] = tf.keep(K as tf.Tensor4D);
    cache.v[l] = tf.keep(V as tf.Tensor4D);
    ck?.dispose();
    cv?.dispose();
    let ctx: tf.Tensor;
    // Fused layers are native's (flags), plain ones wasm's.
    if (flags) {
      let scores = k.batchMatMul(q, K, true); // [B, Hkv, G, S]
      if (bias) scores = k.add(scores, bias);
      ctx = k.batchMatMul(k.softmax(scores), V);
    } else {
      // wasm's BatchMatMul kernel is a plain loop, but these products are a few thousand multiply-adds,
      // where XNNPACK per kv head (ops.bmmRaw) costs more to set up (~2.8 ms a call on SmolLM2).
      let scores = k.batchMatMul(k.reshape(q, [B * Hkv, G, hd]), k.reshape(K, [B * Hkv, hd, S])); // [B*Hkv, G, S]
      if (bias) scores = k.reshape(k.add(k.reshape(scores, [B, Hkv * G, S]), bias), [B * Hkv, G, S]);
      ctx = k.batchMatMul(k.softmax(scores), k.reshape(V, [B * Hkv, S, hd]));
    }
    h = k.add(h, linear(k.reshape(ctx, [B, H * hd]) as tf.Tensor2D, L.o, L.oBias));
    let gate: tf.Tensor2D;
    let up: tf.Tensor2D;
    if (L.kind === 'fused') {
      [gate, up] = k.split(linear(normalize(h), L.gateUp, L.gateUpBias), [c.intermediate_size, c.intermediate_size], 1) as [tf.Tensor2D, tf.Tensor2D];
    } else {
      const x2 = normalize(h, L.postNorm);
      gate = linear(x2, L.gate, L.gateBias);
      up = linear(x2, L.up, L.upBias);
    }
    h = k.add(h, linear(k.mul(k.mul(gate, k.sigmoid(gate)), up), L.down, L.downBias));
  }
  cache.length = S;
  return linear(normalize(h, w.finalNorm), w.head);
}
