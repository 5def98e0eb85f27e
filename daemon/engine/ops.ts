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
function custom<T extends tf.Tensor>(arity: number, f: Forward<T>): (...inputs: tf.Tensor[]) => T {
  const wrapped = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { value, gradFunc } = f(args.slice(0, arity) as tf.Tensor[], args[arity] as tf.GradSaveFunc);
    // tfjs runs a custom gradient outside any tidy, so its temporaries (the loss's softmax and one-hot,
    // wasm's transposes, GELU's terms) would live until the whole backward pass ends; only the
    // gradients need to.
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => gradFunc(dy, saved)) };
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
function mm2(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  const native = Math.min(...a.shape, ...b.shape) <= THIN ? sharedNativeOps() : null;
  return native ? native.matMul2(a, b, transposeA, transposeB) : tf.matMul(a, b, transposeA, transposeB);
}

const THIN = 64;

/** Whether tfjs is recording a tape (inside tf.grad / variableGrads), so a backward pass may follow. */
function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/** Plain 2-D product a @ b, dispatched to the fastest kernel available. */
function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return mm2(a, b, false, false);
}

/** Batched product a[i] @ b[i] for rank-3 tensors, using the zero-copy wasm kernel when present. */
export function bmmRaw(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (hasFastBatchMatMul()) return tf.engine().runKernel(ANNEAL_BATCH_MATMUL, { a, b }, {}) as tf.Tensor3D;
  return tf.matMul(a, b);
}

function t2(x: tf.Tensor2D): tf.Tensor2D {
  return tf.transpose(x, [1, 0]);
}

function t3(x: tf.Tensor3D): tf.Tensor3D {
  return tf.transpose(x, [0, 2, 1]);
}

/** Whether the backend multiplies with transpose flags as fast as without (all but wasm). */
function flagsAreFree(): boolean {
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
function weightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
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
  const swap = (t: tf.Tensor) => tf.reshape(tf.reverse(tf.reshape(t, [n * (width / hd), 2, hd / 2]), 1), [n, width]);
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

/** SFT token losses: "nll" is -log p(y); "dft" (TRL's dft_loss) is -p(y) * log p(y), p(y) detached. */
export type SftLossType = 'nll' | 'dft';

/**
 * Sum over rows of weight[i] * -log softmax(logits[i])[label[i]] for logits [N, V].
 * Rows with weight 0 contribute nothing to value or gradient (that is the loss mask).
 * `dft` multiplies each row's term by p(label) as a constant: the gradient is the NLL gradient
 * scaled by p(label), with no term through p itself, which is what TRL's `.detach()` gives.
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D, lossType: SftLossType = 'nll'): tf.Scalar {
  const [n, vocab] = logits.shape;
  const f = custom<tf.Scalar>(1, ([z], save) => {
    const zmax = tf.max(z!, 1, true);
    const shifted = tf.sub(z!, zmax);
    const lse = tf.log(tf.sum(tf.exp(shifted), 1)); // [N]
    const picked = tf.gather(tf.reshape(shifted, [-1]), tf.add(tf.range(0, n * vocab, vocab, 'int32'), labels)); // [N]
    const nll = tf.sub(lse, picked);
    const w = lossType === 'dft' ? tf.mul(weights, tf.exp(tf.neg(nll))) : weights;
    const value = tf.sum(tf.mul(nll, w)) as tf.Scalar;
    save([z!, labels, w]);
    return {
      value,
      gradFunc: (dy, saved) => {
        const [zs, ls, ws] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
        const g = tf.sub(tf.softmax(zs), tf.cast(tf.oneHot(ls, vocab), 'float32'));
        return [tf.mul(g, tf.mul(tf.reshape(ws, [n, 1]), dy))];
      },
    };
  });
  return f(logits);
}

/** Logits held at once by headCrossEntropy: rows per chunk = this / vocab (32 MB of float32). */
const HEAD_CHUNK_ELEMENTS = 8 * 2 ** 20;

/** Rows of logits headCrossEntropy makes at a time for a vocabulary of `vocab` tokens. */
export function headChunkRows(vocab: number, chunkElements = HEAD_CHUNK_ELEMENTS): number {
  return Math.max(1, Math.floor(chunkElements / vocab));
}

/** Per-row statistics headLogProbs can report from the logits it makes anyway (no gradient). */
export type TokenStat = 'correct' | 'entropy' | 'logitMean';

/**
 * The LM head and per-token log-probabilities in one op, chunked over rows: equals
 * log_softmax(hn @ head^T)[i, labels[i]] (TRL's selective_log_softmax) without ever holding the
 * [rows, vocab] logits (with 49k-152k vocabularies the largest tensors of a step: 4 x 512 positions
 * of SmolLM2 are 400 MB of logits, a few times over for softmax and gradient). Each chunk's logits
 * are made, used and dropped, and made again in the backward pass. `head` [vocab, hidden] gets a
 * gradient when it is a trainable variable (a tied embedding under full fine-tuning).
 * `want` asks for per-row statistics of the same logits, kept in `stats` for the caller to dispose:
 * `correct` (1 where the argmax is the label: mean_token_accuracy), `entropy` (nats) and
 * `logitMean` (the vocabulary-mean logit: TRL's logits/chosen). With a `temperature`, everything is
 * of the logits divided by it, as GRPO's log-probs of sampled completions are (TRL divides the
 * logits by the sampling temperature).
 */
export function headLogProbs(
  hn: tf.Tensor2D,
  head: tf.Tensor2D,
  labels: tf.Tensor1D,
  want: readonly TokenStat[] = [],
  stats: Partial<Record<TokenStat, tf.Tensor1D>> = {},
  chunkElements = HEAD_CHUNK_ELEMENTS,
  temperature = 1,
  gradientAhead = recordingGradients(),
): tf.Tensor1D {
  const [rows] = hn.shape;
  const [vocab] = head.shape;
  const trainHead = head instanceof tf.Variable && head.trainable;
  // A frozen head's input gradient is (onehot - softmax(z)) @ head / T, row-scaled by the incoming
  // gradient: all of it but that scale is known in the forward pass, where each chunk's logits exist
  // anyway. Computing it there spares the backward pass a second head product per chunk and its
  // softmax (the head is SmolLM2's largest product: ~5% of a LoRA step at 2 x 128), and what waits
  // for the backward pass is [rows, hidden], not logits. Only while a gradient is being recorded, and
  // not for a trainable head, whose weight gradient needs the incoming gradient inside the sum.
  const early = gradientAhead && !trainHead;
  const step = headChunkRows(vocab, chunkElements);
  const chunks: [number, number][] = [];
  for (let r = 0; r < rows; r += step) chunks.push([r, Math.min(rows, r + step)]);
  // On wasm the head is transposed once per pass, not once per chunk.
  const prepared = (w: tf.Tensor2D) => (flagsAreFree() ? w : t2(w));
  const raw = (x: tf.Tensor2D, w: tf.Tensor2D) => (flagsAreFree() ? mm2(x, w, false, true) : mm(x, w));
  const logitsOf = temperature === 1 ? raw : (x: tf.Tensor2D, w: tf.Tensor2D) => tf.div(raw(x, w), temperature) as tf.Tensor2D;
  const rowsOf = (t: tf.Tensor, [a, b]: [number, number]) => tf.slice(t, [a], [b - a]) as tf.Tensor1D;
  const f = custom<tf.Tensor1D>(trainHead ? 2 : 1, ([x, w], save) => {
    const wp = prepared((trainHead ? w! : head) as tf.Tensor2D);
    const parts: tf.Tensor[] = [];
    const inputGrads: tf.Tensor[] = [];
    const statParts = new Map<TokenStat, tf.Tensor[]>(want.map((k) => [k, []]));
    for (const c of chunks) {
      const results = tf.tidy(() => {
        const z = logitsOf(tf.slice(x!, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, wp);
        const ls = rowsOf(labels, c);
        const zmax = tf.max(z, 1, true);
        const shifted = tf.sub(z, zmax);
        const expShifted = tf.exp(shifted);
        const sumExp = tf.sum(expShifted, 1);
        const lse = tf.log(sumExp);
        const n = c[1] - c[0];
        const picked = tf.gather(tf.reshape(shifted, [-1]), tf.add(tf.range(0, n * vocab, vocab, 'int32'), ls));
        const out: tf.Tensor[] = [tf.sub(picked, lse)];
        if (early) {
          // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
          const g = tf.sub(tf.cast(tf.oneHot(ls, vocab), 'float32'), tf.div(expShifted, tf.reshape(sumExp, [-1, 1])));
          const gx = mm(g as tf.Tensor2D, head);
          out.push(temperature === 1 ? gx : tf.div(gx, temperature));
        }
        for (const k of want) {
          if (k === 'correct') out.push(tf.cast(tf.equal(tf.argMax(z, 1), ls), 'float32'));
          // -sum p log p = lse - sum p z, with z shifted (the shift cancels).
          else if (k === 'entropy') out.push(tf.sub(lse, tf.sum(tf.mul(tf.softmax(shifted), shifted), 1)));
          else out.push(tf.mean(z, 1));
        }
        return out;
      });
      parts.push(results[0]!);
      if (early) inputGrads.push(results[1]!);
      want.forEach((k, i) => statParts.get(k)!.push(results[i + (early ? 2 : 1)]!));
    }
    const join = (ts: tf.Tensor[]) => (ts.length === 0 ? tf.zeros([0]) : ts.length === 1 ? ts[0]! : tf.concat(ts)) as tf.Tensor1D;
    for (const [k, ts] of statParts) stats[k] = tf.keep(join(ts));
    // Labels made inside the caller's scope are gone by the backward pass unless saved.
    if (early) {
      const gx = inputGrads.length === 1 ? inputGrads[0]! : tf.concat(inputGrads);
      save([gx]);
      return { value: join(parts), gradFunc: (dy, saved) => [tf.mul(saved[0]!, tf.reshape(dy, [-1, 1]))] };
    }
    save([x!, labels]);
    return {
      value: join(parts),
      gradFunc: (dy, saved) => {
        const [xs, ls] = saved as [tf.Tensor2D, tf.Tensor1D];
        const weightNow = (trainHead ? w! : head) as tf.Tensor2D;
        const wpb = prepared(weightNow);
        const dx: tf.Tensor[] = [];
        let dw = null as tf.Tensor | null;
        for (const c of chunks) {
          // d log p(label) / dz = onehot(label) - softmax(z), times the incoming gradient of the row.
          const g = tf.tidy(() => {
            const z = logitsOf(tf.slice(xs, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, wpb);
            // wasm's OneHot returns zeros when asked for float32 output (tfjs 4.22); build int32 and cast.
            const onehot = tf.cast(tf.oneHot(rowsOf(ls, c), vocab), 'float32');
            // Through the division by the temperature too: d/dz_raw = (onehot - softmax(z)) / T.
            return tf.mul(tf.sub(onehot, tf.softmax(z)), tf.reshape(temperature === 1 ? rowsOf(dy, c) : tf.div(rowsOf(dy, c), temperature), [-1, 1])) as tf.Tensor2D;
          });
          dx.push(mm(g, weightNow));
          if (trainHead) {
            // Summed chunk by chunk, each partial freed at once: a [vocab, hidden] gradient per chunk adds up.
            const gw = tf.tidy(() => weightGrad(tf.slice(xs, [c[0], 0], [c[1] - c[0], -1]) as tf.Tensor2D, g));
            const sum: tf.Tensor = dw ? tf.add(dw, gw) : gw;
            if (dw) {
              dw.dispose();
              gw.dispose();
            }
            dw = sum;
          }
          g.dispose();
        }
        const gradX = dx.length === 0 ? tf.zerosLike(xs) : dx.length === 1 ? dx[0]! : tf.concat(dx);
        if (trainHead && !dw) dw = tf.zerosLike(weightNow);
        return trainHead ? [gradX, dw!] : [gradX];
      },
    };
  });
  return trainHead ? f(hn, head) : f(hn);
}

/** The identity whose gradient is zero (torch's `.detach()`): a factor the loss holds constant. */
export const stopGradient = custom<tf.Tensor>(1, ([x]) => ({ value: tf.clone(x!), gradFunc: (dy) => [tf.zerosLike(dy)] }));

/**
 * The SFT loss from the head: sum of weights[i] * -log p(labels[i]) through headLogProbs (so never
 * all logits at once); `dft` scales each term by p(label) held constant, as TRL's dft_loss.
 * `correct` receives the count of rows whose argmax is the label (mean_token_accuracy).
 */
export function headCrossEntropy(
  hn: tf.Tensor2D,
  head: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
  lossType: SftLossType,
  out: { correct?: tf.Tensor } = {},
  chunkElements = HEAD_CHUNK_ELEMENTS,
): tf.Scalar {
  const stats: Partial<Record<TokenStat, tf.Tensor1D>> = {};
  const logp = headLogProbs(hn, head, labels, ['correct'], stats, chunkElements);
  out.correct = tf.keep(tf.sum(stats.correct!));
  stats.correct!.dispose();
  const w = lossType === 'dft' ? tf.mul(weights, stopGradient(tf.exp(logp))) : weights;
  return tf.neg(tf.sum(tf.mul(logp, w))) as tf.Scalar;
}

/** Root-mean-square norm over the last axis, times a learned scale (Llama's RMSNorm). */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
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
