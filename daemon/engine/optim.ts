// AdamW with PyTorch's semantics (decoupled weight decay applied before the moment update, bias
// correction), global-norm gradient clipping, and a state that round-trips through checkpoints.
import * as tf from '@tensorflow/tfjs-core';
import { assignData, ownedVariable } from './model.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

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

  constructor(private readonly params: Map<string, tf.Variable>, private readonly opts: AdamWOptions) {
    for (const [name, p] of params) {
      this.m.set(name, ownedVariable(tf.zerosLike(p), false));
      this.v.set(name, ownedVariable(tf.zerosLike(p), false));
    }
  }

  /** One update with learning rate `lr`; `grads` holds a gradient per parameter name. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1, beta2, epsilon, weightDecay } = this.opts;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    // One tidy per parameter: the update's temporaries are several times the parameter's size, so
    // kept for all parameters at once they were about ten copies of the model (full fine-tuning).
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) continue;
      tf.tidy(() => {
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        const base = weightDecay > 0 && decays(name) ? tf.mul(p, 1 - lr * weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), epsilon);
        p.assign(tf.sub(base, tf.mul(tf.div(m, denom), lr / bc1)));
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
