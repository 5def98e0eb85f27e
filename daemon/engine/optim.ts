// AdamW with PyTorch's semantics (decoupled weight decay applied before the moment update, bias
// correction), global-norm gradient clipping, and a state that round-trips through checkpoints.
import * as tf from '@tensorflow/tfjs-core';
import { assignData, ownedVariable } from './model.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Parameters up to this many elements are updated in groups (see `groups`); 0 updates each alone. Default: SMALL_PARAM off wasm. */
  groupBelow?: number;
}

/**
 * Small parameters (LoRA's A and B: SmolLM2's 420 of them hold 9-25k numbers each) are updated in
 * groups of one shape: concatenated, updated with the same formulas, split back. An update is about
 * thirteen kernels whatever the size, so per parameter that was 5,500 kernels a LoRA step (~105 ms
 * of SmolLM2's ~1.9 s at 2 x 128 on native TensorFlow); grouped it is five groups of ~20.
 */
export const SMALL_PARAM = 2 ** 17;

/**
 * The default `groupBelow`: grouping everywhere but wasm, whose split copies its whole input once per
 * piece (a group of ~200 LoRA matrices took seconds to split back: SmolLM2's update 3.2 s grouped,
 * 84 ms one parameter at a time; native TensorFlow 58 ms grouped, 118 ms alone).
 */
function defaultGroupBelow(): number {
  return tf.getBackend() === 'wasm' ? 0 : SMALL_PARAM;
}
/** A group's elements at most: its temporaries (about ten copies) stay a few tens of MB. */
const GROUP_MAX = 2 ** 21;

/** Hugging Face's Trainer does not decay biases or norm scales; neither do we. */
export function decays(name: string): boolean {
  return !(name.endsWith('.bias') || /norm/i.test(name));
}

/** Serializable optimizer state: step count and first/second moments per parameter. */
export interface AdamWState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  /** Names updated together: small parameters of one shape and decay, in model order; the rest alone. */
  private readonly groups: string[][];

  constructor(private readonly params: Map<string, tf.Variable>, private readonly opts: AdamWOptions) {
    for (const [name, p] of params) {
      this.m.set(name, ownedVariable(tf.zerosLike(p), false));
      this.v.set(name, ownedVariable(tf.zerosLike(p), false));
    }
    const below = opts.groupBelow ?? defaultGroupBelow();
    const open = new Map<string, { names: string[]; size: number }>();
    this.groups = [];
    for (const [name, p] of params) {
      if (p.size > below) {
        this.groups.push([name]);
        continue;
      }
      // Concatenated along the first axis, so the other axes must agree.
      const key = `${p.shape.slice(1).join('x')}|${p.rank}|${decays(name)}`;
      let g = open.get(key);
      if (!g || g.size + p.size > GROUP_MAX) {
        g = { names: [], size: 0 };
        open.set(key, g);
        this.groups.push(g.names);
      }
      g.names.push(name);
      g.size += p.size;
    }
  }

  /** One update with learning rate `lr`; `grads` holds a gradient per parameter name (one without is left as it is). */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1, beta2, epsilon, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    /** PyTorch's AdamW on one tensor (or a group's concatenation): the new parameter and moments. */
    const update = (p: tf.Tensor, g: tf.Tensor, m0: tf.Tensor, v0: tf.Tensor, decay: boolean) => {
      const m = tf.add(tf.mul(m0, beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(v0, beta2), tf.mul(tf.square(g), 1 - beta2));
      const base = weightDecay > 0 && decay ? tf.mul(p, 1 - lr * weightDecay) : p;
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), epsilon);
      return { p: tf.sub(base, tf.mul(tf.div(m, denom), lr / bc1)), m, v };
    };
    // One tidy per parameter or group: the update's temporaries are several times its size, so kept
    // for all parameters at once they were about ten copies of the model (full fine-tuning).
    for (const group of this.groups) {
      const names = group.filter((n) => grads.has(n));
      if (names.length === 0) continue;
      tf.tidy(() => {
        const ps = names.map((n) => this.params.get(n)!);
        const ms = names.map((n) => this.m.get(n)!);
        const vs = names.map((n) => this.v.get(n)!);
        const join = (ts: tf.Tensor[]) => (ts.length === 1 ? ts[0]! : tf.concat(ts, 0));
        const out = update(join(ps), join(names.map((n) => grads.get(n)!)), join(ms), join(vs), decays(names[0]!));
        const sizes = ps.map((p) => p.shape[0]!);
        const parts = (t: tf.Tensor) => (names.length === 1 ? [t] : tf.split(t, sizes, 0));
        for (const [vars, t] of [[ps, out.p], [ms, out.m], [vs, out.v]] as const) parts(t).forEach((x, i) => vars[i]!.assign(x));
      });
    }
  }

  /** A copy of the state for a checkpoint. */
  state(): AdamWState {
    const read = (src: Map<string, tf.Variable>) => new Map([...src].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }

  /** Restores a checkpoint's state; every parameter must be present. */
  load(state: AdamWState): void {
    this.step = state.step;
    for (const [name, p] of this.params) {
      const m = state.m.get(name);
      const v = state.v.get(name);
      if (!m || !v) throw new Error(`The checkpoint's optimizer state lacks ${name}.`);
      assignData(this.m.get(name)!, m);
      assignData(this.v.get(name)!, v);
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch's clip_grad_norm_); returns
 * the clipped gradients and the norm before clipping, which is what TRL logs as grad_norm.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = Math.sqrt(tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))).dataSync()[0]!));
  if (!(maxNorm > 0) || norm <= maxNorm) return { grads, norm };
  const coef = maxNorm / (norm + 1e-6);
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) out.set(k, tf.mul(g, coef));
  return { grads: out, norm };
}
