// Differentiable building blocks with hand-written gradients, shaped for each backend's fast paths.
//
// Why custom gradients (ENGINE.md): wasm's matmul is fast only for plain 2-D products (no transpose
// flags, batch 1): measured here at 30 GFLOP/s plain against 2.2 with transposeB. tfjs's own matMul
// gradient uses transpose flags and its gather gradient needs UnsortedSegmentSum, which wasm lacks.
// On wasm each product here transposes explicitly, then multiplies plainly; native TensorFlow (and
// the GPU backends) take the flags at no cost (97 vs 89 GFLOP/s), so there nothing is transposed and
// weights keep their one Hugging Face layout. Every op has a finite-difference test in
// test/unit/engine/ops.test.ts.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone has no gradients; the umbrella package would register them, we import only core.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { sharedNativeOps } from './nativeOps.ts';
import { ANNEAL_BATCH_MATMUL, hasFastBatchMatMul } from './wasmKernels.ts';
import type { QuantizedWeight } from './quantized.ts';

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type Forward<T extends tf.Tensor> = (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: T; gradFunc: GradFunc };

/** tf.customGrad with typed inputs: `f` gets the `arity` inputs and the save function. */
export function custom<T extends tf.Tensor>(arity: number, f: Forward<T>): (...inputs: tf.Tensor[]) => T {
  const wrapped = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { value, gradFunc } = f(args.slice(0, arity) as tf.Tensor[], args[arity] as tf.GradSaveFunc);
    // tfjs runs a custom gradient outside any tidy, so its temporaries (the loss's softmax and one-hot,
    // wasm's transposes, GELU's terms) would live until the whole backward pass ends; only the
    // gradients need to. So would `dy`: tfjs keeps every gradient it computes until the backward pass
    // ends, though this op's output gradient has no reader after this op (an op's output has one
    // producer, and tfjs hands it to that producer's gradient only). Freed here, a step holds about
    // one layer's gradients instead of every layer's (SmolLM2 LoRA at 4 x 512: ~2 GB less).
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const grads = tf.tidy(() => gradFunc(dy, saved));
        if (!grads.includes(dy)) dy.dispose();
        return grads;
      },
    };
  };
  return tf.customGrad(wrapped as Parameters<typeof tf.customGrad<T>>[0]);
}

/**
 * 2-D op(a) @ op(b). On native TensorFlow a thin product (a side of at most THIN, as LoRA's rank-r
 * products are) runs as TensorFlow's MatMul (nativeOps.ts): tfjs-node sends every product to
 * BatchMatMulV2, which TensorFlow hands to oneDNN at a fixed cost that dominates thin products at two
 * threads (185-320 us against 60-90 on SmolLM2's LoRA shapes), while for the model's own products
 * oneDNN is the faster of the two (about 5%). Used inside custom gradients only: the direct call
 * records nothing on tfjs's tape.
 */
export function mm2(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  const native = Math.min(...a.shape, ...b.shape) <= THIN ? sharedNativeOps() : null;
  return native ? native.matMul2(a, b, transposeA, transposeB) : tf.matMul(a, b, transposeA, transposeB);
}

const THIN = 64;

/** Whether tfjs is recording a tape (inside tf.grad / variableGrads), so a backward pass may follow. */
export function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/** Plain 2-D product a @ b, dispatched to the fastest kernel available. */
export function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return mm2(a, b, false, false);
}

/** Batched product a[i] @ b[i] for rank-3 tensors, using the zero-copy wasm kernel when present. */
export function bmmRaw(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (hasFastBatchMatMul()) return tf.engine().runKernel(ANNEAL_BATCH_MATMUL, { a, b }, {}) as tf.Tensor3D;
  return tf.matMul(a, b);
}

export function t2(x: tf.Tensor2D): tf.Tensor2D {
  return tf.transpose(x, [1, 0]);
}

function t3(x: tf.Tensor3D): tf.Tensor3D {
  return tf.transpose(x, [0, 2, 1]);
}

/** Whether the backend multiplies with transpose flags as fast as without (all but wasm). */
export function flagsAreFree(): boolean {
  return tf.getBackend() !== 'wasm';
}

/** a @ b^T for 2-D a [N, K], b [M, K]. */
function mmBT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return flagsAreFree() ? mm2(a, b, false, true) : mm(a, t2(b));
}

/**
 * dW = dy^T @ x for dy [N, out], x [N, in]. On wasm one activation must be transposed; transposing
 * the narrower one (and then the small [in, out] result) moves less memory.
 */
export function weightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (flagsAreFree()) return mm2(dy, x, true, false);
  return x.shape[1] < dy.shape[1] ? t2(mm(t2(x), dy)) : mm(t2(dy), x);
}

/** y = x @ w^T for x [N, in] and w [out, in] (Hugging Face layout); gradients for both. */
export const linear = custom<tf.Tensor2D>(2, ([x, w], save) => {
  save([x!, w!]);
  const value = mmBT(x as tf.Tensor2D, w as tf.Tensor2D);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [mm(dy as tf.Tensor2D, ws), weightGrad(xs, dy as tf.Tensor2D)];
    },
  };
}) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** y = x @ w^T where w is frozen: the backward skips dW (a third of a linear layer's cost). */
export function linearFrozen(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  // A tensor a gradient function reads must outlive the forward pass, whose intermediates the engine
  // disposes before the backward pass. A variable (every model weight) does, so it is read directly:
  // save() would clone it, and on wasm a clone used to be a full copy of the weight per layer per step.
  const keep = w instanceof tf.Variable;
  const f = custom<tf.Tensor2D>(1, ([xin], save) => {
    if (!keep) save([w]);
    return {
      value: mmBT(xin as tf.Tensor2D, w),
      gradFunc: (dy, saved) => [mm(dy as tf.Tensor2D, keep ? w : (saved[0] as tf.Tensor2D))],
    };
  });
  return f(x);
}

/**
 * y = x @ w^T + scale * (xd @ a^T) @ b^T: a frozen linear layer and its LoRA adapter (a [r, in],
 * b [out, r]; xd is x after LoRA's dropout, or x itself) as one op with a hand-written gradient:
 *   dx = dy w (+ to xd: (scale dy b) a),  da = (scale dy b)^T xd,  db = dy^T (scale xd a^T).
 * Why: built from `linearFrozen`, two `linear`s, a scale and an add, tfjs's tape records five ops per
 * adapted module, multiplies the scale over the [N, out] delta (and again in the backward pass) and
 * adds x's gradient from two branches; here the scale is applied to the [N, r] product, which is also
 * what db needs, so it is saved instead of recomputed. Equal to that composition up to rounding
 * (test/unit/engine/ops.test.ts).
 */
export function linearLora(x: tf.Tensor2D, w: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D, scale: number, xd: tf.Tensor2D = x): tf.Tensor2D {
  const keep = w instanceof tf.Variable;
  const dropped = xd !== x;
  const f = custom<tf.Tensor2D>(dropped ? 4 : 3, (inputs, save) => {
    const [xin, ain, bin] = inputs as tf.Tensor2D[];
    const xdin = dropped ? (inputs[3] as tf.Tensor2D) : xin!;
    const us = tf.mul(mmBT(xdin, ain!), scale) as tf.Tensor2D;
    save(keep ? [xdin, us] : [xdin, us, w]);
    return {
      value: tf.add(mmBT(xin!, w), mmBT(us, bin!)) as tf.Tensor2D,
      gradFunc: (dy, saved) => {
        const [xs, uss] = saved as [tf.Tensor2D, tf.Tensor2D];
        const ws = keep ? w : (saved[2] as tf.Tensor2D);
        const g = tf.mul(mm(dy as tf.Tensor2D, bin!), scale) as tf.Tensor2D;
        const dxBase = mm(dy as tf.Tensor2D, ws);
        const dxLora = mm(g, ain!);
        const da = weightGrad(xs, g);
        const db = weightGrad(uss, dy as tf.Tensor2D);
        return dropped ? [dxBase, da, db, dxLora] : [tf.add(dxBase, dxLora), da, db];
      },
    };
  });
  return dropped ? f(x, a, b, xd) : f(x, a, b);
}

/**
 * y = x @ w^T for a frozen weight kept quantized (QuantizedWeight): the floats exist only inside this
 * op's forward and again inside its backward, never between them, so a step holds one layer's float
 * weights instead of the whole model's. Costs a dequantization more per use.
 */
export function linearQuantized(x: tf.Tensor2D, w: QuantizedWeight): tf.Tensor2D {
  const f = custom<tf.Tensor2D>(1, ([xin]) => ({
    value: mmBT(xin as tf.Tensor2D, w.materialize()),
    gradFunc: (dy) => [mm(dy as tf.Tensor2D, w.materialize())],
  }));
  return f(x);
}

/**
 * Weights prepared once for inference, transposed to [in, out]: on a backend that multiplies fast only
 * without transpose flags (wasm) every 2-D weight, so generation does not transpose every weight per
 * token; on every backend the quantized ones (load_in_4bit), so they are not dequantized per token.
 * Null when there is nothing to prepare. The caller disposes them.
 */
export function transposedWeights(model: { params: Map<string, tf.Tensor>; quantized?: Map<string, QuantizedWeight> }): Map<string, tf.Tensor2D> | null {
  const all = !flagsAreFree();
  if (!all && !model.quantized?.size) return null;
  const out = new Map<string, tf.Tensor2D>();
  for (const [name, p] of all ? model.params : []) {
    // The embedding table is gathered, not multiplied, unless it doubles as the (tied) head.
    if (name === 'model.embed_tokens.weight' && model.params.has('lm_head.weight')) continue;
    if (p.rank === 2) out.set(name, tf.tidy(() => t2(p as tf.Tensor2D)));
  }
  for (const [name, q] of model.quantized ?? []) out.set(name, tf.tidy(() => t2(q.materialize())));
  return out;
}

/** Batched a[i] @ b[i] ([N,M,K] x [N,K,P]) with a backward made of plain batched products. */
export const bmm = custom<tf.Tensor3D>(2, ([a, b], save) => {
  save([a!, b!]);
  return {
    value: bmmRaw(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy, saved) => {
      const [as, bs] = saved as [tf.Tensor3D, tf.Tensor3D];
      if (flagsAreFree()) return [tf.matMul(dy as tf.Tensor3D, bs, false, true), tf.matMul(as, dy as tf.Tensor3D, true, false)];
      return [bmmRaw(dy as tf.Tensor3D, t3(bs)), bmmRaw(t3(as), dy as tf.Tensor3D)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/** Batched a[i] @ b[i]^T ([N,M,K] x [N,P,K]): attention's scores against keys as the cache holds them, without transposing them first. */
export const bmmT = custom<tf.Tensor3D>(2, ([a, b], save) => {
  save([a!, b!]);
  return {
    value: flagsAreFree() ? tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D, false, true) : bmmRaw(a as tf.Tensor3D, t3(b as tf.Tensor3D)),
    gradFunc: (dy, saved) => {
      const [as, bs] = saved as [tf.Tensor3D, tf.Tensor3D];
      const dyT = dy as tf.Tensor3D;
      return [bmmRaw(dyT, bs), flagsAreFree() ? tf.matMul(dyT, as, true, false) : bmmRaw(t3(dyT), as)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/**
 * Rotary embedding of rows of heads, x [N, heads * hd]: HF's x * cos + rotate_half(x) * sin per head,
 * with rotate_half(x) = cat(-x2, x1). Written as x * cos + swap(x) * sinSigned, where `swap` exchanges
 * each head's halves (a reverse over an axis of two) and `sinSigned` is sin with its first half
 * negated; `cos` and `sinSigned` come broadcast to [N, heads * hd] and may carry a factor (q's
 * 1/sqrt(hd), which then costs nothing). The swap is its own inverse, so the backward pass is the
 * same four steps. Why: tfjs's split / neg / concat and the scale took about seven passes over the
 * activations forward and more backward; here it is four each way. (A column gather does the swap in
 * one kernel, but TensorFlow's GatherV2 over columns measured twice as slow as the reverse.)
 */
export function applyRope(x: tf.Tensor2D, cos: tf.Tensor2D, sinSigned: tf.Tensor2D, hd: number): tf.Tensor2D {
  const [n, width] = x.shape;
  // wasm's reverse is a scalar loop (5 ms for SmolLM2's q at 2 x 128 tokens): there the swap is a
  // product with the [hd, hd] permutation instead, which XNNPACK does in a fraction of that, exactly.
  const swap = flagsAreFree()
    ? (t: tf.Tensor) => tf.reshape(tf.reverse(tf.reshape(t, [n * (width / hd), 2, hd / 2]), 1), [n, width])
    : (t: tf.Tensor) => tf.reshape(mm(tf.reshape(t, [n * (width / hd), hd]) as tf.Tensor2D, halfSwap(hd)), [n, width]);
  const f = custom<tf.Tensor2D>(1, ([xin], save) => {
    // Made outside this op, so saved to outlive the forward pass.
    save([cos, sinSigned]);
    return {
      value: tf.add(tf.mul(xin!, cos), tf.mul(swap(xin!), sinSigned)) as tf.Tensor2D,
      gradFunc: (dy, saved) => {
        const [c, s] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.add(tf.mul(dy, c), swap(tf.mul(dy, s)))];
      },
    };
  });
  return f(x);
}

/** The [hd, hd] permutation that exchanges a row's halves (x @ P = cat(x2, x1)); its own inverse. */
function halfSwap(hd: number): tf.Tensor2D {
  const p = new Float32Array(hd * hd);
  for (let k = 0; k < hd; k++) p[((k + hd / 2) % hd) * hd + k] = 1;
  return tf.tensor2d(p, [hd, hd]);
}

/** Host tables for applyRope: cos and sinSigned [N, heads * hd] (times `scale`) from per-row cos/sin [N, hd]. */
export function ropeRows(cos: Float32Array, sin: Float32Array, n: number, heads: number, hd: number, scale = 1): { cos: Float32Array; sinSigned: Float32Array } {
  const width = heads * hd;
  const half = hd / 2;
  const c = new Float32Array(n * width);
  const s = new Float32Array(n * width);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < hd; j++) {
      const cv = cos[r * hd + j]! * scale;
      const sv = (j < half ? -sin[r * hd + j]! : sin[r * hd + j]!) * scale;
      for (let h = 0; h < heads; h++) {
        c[r * width + h * hd + j] = cv;
        s[r * width + h * hd + j] = sv;
      }
    }
  }
  return { cos: c, sinSigned: s };
}

/** Rows of `table` [V, D] picked by `ids` (int32, any shape [...]) -> [..., D]; gradient scatters back. */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const [vocab, dim] = table.shape;
  const flat = tf.reshape(ids, [-1]) as tf.Tensor1D;
  const f = custom<tf.Tensor2D>(1, ([w], save) => {
    save([flat]);
    return {
      value: tf.gather(w!, flat) as tf.Tensor2D,
      // ScatterNd sums rows of repeated ids, which is exactly the gather's adjoint; wasm has it.
      gradFunc: (dy, saved) => [tf.scatterND(tf.reshape(saved[0]!, [-1, 1]), dy, [vocab, dim])],
    };
  });
  return tf.reshape(f(table), [...ids.shape, dim]);
}

/** LayerNorm over the last axis: (x - mean) / sqrt(variance + eps) * weight + bias (GPT-2's nn.LayerNorm). */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, eps))), weight), bias);
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GELU: `tanh` is GPT-2's gelu_new, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); `erf` is the exact
 * x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). One op that saves only x for the backward pass: autodiff
 * through the composed tanh form keeps eleven tensors the size of the MLP's widest activation
 * (measured on wasm for a 1024 x 1024 activation: 4.2 MB kept instead of 46 MB, at the same speed).
 */
export function gelu(x: tf.Tensor, form: 'tanh' | 'erf'): tf.Tensor {
  const f = custom<tf.Tensor>(1, ([xin], save) => {
    save([xin!]);
    const value =
      form === 'tanh'
        ? tf.mul(tf.mul(xin!, 0.5), tf.add(1, tf.tanh(tf.mul(tf.mul(xin!, tf.add(1, tf.mul(tf.square(xin!), GELU_A))), GELU_K))))
        : tf.mul(tf.mul(xin!, 0.5), tf.add(1, tf.erf(tf.mul(xin!, Math.SQRT1_2))));
    return {
      value,
      gradFunc: (dy, saved) => {
        const xs = saved[0]!;
        if (form === 'erf') {
          // Phi(x) + x phi(x)
          const phi = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
          return [tf.mul(dy, tf.add(tf.mul(tf.add(1, tf.erf(tf.mul(xs, Math.SQRT1_2))), 0.5), tf.mul(xs, phi)))];
        }
        // With t = tanh(k (x + a x^3)): 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2)
        const x2 = tf.square(xs);
        const t = tf.tanh(tf.mul(tf.mul(xs, tf.add(1, tf.mul(x2, GELU_A))), GELU_K));
        const inner = tf.mul(tf.mul(tf.sub(1, tf.square(t)), tf.add(1, tf.mul(x2, 3 * GELU_A))), GELU_K);
        return [tf.mul(dy, tf.mul(tf.add(tf.add(1, t), tf.mul(xs, inner)), 0.5))];
      },
    };
  });
  return f(x);
}
