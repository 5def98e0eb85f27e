// Shared helpers for engine tests: backend setup and finite-difference gradient checks.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../../daemon/engine/backend.ts';
import { Rng } from '../../../daemon/engine/rng.ts';

/** Activates a backend for a test file (wasm unless ANNEAL_TEST_BACKEND says otherwise). */
export async function useBackend(name = process.env.ANNEAL_TEST_BACKEND ?? 'wasm'): Promise<void> {
  await selectBackend(name);
}

export function randomTensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * scale), shape);
}

/**
 * Compares the analytic gradient of sum(f(inputs) * probe) with central differences, for every
 * element of input `which`. float32 forces a coarse step and a loose tolerance.
 */
export function checkGradient(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], which: number, opts: { eps?: number; tol?: number } = {}): void {
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 2e-2;
  const probe = tf.tidy(() => randomTensor(f(...inputs).shape, 99));
  const loss = (xs: tf.Tensor[]) => tf.tidy(() => tf.sum(tf.mul(f(...xs), probe)).dataSync()[0]!);
  const analytic = tf.tidy(() => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), probe)))(inputs)[which]!.dataSync() as Float32Array);
  const base = inputs[which]!.dataSync() as Float32Array;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < base.length; i++) {
    const plus = Float32Array.from(base);
    const minus = Float32Array.from(base);
    plus[i]! += eps;
    minus[i]! -= eps;
    const xp = inputs.map((x, j) => (j === which ? tf.tensor(plus, x.shape) : x));
    const xm = inputs.map((x, j) => (j === which ? tf.tensor(minus, x.shape) : x));
    const numeric = (loss(xp) - loss(xm)) / (2 * eps);
    xp[which]!.dispose();
    xm[which]!.dispose();
    worst = Math.max(worst, Math.abs(numeric - analytic[i]!));
    scale = Math.max(scale, Math.abs(numeric));
  }
  probe.dispose();
  assert.ok(worst <= tol * Math.max(1, scale), `gradient of input ${which} off by ${worst} (largest numeric gradient ${scale})`);
}
