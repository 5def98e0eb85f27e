// Text generation for sample completions: temperature + nucleus (top-p) sampling, with a KV cache
// (each new token costs one position) or without (the whole sequence again per token; kept for the
// benchmark and as a cross-check of the cache).
import * as tf from '@tensorflow/tfjs-core';
import { disposeCache, emptyCache, forward, type LinearAdapter, type LlamaModel } from './model.ts';
import type { Rng } from './rng.ts';

export interface SampleOptions {
  maxNewTokens: number;
  /** <= 0 means greedy. */
  temperature: number;
  topP: number;
  stopIds: number[];
  rng: Rng;
  useCache?: boolean;
  adapter?: LinearAdapter;
}

/** Picks a token id from logits with temperature and top-p. */
export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  const probs = Array.from(logits, (z, i) => ({ i, p: Math.exp((z - max) / temperature) }));
  const total = probs.reduce((a, b) => a + b.p, 0);
  probs.sort((a, b) => b.p - a.p);
  const kept: typeof probs = [];
  let mass = 0;
  for (const e of probs) {
    kept.push(e);
    mass += e.p / total;
    if (mass >= topP) break;
  }
  let r = rng.next() * kept.reduce((a, b) => a + b.p, 0);
  for (const e of kept) {
    r -= e.p;
    if (r <= 0) return e.i;
  }
  return kept[kept.length - 1]!.i;
}

/** Generates up to maxNewTokens after `prompt`; returns only the new ids (without the stop token). */
export function generate(model: LlamaModel, prompt: number[], opts: SampleOptions): number[] {
  const limit = model.config.max_position_embeddings;
  const out: number[] = [];
  const cache = opts.useCache === false ? null : emptyCache(model.config);
  try {
    let pending = prompt.slice(-limit);
    const seq = [...pending];
    for (let n = 0; n < opts.maxNewTokens && seq.length < limit; n++) {
      const logits = tf.tidy(() => {
        const past = cache ? cache.length : 0;
        const ids = cache ? pending : seq;
        const T = ids.length;
        const S = past + T;
        const bias = new Float32Array(T * S);
        for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) if (j > past + i) bias[i * S + j] = -1e9;
        const positions = Int32Array.from({ length: T }, (_, i) => past + i);
        const z = forward(
          model,
          { batch: 1, length: T, ids: Int32Array.from(ids), positions, bias },
          { cache: cache ?? undefined, adapter: opts.adapter, select: Int32Array.of(T - 1) },
        );
        return z.dataSync() as Float32Array;
      });
      const next = pickToken(logits, opts.temperature, opts.topP, opts.rng);
      if (opts.stopIds.includes(next)) break;
      out.push(next);
      seq.push(next);
      pending = [next];
    }
  } finally {
    if (cache) disposeCache(cache);
  }
  return out;
}
