// TRL's golden numbers (test/fixtures/trl/, written by make_golden.py with the pinned TRL) and the
// tiny random models they were computed on, loaded as the engine loads any Hugging Face folder.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { createModel, type LlamaModel } from '../../../daemon/engine/model.ts';
import { readModelFolder } from '../../../daemon/engine/modelSource.ts';
import { loadPeftAdapter, readPeftAdapter } from '../../../daemon/engine/peftAdapter.ts';

export const FIXTURES = join(import.meta.dirname, '../../fixtures/trl');

export interface GoldenCase {
  name: string;
  config: Record<string, unknown>;
  loss: number;
  logps: Record<string, number[]>;
  metrics: Record<string, number>;
  grads: Record<string, { shape: number[]; data: number[] }>;
}

export interface Golden<E> {
  trl_version: string;
  examples: E[];
  collated: Record<string, number[][]>;
  cases: GoldenCase[];
}

export function readGolden<E>(stage: string): Golden<E> {
  return JSON.parse(readFileSync(join(FIXTURES, `${stage}.json`), 'utf8')) as Golden<E>;
}

/** A fixture model folder (policy, ref) as trainable variables, read as the engine reads any model folder. */
export function loadFixtureModel(folder: string, trainable = true): LlamaModel {
  const { config, weights } = readModelFolder(join(FIXTURES, folder));
  return createModel(config, weights, trainable);
}

/** The fixture's PEFT adapter on `model` (frozen base), read as the engine reads any adapter folder. */
export function loadFixtureAdapter(model: LlamaModel, folder = 'lora'): LoraAdapter {
  return loadPeftAdapter(model, readPeftAdapter(join(FIXTURES, folder)), 0).lora;
}

/** |a - b| <= tol * max(1, |b|), elementwise, with the worst offender in the message. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!));
    if (d > worst || Number.isNaN(d)) {
      worst = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: ${actual[at]} vs TRL ${expected[at]} at ${at} (relative difference ${worst.toExponential(2)} > ${tol})`);
}

/** Gradients against TRL's: each tensor within `tol` of its own largest magnitude. */
export function assertGradients(grads: Map<string, tf.Tensor>, expected: GoldenCase['grads'], tol: number, rename: (trl: string) => string | null = (n) => n): void {
  let compared = 0;
  for (const [trlName, g] of Object.entries(expected)) {
    const name = rename(trlName);
    if (name === null) continue;
    const mine = grads.get(name);
    assert.ok(mine, `no gradient for ${name} (TRL's ${trlName})`);
    assert.deepEqual(mine.shape, g.shape, `${name}: shape`);
    const scale = Math.max(1e-12, ...g.data.map(Math.abs));
    const got = mine.dataSync();
    let worst = 0;
    g.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i]! - v) / scale)));
    assert.ok(worst <= tol, `${name}: gradient differs from TRL's by ${worst.toExponential(2)} of its largest entry (> ${tol})`);
    compared++;
  }
  assert.ok(compared > 0, 'no gradient compared');
}
