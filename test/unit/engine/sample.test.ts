// Sampling: top-k/top-p without sorting keeps exactly the tokens a sorted reference keeps, and a batch of
// prompts of different lengths (left-padded, one KV cache) gives each row what generating it alone gives.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { createModel, disposeModel, initialWeights } from '../../../daemon/engine/model.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { generate, generateBatch, generateBatchAsync, pickToken } from '../../../daemon/engine/sample.ts';
import { tinyTokenizer } from '../../../core/tokenize/index.ts';
import { useBackend } from './helpers.ts';

before(() => useBackend());

/** The tokens nucleus sampling may pick, found the obvious way: sort, keep top-k, then top-p mass. */
function sortedSupport(logits: Float32Array, temperature: number, topP: number, topK: number): Set<number> {
  const max = Math.max(...logits);
  const p = Array.from(logits, (z, i) => ({ i, p: Math.exp((z - max) / temperature) })).sort((a, b) => b.p - a.p);
  const kept = topK > 0 ? p.slice(0, topK) : p;
  const total = p.reduce((a, e) => a + e.p, 0);
  const out = new Set<number>();
  let mass = 0;
  for (const e of kept) {
    out.add(e.i);
    mass += e.p;
    if (mass >= topP * total) break;
  }
  return out;
}

test('top-p and top-k pick only from the set a sorted reference keeps, in proportion', () => {
  const rng = new Rng(5);
  for (const [topP, topK] of [[0.9, 0], [0.5, 0], [1, 7], [0.95, 3], [0.3, 50]] as const) {
    const logits = Float32Array.from({ length: 500 }, () => rng.normal() * 3);
    const support = sortedSupport(logits, 0.8, topP, topK);
    const seen = new Map<number, number>();
    for (let i = 0; i < 4000; i++) {
      const id = pickToken(logits, 0.8, topP, rng, topK);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    for (const id of seen.keys()) assert.ok(support.has(id), `top_p=${topP} top_k=${topK}: picked ${id} outside the kept set`);
    // The most likely token is drawn about as often as its renormalised probability says.
    const max = Math.max(...logits);
    const weight = (i: number) => Math.exp((logits[i]! - max) / 0.8);
    const keptMass = [...support].reduce((a, i) => a + weight(i), 0);
    const best = logits.indexOf(max);
    const expected = (weight(best) / keptMass) * 4000;
    assert.ok(Math.abs((seen.get(best) ?? 0) - expected) < 5 * Math.sqrt(expected) + 10, `top_p=${topP} top_k=${topK}: best drawn ${seen.get(best)} times, expected ~${expected.toFixed(0)}`);
  }
  const flat = Float32Array.from([0, 5, 1, 5, -2]);
  assert.equal(pickToken(flat, 0, 0.9, rng), 1, 'greedy takes the first best');
  assert.equal(pickToken(flat, 1, 1, rng, 1), 1, 'top_k = 1 is greedy');
});

test('a batch of prompts of different lengths equals generating each alone, with and without the cache', () => {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 3), false);
  const tok = tinyTokenizer();
  const prompts = ['Spell dake', 'Shout kotaru please, loudly', 'Hi'].map((p) => tok.encodePrompt(p));
  const opts = { maxNewTokens: 10, temperature: 0, topP: 1, stopIds: [] as number[], rng: new Rng(1) };
  const before = tf.memory().numTensors;
  const alone = prompts.map((p) => generate(model, p, opts));
  const batched = generateBatch(model, prompts, opts);
  const plain = generateBatch(model, prompts, { ...opts, useCache: false });
  assert.deepEqual(batched, alone);
  assert.deepEqual(plain, alone);
  assert.ok(alone.every((ids) => ids.length === 10));
  // A stop id ends its row only; the others go on.
  const stop = alone[1]![3]!;
  const stopped = generateBatch(model, prompts, { ...opts, stopIds: [stop] });
  assert.deepEqual(stopped[1], alone[1]!.slice(0, alone[1]!.indexOf(stop)));
  // keepStop: the stop token closes the row's ids (GRPO's completions end with their EOS).
  const kept = generateBatch(model, prompts, { ...opts, stopIds: [stop], keepStop: true });
  assert.deepEqual(kept[1], alone[1]!.slice(0, alone[1]!.indexOf(stop) + 1));
  assert.equal(tf.memory().numTensors, before, 'generation leaks no tensors');
  disposeModel(model);
});

test('generateBatchAsync yields to the event loop between tokens and equals generateBatch; a stop returns null and frees everything', async () => {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 3), false);
  const tok = tinyTokenizer();
  const prompts = ['Spell dake', 'Hi'].map((p) => tok.encodePrompt(p));
  const opts = { maxNewTokens: 12, temperature: 0, topP: 1, stopIds: [] as number[], rng: new Rng(1) };
  const before = tf.memory().numTensors;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const ctl = new AbortController();
  const same = await generateBatchAsync(model, prompts, opts, ctl.signal, 0);
  assert.deepEqual(same, generateBatch(model, prompts, opts));
  assert.ok(ticks > 0, 'other work ran while it generated');
  const stopping = generateBatchAsync(model, prompts, opts, ctl.signal, 0);
  setImmediate(() => ctl.abort());
  assert.equal(await stopping, null);
  clearInterval(timer);
  assert.equal(tf.memory().numTensors, before, 'a stopped generation leaks no tensors');
  disposeModel(model);
});
