// A Llama decoder layer with LoRA on frozen weights, forward and backward, each run as one TensorFlow
// graph (tfGraph.ts) instead of about 190 eager kernels: the training step of a LoRA run on the native
// backend. The math is layerOps.ts's (written against `Kernels`, traced here into the graph) and
// ops.linearLora's; the layer is one tape entry whose forward graph returns what its backward graph
// reads. Equal to the eager layer up to rounding, value and gradients (test/unit/engine/layerGraph.test.ts).
//
// Graphs are built once per layer shape and LoRA layout (which modules are adapted, dropout, biases)
// and serve every batch size and length: the batch is the inferred axis of every reshape and the
// length is fed (GraphBuilder.dimension). Building and loading the two graphs takes about 0.1 s.
import * as tf from '@tensorflow/tfjs-core';
import { attentionBackward, attentionForward, rmsNormBackward, rmsNormForward, swigluBackward, swigluForward, type AttentionDims, type AttentionSaved } from './layerOps.ts';
import { custom, recordingGradients } from './ops.ts';
import { GraphBuilder, GraphSession } from './tfGraph.ts';

/** The seven linear modules of a Llama layer, in the order the graphs take them. */
export const LAYER_MODULES = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'] as const;

/** One linear module of a layer as the graphs see it. */
export interface GraphModule {
  weight: tf.Tensor2D;
  bias?: tf.Tensor1D;
  /** LoRA's A [r, in] and B [out, r], absent where the module is not adapted. */
  a?: tf.Variable;
  b?: tf.Variable;
  /** LoRA dropout's rate and seed (the graphs draw the mask), absent without dropout. */
  dropout?: { rate: number; seed: number };
}

/** Everything one layer's graphs read, in LAYER_MODULES order for `modules`. */
export interface GraphLayerInputs {
  norm1: tf.Tensor1D;
  norm2: tf.Tensor1D;
  /** Qwen3's RMSNorms over each query and key head (before RoPE), absent in other models. */
  headNorms?: { q: tf.Tensor1D; k: tf.Tensor1D };
  modules: GraphModule[];
  ropeQ: { cos: tf.Tensor2D; sinSigned: tf.Tensor2D };
  ropeK: { cos: tf.Tensor2D; sinSigned: tf.Tensor2D };
  bias: tf.Tensor3D;
  eps: number;
  scale: number;
  dims: AttentionDims;
}

interface Graphs {
  /** The forward pass returning the layer's output and what the backward reads. */
  forward: GraphSession;
  backward: GraphSession;
}

/** Which optional pieces each module has: the graphs' inputs differ with them. */
function layout(inp: GraphLayerInputs): string {
  const modules = inp.modules.map((m) => `${m.a ? 'L' : ''}${m.dropout ? `D${m.dropout.rate}` : ''}${m.bias ? 'B' : ''}`).join('.');
  return `${inp.headNorms ? 'QK:' : ''}${modules}`;
}

const cache = new Map<string, Graphs>();
/** The backend the cached sessions were loaded on: another one (tests switch) starts afresh. */
let cacheBackend: tf.KernelBackend | null = null;
/** Layouts kept at once (a run has one; a process serving several models a few). */
const MAX_LAYOUTS = 6;
let forwardRuns = 0;
let built = 0;

/** How many layer forwards have run as graphs, and how many graph pairs were built, in this process (for tests and logs). */
export function graphLayerStats(): { runs: number; built: number } {
  return { runs: forwardRuns, built };
}

function graphsFor(inp: GraphLayerInputs): Graphs {
  if (cacheBackend !== tf.backend()) {
    cache.clear();
    cacheBackend = tf.backend();
  }
  const d = inp.dims;
  const key = [d.H, d.Hkv, d.hd, inp.modules.map((m) => m.weight.shape.join('x')).join(','), layout(inp), inp.eps, inp.scale].join('|');
  let g = cache.get(key);
  if (g) {
    cache.delete(key);
    cache.set(key, g);
    return g;
  }
  g = build(inp);
  built++;
  cache.set(key, g);
  if (cache.size > MAX_LAYOUTS) {
    const [oldest, old] = cache.entries().next().value as [string, Graphs];
    old.forward.dispose();
    old.backward.dispose();
    cache.delete(oldest);
  }
  return g;
}

/** The fed tensors besides the layer input and the saved activations, in graph input order. */
function fedWeights(inp: GraphLayerInputs): tf.Tensor[] {
  const out: tf.Tensor[] = [inp.norm1, inp.norm2, ...(inp.headNorms ? [inp.headNorms.q, inp.headNorms.k] : [])];
  for (const m of inp.modules) {
    out.push(m.weight);
    if (m.a) out.push(m.a, m.b!);
    // Two int32 words of seed for TensorFlow's stateless generator.
    if (m.dropout) out.push(tf.tensor1d([m.dropout.seed | 0, 0x5eed], 'int32'));
    if (m.bias) out.push(m.bias);
  }
  out.push(inp.ropeQ.cos, inp.ropeQ.sinSigned, inp.ropeK.cos, inp.ropeK.sinSigned);
  return out;
}

/** Placeholders in fedWeights' order. */
function declareWeights(g: GraphBuilder, inp: GraphLayerInputs) {
  const norm1 = g.input('norm1');
  const norm2 = g.input('norm2');
  const qNorm = inp.headNorms ? g.input('q_norm') : null;
  const kNorm = inp.headNorms ? g.input('k_norm') : null;
  const modules = inp.modules.map((m, i) => ({
    w: g.input(`w${i}`),
    a: m.a ? g.input(`a${i}`) : null,
    b: m.a ? g.input(`b${i}`) : null,
    seed: m.dropout ? g.input(`seed${i}`, 'int32') : null,
    bias: m.bias ? g.input(`bias${i}`) : null,
  }));
  const rope = [g.input('cos_q'), g.input('sin_q'), g.input('cos_k'), g.input('sin_k')] as const;
  return { norm1, norm2, qNorm, kNorm, modules, rope };
}

/** Dropout's multiplier for x: 1/(1-rate) where a uniform draw is at least `rate`, else 0 (floor(u + 1 - rate) is that 0 or 1). */
function dropoutMask(g: GraphBuilder, x: tf.Tensor, seed: tf.Tensor, rate: number): tf.Tensor {
  return g.mul(g.floor(g.add(g.uniformLike(x, seed), g.scalar(1 - rate))), g.scalar(1 / (1 - rate)));
}

/** RoPE's value x cos + swap(x) sinSigned, swap exchanging each head's halves (ops.applyRope). */
function rope(g: GraphBuilder, x: tf.Tensor, cos: tf.Tensor, sinSigned: tf.Tensor, hd: number, width: number): tf.Tensor {
  return g.add(g.mul(x, cos), g.mul(swap(g, x, hd, width), sinSigned));
}

function swap(g: GraphBuilder, x: tf.Tensor, hd: number, width: number): tf.Tensor {
  return g.reshape(g.reverse(g.reshape(x, [-1, 2, hd / 2]), 1), [-1, width]);
}

function build(inp: GraphLayerInputs): Graphs {
  const { H, Hkv, hd } = inp.dims;
  const scale = inp.scale;

  // Forward: the layer, keeping what the backward reads.
  const f = new GraphBuilder();
  const h = f.input('h');
  const W = declareWeights(f, inp);
  const attnBias = f.input('attn_bias');
  const fT = f.dimension('length');
  const saved: tf.Tensor[] = [];
  const keep = (t: tf.Tensor): number => {
    const i = saved.indexOf(t);
    if (i >= 0) return i;
    saved.push(t);
    return saved.length - 1;
  };
  const at: Record<string, number> = {};
  const lin = (i: number, x: tf.Tensor): tf.Tensor => {
    const m = W.modules[i]!;
    let y = f.matMul2(x as tf.Tensor2D, m.w as tf.Tensor2D, false, true) as tf.Tensor;
    if (m.a) {
      const drop = inp.modules[i]!.dropout;
      const xd = drop ? f.mul(x, dropoutMask(f, x, m.seed!, drop.rate)) : x;
      const us = f.mul(f.matMul2(xd as tf.Tensor2D, m.a as tf.Tensor2D, false, true), f.scalar(scale));
      y = f.add(y, f.matMul2(us as tf.Tensor2D, m.b as tf.Tensor2D, false, true));
      // The input, not the dropped input: the backward graph draws the mask again from the seed.
      at[`x${i}`] = keep(x);
      at[`us${i}`] = keep(us);
    }
    return m.bias ? f.add(y, m.bias) : y;
  };
  const n1 = rmsNormForward(f, h, W.norm1, inp.eps);
  at.xn1 = keep(n1.xn);
  at.r1 = keep(n1.r);
  // Qwen3's head norms: RMSNorm over each head's vector, before RoPE.
  const headNorm = (y: tf.Tensor, w: tf.Tensor | null, heads: number, tag: string): tf.Tensor => {
    if (!w) return y;
    const n = rmsNormForward(f, f.reshape(y, [-1, hd]), w, inp.eps);
    at[`xn${tag}`] = keep(n.xn);
    at[`r${tag}`] = keep(n.r);
    return f.reshape(n.y, [-1, heads * hd]);
  };
  const q = rope(f, headNorm(lin(0, n1.y), W.qNorm, H, 'q'), W.rope[0], W.rope[1], hd, H * hd);
  const k = rope(f, headNorm(lin(1, n1.y), W.kNorm, Hkv, 'k'), W.rope[2], W.rope[3], hd, Hkv * hd);
  const v = lin(2, n1.y);
  const att = attentionForward(f, q, k, v, attnBias, { ...inp.dims, T: fT, S: fT });
  for (const [name, t] of Object.entries(att.saved)) at[name] = keep(t);
  const h2 = f.add(h, lin(3, att.y));
  const n2 = rmsNormForward(f, h2, W.norm2, inp.eps);
  at.xn2 = keep(n2.xn);
  at.r2 = keep(n2.r);
  const gate = lin(4, n2.y);
  const up = lin(5, n2.y);
  const sw = swigluForward(f, gate, up);
  at.gate = keep(gate);
  at.up = keep(up);
  at.s = keep(sw.s);
  const out = f.add(h2, lin(6, sw.y));

  // Backward: dh from the output's gradient, then each adapted module's dA and dB.
  const g = new GraphBuilder();
  const dy = g.input('dy');
  const S = saved.map((_, i) => g.input(`saved${i}`));
  const V = declareWeights(g, inp);
  const gT = g.dimension('length');
  const grads: tf.Tensor[] = new Array(inp.modules.length * 2);
  const back = (i: number, dOut: tf.Tensor): tf.Tensor => {
    const m = V.modules[i]!;
    let dx = g.matMul2(dOut as tf.Tensor2D, m.w as tf.Tensor2D, false, false) as tf.Tensor;
    if (m.a) {
      const drop = inp.modules[i]!.dropout;
      const x = S[at[`x${i}`]!]!;
      const mask = drop ? dropoutMask(g, x, m.seed!, drop.rate) : null;
      const gu = g.mul(g.matMul2(dOut as tf.Tensor2D, m.b as tf.Tensor2D, false, false), g.scalar(scale));
      const dxl = g.matMul2(gu as tf.Tensor2D, m.a as tf.Tensor2D, false, false);
      dx = g.add(dx, mask ? g.mul(dxl, mask) : dxl);
      grads[2 * i] = g.matMul2(gu as tf.Tensor2D, (mask ? g.mul(x, mask) : x) as tf.Tensor2D, true, false);
      grads[2 * i + 1] = g.matMul2(dOut as tf.Tensor2D, S[at[`us${i}`]!] as tf.Tensor2D, true, false);
    }
    return dx;
  };
  const s = (name: string) => S[at[name]!]!;
  const dAct = back(6, dy);
  const [dGate, dUp] = swigluBackward(g, dAct, s('gate'), s('up'), s('s'));
  const dx2 = g.add(back(4, dGate), back(5, dUp));
  const dh2 = g.add(dy, rmsNormBackward(g, dx2, s('xn2'), s('r2'), V.norm2));
  const dCtx = back(3, dh2);
  const [dq, dk, dv] = attentionBackward(g, dCtx, { qh: s('qh'), kh: s('kh'), vh: s('vh'), probs: s('probs') } as AttentionSaved, { ...inp.dims, T: gT, S: gT });
  // RoPE's backward: dy cos + swap(dy sinSigned).
  const dqPre = g.add(g.mul(dq, V.rope[0]), swap(g, g.mul(dq, V.rope[1]), hd, H * hd));
  const dkPre = g.add(g.mul(dk, V.rope[2]), swap(g, g.mul(dk, V.rope[3]), hd, Hkv * hd));
  const headNormBack = (d: tf.Tensor, w: tf.Tensor | null, heads: number, tag: string): tf.Tensor =>
    w ? g.reshape(rmsNormBackward(g, g.reshape(d, [-1, hd]), s(`xn${tag}`), s(`r${tag}`), w), [-1, heads * hd]) : d;
  const dx1 = g.add(g.add(back(0, headNormBack(dqPre, V.qNorm, H, 'q')), back(1, headNormBack(dkPre, V.kNorm, Hkv, 'k'))), back(2, dv));
  const dh = g.add(dh2, rmsNormBackward(g, dx1, s('xn1'), s('r1'), V.norm1));
  return { forward: new GraphSession(f, [out, ...saved]), backward: new GraphSession(g, [dh, ...grads.filter((t) => t !== undefined)]) };
}

/**
 * The layer h -> h' as one op on the tape; its inputs are h and each adapted module's A and B (in
 * LAYER_MODULES order), which get their gradients from the backward graph.
 */
export function graphDecoderLayer(h: tf.Tensor2D, inp: GraphLayerInputs): tf.Tensor2D {
  const graphs = graphsFor(inp);
  const weights = fedWeights(inp);
  const length = () => tf.scalar(inp.dims.T, 'int32');
  forwardRuns++;
  if (!recordingGradients()) {
    // No tape (evaluation, a reference model's scores): the same graph as training's, its saved
    // activations dropped at once. A graph fetching the output alone is optimized differently and
    // rounds differently, and a DPO reference that is a copy of the policy must score exactly as it.
    const [out, ...saved] = graphs.forward.run([h, ...weights, inp.bias, length()]);
    for (const t of saved) t.dispose();
    return out as tf.Tensor2D;
  }
  const trainable = inp.modules.flatMap((m) => (m.a ? [m.a, m.b!] : []));
  const f = custom<tf.Tensor2D>(1 + trainable.length, ([x], save) => {
    const [out, ...saved] = graphs.forward.run([x!, ...weights, inp.bias, length()]);
    // The tables and seeds were made outside this op: saved too, so they outlive the forward pass.
    save([...saved, ...weights.filter((w) => !(w instanceof tf.Variable))]);
    return {
      value: out as tf.Tensor2D,
      gradFunc: (dy, kept) => {
        const acts = kept.slice(0, saved.length);
        const fed = kept.slice(saved.length);
        let j = 0;
        const ws = weights.map((w) => (w instanceof tf.Variable ? w : fed[j++]!));
        return graphs.backward.run([dy, ...acts, ...ws, length()]);
      },
    };
  });
  return f(h, ...trainable);
}
