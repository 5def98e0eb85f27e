// GPT-2 (GPT2LMHeadModel), and nothing else: learned absolute positions, pre-LayerNorm blocks with
// fused q/k/v, a GELU MLP and a head tied to the token embedding. No I/O, no training loop. The config,
// the tensor names and the Conv1D layout conversion are in gpt2Config.ts: here every linear weight is
// [out, in], as in the Llama model, so `linear`, `linearFrozen` and LoRA adapters apply unchanged.
import * as tf from '@tensorflow/tfjs-core';
import type { Gpt2Config } from './gpt2Config.ts';
import { appendToCache, type ForwardInputs, type ForwardOptions, type LlamaModel } from './model.ts';
import { bmm, embedding, gelu, layerNorm, linear, linearFrozen } from './ops.ts';
import { recomputed, variablesUnder } from './recompute.ts';

/** A model whose config is GPT-2's. */
export type Gpt2Model = LlamaModel & { config: Gpt2Config };

function param(m: Gpt2Model, name: string): tf.Tensor {
  const p = m.params.get(name);
  if (!p) throw new Error(`missing parameter ${name}`);
  return p;
}

/**
 * GPT-2's forward pass under `forward`'s contract (model.ts): logits [N, vocab] for every position, or
 * for the `select`ed ones, rows in batch-major order; `cache` holds each layer's keys and values.
 * Must be called inside tf.tidy.
 */
export function gpt2Forward(m: Gpt2Model, inp: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor2D {
  const c = m.config;
  const B = inp.batch;
  const T = inp.length;
  const N = B * T;
  const H = c.num_attention_heads;
  const d = c.hidden_size;
  const hd = d / H;
  const past = opts.cache?.length ?? 0;
  const S = past + T; // key length
  for (const p of inp.positions) {
    // The position table has no row there; a gather would read zeros or garbage without a word.
    if (p >= c.max_position_embeddings) throw new Error(`Position ${p} is past this GPT-2's ${c.max_position_embeddings} positions (n_positions); shorten the input.`);
  }

  // x @ W^T, by the weight transposed once for inference where generation gave one (opts.transposed).
  const times = (x: tf.Tensor2D, name: string): tf.Tensor2D => {
    const wT = opts.transposed?.get(name);
    if (wT) return tf.matMul(x, wT);
    const w = param(m, name) as tf.Tensor2D;
    return opts.frozenBase ? linearFrozen(x, w) : linear(x, w);
  };
  const proj = (name: string, x: tf.Tensor2D): tf.Tensor2D => {
    let y = tf.add(times(x, `${name}.weight`), param(m, `${name}.bias`)) as tf.Tensor2D;
    const delta = opts.adapter?.delta(name, x);
    if (delta) y = tf.add(y, delta);
    return y;
  };
  const norm = (name: string, x: tf.Tensor2D): tf.Tensor2D =>
    layerNorm(x, param(m, `${name}.weight`) as tf.Tensor1D, param(m, `${name}.bias`) as tf.Tensor1D, c.layer_norm_epsilon) as tf.Tensor2D;
  const form = c.activation_function === 'gelu' ? 'erf' : 'tanh';

  // Block l: pre-LayerNorm self-attention, then the GELU MLP, each added to the residual h [N, d].
  const block = (l: number, h: tf.Tensor2D, bias: tf.Tensor4D): tf.Tensor2D => {
    const p = `transformer.h.${l}.`;
    const [q, k, v] = tf.split(proj(`${p}attn.c_attn`, norm(`${p}ln_1`, h)), 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    // HF scales the scores; scaling q by the same factor is equal and touches T rows instead of T * S.
    const scale = (c.scale_attn_weights ? 1 / Math.sqrt(hd) : 1) / (c.scale_attn_by_inverse_layer_idx ? l + 1 : 1);
    const heads = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
    let k4 = heads(k);
    let v4 = heads(v);
    if (opts.cache) [k4, v4] = appendToCache(opts.cache, l, k4, v4);
    const qh = tf.reshape(heads(tf.mul(q, scale) as tf.Tensor2D), [B * H, T, hd]) as tf.Tensor3D;
    const kT = tf.reshape(tf.transpose(k4, [0, 1, 3, 2]), [B * H, hd, S]) as tf.Tensor3D;
    const vh = tf.reshape(v4, [B * H, S, hd]) as tf.Tensor3D;
    const scores = tf.add(tf.reshape(bmm(qh, kT), [B, H, T, S]), bias);
    const probs = tf.reshape(tf.softmax(scores), [B * H, T, S]) as tf.Tensor3D;
    const ctx = tf.reshape(tf.transpose(tf.reshape(bmm(probs, vh), [B, H, T, hd]), [0, 2, 1, 3]), [N, d]) as tf.Tensor2D;
    h = tf.add(h, proj(`${p}attn.c_proj`, ctx));
    return tf.add(h, proj(`${p}mlp.c_proj`, gelu(proj(`${p}mlp.c_fc`, norm(`${p}ln_2`, h)), form) as tf.Tensor2D));
  };
  // Checkpointing: see model.ts's forward; a recomputed block uploads its attention bias itself.
  const attentionBias = () => tf.tensor4d(inp.bias, [B, 1, T, S]);
  const checkpoint = opts.checkpointLayers === true && !opts.cache;
  const shared = checkpoint ? null : attentionBias();

  let h = tf.add(
    embedding(param(m, 'transformer.wte.weight') as tf.Tensor2D, tf.tensor1d(inp.ids, 'int32')),
    embedding(param(m, 'transformer.wpe.weight') as tf.Tensor2D, tf.tensor1d(inp.positions, 'int32')),
  ) as tf.Tensor2D;
  for (let l = 0; l < c.num_hidden_layers; l++) {
    h = checkpoint
      ? recomputed((x) => block(l, x, attentionBias()), h, variablesUnder(`transformer.h.${l}.`, opts.frozenBase ? undefined : m.params, opts.adapter?.params))
      : block(l, h, shared!);
  }
  if (opts.cache) opts.cache.length = S;
  if (opts.select) h = embedding(h, tf.tensor1d(opts.select, 'int32')) as tf.Tensor2D;
  const hn = norm('transformer.ln_f', h);
  const untied = m.params.has('lm_head.weight');
  if (opts.lossHead && !opts.adapter?.params?.has('lm_head.lora_A.weight')) {
    return opts.lossHead(hn, m.params.get(untied ? 'lm_head.weight' : 'transformer.wte.weight')! as tf.Tensor as tf.Tensor2D) as tf.Tensor as tf.Tensor2D;
  }
  let logits = times(hn, untied ? 'lm_head.weight' : 'transformer.wte.weight');
  // Only a separate head can carry an adapter; PEFT's all-linear leaves it out.
  const delta = untied ? opts.adapter?.delta('lm_head', hn) : null;
  if (delta) logits = tf.add(logits, delta);
  return logits;
}
