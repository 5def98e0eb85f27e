// A decoder layer's element-wise parts as single ops with hand-written gradients: RMSNorm, SwiGLU and
// the attention core (scores, softmax, context, with the head reshapes around them).
//
// Why: built from tfjs-core ops, the tape records each step (RMSNorm is six ops forward and about
// fifteen backward, with casts, reshapes and a power); every recorded op costs tfjs-core's
// bookkeeping on top of its kernel, and on a real model's training step that bookkeeping, not the
// arithmetic, was the part that did not get faster with more threads. Here each is one tape entry,
// the backward pass is the few kernels the calculus needs, and on native TensorFlow the kernels are
// TensorFlow's own ops called directly (kernels.ts), below tfjs-core's op layer. Each equals its
// tfjs composition up to rounding, value and gradients (test/unit/engine/layerOps.test.ts).
import * as tf from '@tensorflow/tfjs-core';
import { kernels, type Kernels } from './kernels.ts';
import { custom } from './ops.ts';

/** Whether a gradient must flow to `w`: anything but a frozen variable (a frozen one is read directly, as it outlives the pass). */
function needsGrad(w: tf.Tensor): boolean {
  return !(w instanceof tf.Variable) || w.trainable;
}

/** RMSNorm's forward with any kernels: the value, and the normalized x and per-row factor r its backward reads. */
export function rmsNormForward(k: Kernels, x: tf.Tensor, w: tf.Tensor, eps: number): { y: tf.Tensor; xn: tf.Tensor; r: tf.Tensor } {
  const r = k.rsqrt(k.add(k.meanLast(k.square(x)), k.scalar(eps)));
  const xn = k.mul(x, r);
  return { y: k.mul(xn, w), xn, r };
}

/** RMSNorm's input gradient: dx = r (g - xn mean(g xn)) with g = dy weight. */
export function rmsNormBackward(k: Kernels, dy: tf.Tensor, xn: tf.Tensor, r: tf.Tensor, w: tf.Tensor): tf.Tensor {
  const g = k.mul(dy, w);
  return k.mul(k.sub(g, k.mul(xn, k.meanLast(k.mul(g, xn)))), r);
}

/**
 * Llama's RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. Saves the normalized x and
 * the per-row factor r; backward: rmsNormBackward, and dweight = sum(dy xn).
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const trainable = needsGrad(weight);
  const dim = weight.shape[0];
  const f = custom<tf.Tensor>(trainable ? 2 : 1, (inputs, save) => {
    const w = trainable ? inputs[1]! : weight;
    const { y, xn, r } = rmsNormForward(kernels(), inputs[0]!, w, eps);
    save(trainable ? [xn, r, w] : [xn, r]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const p = kernels();
        const [xns, rs] = saved as [tf.Tensor, tf.Tensor];
        const dx = rmsNormBackward(p, dy, xns, rs, trainable ? saved[2]! : weight);
        if (!trainable) return [dx];
        return [dx, p.sum(p.reshape(p.mul(dy, xns), [-1, dim]), 0, false)];
      },
    };
  });
  return trainable ? f(x, weight) : f(x);
}

/** SwiGLU's forward with any kernels: SiLU(gate) * up, and s = sigmoid(gate) for the backward. */
export function swigluForward(k: Kernels, gate: tf.Tensor, up: tf.Tensor): { y: tf.Tensor; s: tf.Tensor } {
  const s = k.sigmoid(gate);
  return { y: k.mul(k.mul(gate, s), up), s };
}

/** SwiGLU's gradients [dgate, dup]: dup = dy a with a = gate s, dgate = dy up s (1 + gate - a). */
export function swigluBackward(k: Kernels, dy: tf.Tensor, gate: tf.Tensor, up: tf.Tensor, s: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const a = k.mul(gate, s);
  return [k.mul(k.mul(k.mul(dy, up), s), k.add(k.sub(gate, a), k.scalar(1))), k.mul(dy, a)];
}

/** SwiGLU's product SiLU(gate) * up = gate * sigmoid(gate) * up, saving gate, up and sigmoid(gate). */
export const swiglu = custom<tf.Tensor2D>(2, ([gate, up], save) => {
  const { y, s } = swigluForward(kernels(), gate!, up!);
  save([gate!, up!, s]);
  return {
    value: y as tf.Tensor2D,
    gradFunc: (dy, saved) => swigluBackward(kernels(), dy, saved[0]!, saved[1]!, saved[2]!),
  };
}) as (gate: tf.Tensor2D, up: tf.Tensor2D) => tf.Tensor2D;

/** Sizes of one attention call: batch, query length, key length, query heads, key/value heads, head size. */
export interface AttentionDims {
  B: number;
  T: number;
  S: number;
  H: number;
  Hkv: number;
  hd: number;
}

/**
 * [N, H*hd] = [B, T, Hkv, G, hd] <-> [B*Hkv, G*T, hd]; [N, Hkv*hd] = [B, T, Hkv, hd] <-> [B*Hkv, S, hd].
 * The batch is always the inferred (-1) axis, so the shapes name T and S only: a graph built once
 * serves every batch size, and with T fed at run time every length (layerGraph.ts).
 */
function headLayouts(d: AttentionDims) {
  const { T, S, H, Hkv, hd } = d;
  const G = H / Hkv;
  return {
    queryRows: (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [-1, T, Hkv, G, hd]), [0, 2, 3, 1, 4]), [-1, G * T, hd]) as tf.Tensor3D,
    fromQueryRows: (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [-1, Hkv, G, T, hd]), [0, 3, 1, 2, 4]), [-1, H * hd]) as tf.Tensor2D,
    keyRows: (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [-1, S, Hkv, hd]), [0, 2, 1, 3]), [-1, S, hd]) as tf.Tensor3D,
    fromKeyRows: (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [-1, Hkv, S, hd]), [0, 2, 1, 3]), [-1, Hkv * hd]) as tf.Tensor2D,
  };
}

/** What attention's backward reads: the head-major q, k, v and the probabilities. */
export interface AttentionSaved {
  qh: tf.Tensor3D;
  kh: tf.Tensor3D;
  vh: tf.Tensor3D;
  probs: tf.Tensor3D;
}

/** Attention's forward with any kernels (see `attention`). */
export function attentionForward(p: Kernels, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor, d: AttentionDims): { y: tf.Tensor2D; saved: AttentionSaved } {
  const L = headLayouts(d);
  const qh = L.queryRows(p, q);
  const kh = L.keyRows(p, k);
  const vh = L.keyRows(p, v);
  const probs = p.softmax(p.add(p.batchMatMulAdj(qh, kh, false, true), bias)) as tf.Tensor3D;
  return { y: L.fromQueryRows(p, p.batchMatMulAdj(probs, vh, false, false)), saved: { qh, kh, vh, probs } };
}

/** Attention's gradients [dq, dk, dv]: dv = p^T do, dp = do v^T, ds = p (dp - rowsum(dp p)), dq = ds k, dk = ds^T q. */
export function attentionBackward(g: Kernels, dy: tf.Tensor, s: AttentionSaved, d: AttentionDims): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  const L = headLayouts(d);
  const dOut = L.queryRows(g, dy);
  const dv = g.batchMatMulAdj(s.probs, dOut, true, false);
  const dp = g.batchMatMulAdj(dOut, s.vh, false, true);
  const ds = g.mul(s.probs, g.sub(dp, g.sum(g.mul(dp, s.probs), -1, true)));
  const dq = g.batchMatMulAdj(ds, s.kh, false, false);
  const dk = g.batchMatMulAdj(ds, s.qh, true, false);
  return [L.fromQueryRows(g, dq), L.fromKeyRows(g, dk), L.fromKeyRows(g, dv)];
}

/**
 * Grouped-query self-attention without a KV cache, for training: q [N, H*hd] (RoPE applied, 1/sqrt(hd)
 * folded in), k and v [N, Hkv*hd] (N = B*T, S = T) -> the context [N, H*hd] in Hugging Face's head
 * order. The G = H/Hkv query heads sharing a kv head are stacked as G*T query rows against that
 * head's keys, so keys and values are never repeated; `bias` [B*Hkv, G*T, S] is the additive mask laid
 * out as the scores are. Saves the three head-major inputs and the probabilities.
 */
export function attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, bias: tf.Tensor3D, d: AttentionDims): tf.Tensor2D {
  const f = custom<tf.Tensor2D>(3, ([qin, kin, vin], save) => {
    const { y, saved } = attentionForward(kernels(), qin!, kin!, vin!, bias, d);
    save([saved.qh, saved.kh, saved.vh, saved.probs]);
    return {
      value: y,
      gradFunc: (dy, s) => {
        const [qh, kh, vh, probs] = s as tf.Tensor3D[];
        return attentionBackward(kernels(), dy, { qh: qh!, kh: kh!, vh: vh!, probs: probs! }, d);
      },
    };
  });
  return f(q, k, v);
}
