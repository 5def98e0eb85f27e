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

/**
 * Llama's RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. Saves the normalized x and
 * the per-row factor r; backward: dx = r (g - xn mean(g xn)) with g = dy weight, dweight = sum(dy xn).
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const trainable = needsGrad(weight);
  const dim = weight.shape[0];
  const f = custom<tf.Tensor>(trainable ? 2 : 1, (inputs, save) => {
    const k = kernels();
    const xin = inputs[0]!;
    const w = trainable ? inputs[1]! : weight;
    const r = k.rsqrt(k.add(k.meanLast(k.square(xin)), k.scalar(eps)));
    const xn = k.mul(xin, r);
    save(trainable ? [xn, r, w] : [xn, r]);
    return {
      value: k.mul(xn, w),
      gradFunc: (dy, saved) => {
        const p = kernels();
        const [xns, rs] = saved as [tf.Tensor, tf.Tensor];
        const ws = trainable ? saved[2]! : weight;
        const g = p.mul(dy, ws);
        const dx = p.mul(p.sub(g, p.mul(xns, p.meanLast(p.mul(g, xns)))), rs);
        if (!trainable) return [dx];
        return [dx, p.sum(p.reshape(p.mul(dy, xns), [-1, dim]), 0, false)];
      },
    };
  });
  return trainable ? f(x, weight) : f(x);
}

/**
 * SwiGLU's product SiLU(gate) * up = gate * sigmoid(gate) * up. Saves gate, up and s = sigmoid(gate);
 * backward: dup = dy a with a = gate s, dgate = dy up s (1 + gate - a).
 */
export const swiglu = custom<tf.Tensor2D>(2, ([gate, up], save) => {
  const k = kernels();
  const s = k.sigmoid(gate!);
  save([gate!, up!, s]);
  return {
    value: k.mul(k.mul(gate!, s), up!) as tf.Tensor2D,
    gradFunc: (dy, saved) => {
      const p = kernels();
      const [g, u, ss] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const a = p.mul(g, ss);
      const dUp = p.mul(dy, a);
      const dGate = p.mul(p.mul(p.mul(dy, u), ss), p.add(p.sub(g, a), p.scalar(1)));
      return [dGate, dUp];
    },
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
 * Grouped-query self-attention without a KV cache, for training: q [N, H*hd] (RoPE applied, 1/sqrt(hd)
 * folded in), k and v [N, Hkv*hd] (N = B*T, S = T) -> the context [N, H*hd] in Hugging Face's head
 * order. The G = H/Hkv query heads sharing a kv head are stacked as G*T query rows against that
 * head's keys, so keys and values are never repeated; `bias` [B*Hkv, G*T, S] is the additive mask laid
 * out as the scores are. Saves the three head-major inputs and the probabilities; backward:
 * dv = p^T do, dp = do v^T, ds = p (dp - rowsum(dp p)), dq = ds k, dk = ds^T q.
 */
export function attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, bias: tf.Tensor3D, d: AttentionDims): tf.Tensor2D {
  const { B, T, S, H, Hkv, hd } = d;
  const G = H / Hkv;
  const N = B * T;
  // [N, H*hd] = [B, T, Hkv, G, hd] <-> [B*Hkv, G*T, hd]
  const queryRows = (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [B, T, Hkv, G, hd]), [0, 2, 3, 1, 4]), [B * Hkv, G * T, hd]) as tf.Tensor3D;
  const fromQueryRows = (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [B, Hkv, G, T, hd]), [0, 3, 1, 2, 4]), [N, H * hd]) as tf.Tensor2D;
  // [N, Hkv*hd] = [B, T, Hkv, hd] <-> [B*Hkv, S, hd]
  const keyRows = (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [B, S, Hkv, hd]), [0, 2, 1, 3]), [B * Hkv, S, hd]) as tf.Tensor3D;
  const fromKeyRows = (p: Kernels, x: tf.Tensor) => p.reshape(p.transpose(p.reshape(x, [B, Hkv, S, hd]), [0, 2, 1, 3]), [N, Hkv * hd]) as tf.Tensor2D;
  const f = custom<tf.Tensor2D>(3, ([qin, kin, vin], save) => {
    const p = kernels();
    const qh = queryRows(p, qin!);
    const kh = keyRows(p, kin!);
    const vh = keyRows(p, vin!);
    const probs = p.softmax(p.add(p.batchMatMulAdj(qh, kh, false, true), bias));
    save([qh, kh, vh, probs]);
    return {
      value: fromQueryRows(p, p.batchMatMulAdj(probs, vh, false, false)),
      gradFunc: (dy, saved) => {
        const g = kernels();
        const [qs, ks, vs, ps] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const dOut = queryRows(g, dy);
        const dv = g.batchMatMulAdj(ps, dOut, true, false);
        const dp = g.batchMatMulAdj(dOut, vs, false, true);
        const ds = g.mul(ps, g.sub(dp, g.sum(g.mul(dp, ps), -1, true)));
        const dq = g.batchMatMulAdj(ds, ks, false, false);
        const dk = g.batchMatMulAdj(ds, qs, true, false);
        return [fromQueryRows(g, dq), fromKeyRows(g, dk), fromKeyRows(g, dv)];
      },
    };
  });
  return f(q, k, v);
}
