// The data the SFT loop trains on (prepareData): records are cut to the row length the loader
// packs or pads to, which is max_length capped by the model's position table; a packed run sees
// every record once per epoch, for every epoch.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { Batch } from '../../../daemon/engine/data.ts';
import { loadModelSource } from '../../../daemon/engine/modelSource.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { prepareData } from '../../../daemon/engine/stages/sft.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

/** Conversations of varied lengths, several longer than 64 tokens. */
function dataFile(): string {
  const rng = new Rng(4);
  const word = () => Array.from({ length: 2 + rng.int(6) }, () => 'abcdefghijklmnopqrstuvwxyz'[rng.int(26)]).join('');
  const lines = Array.from({ length: 30 }, () => {
    const reply = Array.from({ length: 1 + rng.int(12) }, word).join(' ');
    return JSON.stringify({ messages: [{ role: 'user', content: `Say ${word()}` }, { role: 'assistant', content: reply }] });
  });
  const path = join(mkdtempSync(join(tmpdir(), 'anneal-prep-')), 'train.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Each row holds whole sequences: positions count 0, 1, 2, ... from each segment's start, inside the row. */
function assertRowsWhole(b: Batch, table: number): void {
  assert.ok(b.length <= table, `row length ${b.length} exceeds the model's ${table} positions`);
  for (let r = 0; r < b.batch; r++) {
    for (let t = 0; t < b.length; t++) {
      const at = r * b.length + t;
      if (b.segments[at] === 0) continue;
      const starts = t === 0 || b.segments[at - 1] !== b.segments[at];
      assert.equal(b.positions[at], starts ? 0 : b.positions[at - 1]! + 1, `row ${r} token ${t}: a sequence spills across rows`);
      assert.ok(b.positions[at]! < table);
    }
  }
}

for (const packing of [true, false]) {
  test(`a model with fewer positions than max_length: records are cut to its table (packing ${packing})`, () => {
    const source = loadModelSource('tiny', 1);
    const small = { ...source, config: { ...source.config, max_position_embeddings: 32 } };
    const args = { ...defaultTrainingArguments('sft'), max_length: 64, packing, per_device_train_batch_size: 3 };
    const path = dataFile();
    const { trainSet, loader, evalLoader } = prepareData({ train: path, eval: path }, args, small);
    assert.ok(trainSet.truncated > 0, 'the data has records longer than 32 tokens');
    assert.ok(trainSet.examples.every((e) => e.ids.length <= 32));
    let tokens = 0;
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let i = 0; i < loader.perEpoch; i++) {
        const b = loader.batchAt(epoch, i);
        assertRowsWhole(b, 32);
        if (epoch === 0) tokens += b.tokens;
      }
    }
    assert.equal(tokens, trainSet.examples.reduce((a, e) => a + e.ids.length, 0), 'every token of every example is in some row');
    for (let i = 0; i < evalLoader!.perEpoch; i++) assertRowsWhole(evalLoader!.batchAt(0, i), 32);
  });
}

test('a packed run walks every epoch to the end: epoch reaches num_train_epochs without running past a row plan', async () => {
  const epochs: number[] = [];
  let tokens = 0;
  const events: TrainEvents = {
    status: () => {},
    metrics: (m) => {
      if ('epoch' in m) epochs.push(m.epoch!);
      if ('num_tokens' in m) tokens = m.num_tokens!;
    },
    sample: () => {},
    log: () => {},
    checkpoint: () => {},
  };
  // Rows of 160 hold one to four of these records, so packing each epoch's shuffled order (as the
  // loader once did) gives epochs of different lengths; with seed 2 the second epoch ran out early.
  const args = { ...defaultTrainingArguments('sft'), packing: true, num_train_epochs: 3, max_length: 160, per_device_train_batch_size: 1, seed: 2, logging_steps: 1, save_steps: 0 };
  const runDir = mkdtempSync(join(tmpdir(), 'anneal-run-'));
  const path = dataFile();
  const res = await train({ stage: 'sft', runDir, model: 'tiny', data: { train: path }, lora: null, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm', args }, events, new AbortController().signal);
  assert.equal(res.stopped, false);
  assert.ok(epochs.length > 3, `several steps per epoch (${epochs.length} logged)`);
  assert.equal(epochs.at(-1), 3);
  // every example's tokens, once per epoch: no micro-batch skipped or repeated
  const perEpoch = prepareData({ train: path }, args, loadModelSource('tiny', 1)).trainSet.examples.reduce((a, e) => a + e.ids.length, 0);
  assert.equal(tokens, 3 * perEpoch);
});
