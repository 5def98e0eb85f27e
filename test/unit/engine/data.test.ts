// Data path: records -> token ids and loss masks from core/tokenize -> batches; masked tokens carry
// no loss; the shuffled order depends only on (seed, epoch); the tiny model's sampler agrees with
// and without its KV cache.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { tinyTokenizer } from '../../../core/tokenize/index.ts';
import { BatchLoader, DataError, loadExamples, makeBatch, packRows } from '../../../daemon/engine/data.ts';
import { causalBias, createModel, disposeModel, forward, initialWeights } from '../../../daemon/engine/model.ts';
import { tinyConfig } from '../../../daemon/engine/modelSource.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { generate } from '../../../daemon/engine/sample.ts';
import { decodeSafetensors, encodeSafetensors } from '../../../daemon/engine/safetensors.ts';
import { useBackend } from './helpers.ts';

const args = { assistant_only_loss: true, completion_only_loss: true, max_length: 256 };
const dir = mkdtempSync(join(tmpdir(), 'anneal-data-'));
function file(name: string, lines: unknown[]): string {
  const p = join(dir, name);
  writeFileSync(p, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return p;
}

before(async () => {
  await useBackend();
});

test('conversations carry loss on assistant tokens only; prompt-completion on the completion', () => {
  const tok = tinyTokenizer();
  const path = file('mixed.jsonl', [
    { messages: [{ role: 'user', content: 'Spell abo' }, { role: 'assistant', content: 'A-B-O' }] },
    { prompt: 'two plus two is', completion: ' four' },
  ]);
  const { examples } = loadExamples(path, tok, args);
  assert.equal(examples.length, 2);
  const targetText = (i: number) => tok.decode([...examples[i]!.ids].filter((_, t) => examples[i]!.target[t]), { skipSpecial: false });
  assert.match(targetText(0), /^A-B-O/);
  assert.doesNotMatch(targetText(0), /Spell/);
  assert.match(targetText(1), /^ four(<\|im_end\|>)?$/); // the completion (and the eos TRL appends)
  const all = loadExamples(path, tok, { ...args, assistant_only_loss: false, completion_only_loss: false }).examples;
  assert.ok(all[0]!.target.every((m) => m === 1), 'assistant_only_loss: false trains on every token');
});

test('a file with bad lines is refused with their line numbers, without crashing', () => {
  const path = file('bad.jsonl', [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] }, '{"messages": [', { foo: 1 }]);
  assert.throws(() => loadExamples(path, tinyTokenizer(), args), (e: unknown) => e instanceof DataError && /line 2/.test(e.message));
  assert.throws(() => loadExamples(join(dir, 'missing.jsonl'), tinyTokenizer(), args), DataError);
});

test('masked tokens contribute nothing: changing their labels leaves loss and gradient unchanged', () => {
  const tok = tinyTokenizer();
  const path = file('two.jsonl', [
    { messages: [{ role: 'user', content: 'Spell kimo' }, { role: 'assistant', content: 'K-I-M-O' }] },
    { messages: [{ role: 'user', content: 'Spell tu' }, { role: 'assistant', content: 'T-U' }] },
  ]);
  const { examples } = loadExamples(path, tok, args);
  const b = makeBatch([[examples[0]!], [examples[1]!]], Math.max(...examples.map((e) => e.ids.length)), tok.padId);
  assert.ok(b.lossTokens > 0 && b.lossTokens < b.tokens);
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 3), true);
  const emb = model.params.get('model.embed_tokens.weight')!;
  const lossAndGrad = (labels: Int32Array) =>
    tf.tidy(() => {
      const f = () => weightedCrossEntropy(
        forward(model, { batch: b.batch, length: b.length, ids: b.ids, positions: b.positions, bias: causalBias(b.segments, b.batch, b.length) }),
        tf.tensor1d(labels, 'int32'),
        tf.tensor1d(b.weights),
      );
      const { value, grads } = tf.variableGrads(f, [emb]);
      return { loss: value.dataSync()[0]!, grad: grads[emb.name]!.dataSync() };
    });
  const base = lossAndGrad(b.labels);
  const perturbed = Int32Array.from(b.labels, (l, i) => (b.weights[i] ? l : (l + 17) % config.vocab_size));
  const other = lossAndGrad(perturbed);
  assert.equal(other.loss, base.loss);
  assert.deepEqual(other.grad, base.grad);
  // and a change at a loss position does change the loss (the check is not vacuous)
  const hit = b.weights.findIndex((w) => w > 0);
  const moved = Int32Array.from(b.labels, (l, i) => (i === hit ? (l + 1) % config.vocab_size : l));
  assert.notEqual(lossAndGrad(moved).loss, base.loss);
  disposeModel(model);
});

test('batch order is a function of (seed, epoch); packing keeps sequences whole and separate', () => {
  const ex = Array.from({ length: 10 }, (_, i) => ({ ids: Int32Array.from({ length: 3 + i }, (_, t) => t + i), target: new Uint8Array(3 + i).fill(1) }));
  const opts = { batchSize: 3, maxLength: 32, packing: false, seed: 5, padId: 0, shuffle: true };
  const a = new BatchLoader(ex, opts);
  const b = new BatchLoader(ex, opts);
  assert.deepEqual(b.batchAt(1, 2).ids, a.batchAt(1, 2).ids); // fresh loader, same (seed, epoch, index)
  assert.notDeepEqual(a.batchAt(0, 0).ids, a.batchAt(1, 0).ids);
  const packed = new BatchLoader(ex, { ...opts, packing: true }).batchAt(0, 0);
  assert.equal(packed.length, 32);
  const row = [...packed.segments.subarray(0, 32)];
  assert.ok(Math.max(...row) >= 2, 'several sequences share a packed row');
  // positions restart at each sequence, and no label crosses a sequence boundary
  for (let t = 1; t < 32; t++) if (row[t] !== row[t - 1] && row[t] !== 0) assert.equal(packed.positions[t], 0);
  for (let t = 0; t < 31; t++) if (row[t] !== row[t + 1]) assert.equal(packed.weights[t], 0);
});

test('sampling with the KV cache gives the same greedy tokens as without', () => {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 11), false);
  const tok = tinyTokenizer();
  const prompt = tok.encodePrompt('Spell dake');
  const opts = { maxNewTokens: 12, temperature: 0, topP: 1, stopIds: [], rng: new Rng(1) };
  const before = tf.memory().numTensors;
  const cached = generate(model, prompt, { ...opts, useCache: true });
  const plain = generate(model, prompt, { ...opts, useCache: false });
  assert.equal(cached.length, 12);
  assert.deepEqual(cached, plain);
  assert.equal(tf.memory().numTensors, before, 'generation leaks no tensors');
  disposeModel(model);
});

test('safetensors round-trip keeps names, shapes, values and metadata', () => {
  const t = new Map([
    ['b.weight', { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }],
    ['a.bias', { shape: [1], data: Float32Array.from([-0.25]) }],
  ]);
  const bytes = encodeSafetensors(t, { format: 'pt' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0, 'data starts 8-byte aligned');
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual(back.tensors.get('b.weight'), t.get('b.weight'));
  assert.deepEqual(back.tensors.get('a.bias'), t.get('a.bias'));
});

/** Examples with distinct first ids (1000 + index) and lengths 2..maxLen, to find them in batches. */
function numbered(count: number, maxLen: number, seed: number): { ids: Int32Array; target: Uint8Array }[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const n = 2 + rng.int(maxLen - 1);
    return { ids: Int32Array.from({ length: n }, (_, t) => (t === 0 ? 1000 + i : 1 + t)), target: new Uint8Array(n).fill(1) };
  });
}

/** Indices of the examples in a batch, read back from the first id of each segment. */
function examplesIn(b: { batch: number; length: number; ids: Int32Array; segments: Int32Array }): number[] {
  const seen: number[] = [];
  for (let r = 0; r < b.batch; r++) {
    for (let t = 0; t < b.length; t++) {
      const at = r * b.length + t;
      const s = b.segments[at]!;
      if (s !== 0 && (t === 0 || b.segments[at - 1] !== s)) seen.push(b.ids[at]! - 1000);
    }
  }
  return seen;
}

test('packing: every epoch has perEpoch micro-batches and sees every example exactly once', () => {
  const ex = numbered(60, 20, 7);
  const opts = { batchSize: 3, maxLength: 24, packing: true, seed: 9, padId: 0, shuffle: true };
  const loader = new BatchLoader(ex, opts);
  const orders: string[] = [];
  for (let epoch = 0; epoch < 6; epoch++) {
    const seen: number[] = [];
    for (let i = 0; i < loader.perEpoch; i++) {
      const b = loader.batchAt(epoch, i);
      assert.equal(b.length, 24);
      const found = examplesIn(b);
      // each sequence lies whole inside its row: its segment is exactly as long as the example
      for (let r = 0; r < b.batch; r++) {
        const seg = [...b.segments.subarray(r * 24, r * 24 + 24)];
        for (let s = 1; s <= Math.max(...seg); s++) {
          const start = seg.indexOf(s);
          assert.equal(seg.filter((x) => x === s).length, ex[b.ids[r * 24 + start]! - 1000]!.ids.length);
        }
      }
      seen.push(...found);
    }
    assert.deepEqual([...seen].sort((a, z) => a - z), ex.map((_, i) => i), `epoch ${epoch} sees each example once`);
    assert.throws(() => loader.batchAt(epoch, loader.perEpoch), /past the end/);
    orders.push(seen.join(','));
  }
  assert.equal(new Set(orders).size, orders.length, 'each epoch has its own order');
  // resume: a fresh loader reproduces any (epoch, index) without walking the epochs before it
  const fresh = new BatchLoader(ex, opts);
  assert.deepEqual(fresh.batchAt(4, 2), loader.batchAt(4, 2));
  assert.deepEqual(fresh.batchAt(1, loader.perEpoch - 1), loader.batchAt(1, loader.perEpoch - 1));
});

test('without packing, every epoch still sees every example exactly once', () => {
  const ex = numbered(17, 12, 3);
  const loader = new BatchLoader(ex, { batchSize: 4, maxLength: 24, packing: false, seed: 2, padId: 0, shuffle: true });
  assert.equal(loader.perEpoch, 5);
  for (let epoch = 0; epoch < 3; epoch++) {
    const seen: number[] = Array.from({ length: loader.perEpoch }, (_, i) => examplesIn(loader.batchAt(epoch, i))).flat();
    assert.deepEqual(seen.sort((a, z) => a - z), ex.map((_, i) => i));
  }
});

test('packRows is best-fit decreasing: fills rows tightly, keeps every example once', () => {
  const ex = [3, 5, 1, 7, 3, 5].map((n, i) => ({ ids: new Int32Array(n).fill(i), target: new Uint8Array(n) }));
  const rows = packRows(ex, 8);
  // 7+1, 5+3, 5+3: three full rows where first-fit in file order needs four
  assert.deepEqual(rows.map((r) => r.map((e) => e.ids.length)), [[7, 1], [5, 3], [5, 3]]);
  assert.deepEqual(rows.flat().map((e) => e.ids[0]).sort(), [0, 1, 2, 3, 4, 5]);
  assert.throws(() => packRows([{ ids: new Int32Array(9), target: new Uint8Array(9) }], 8), /does not fit/);
});
