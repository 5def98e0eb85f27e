// SFT's loss types (TRL's SFTConfig.loss_type): "nll" and "dft" (Dynamic Fine-Tuning, TRL's
// dft_loss: each target token's NLL times that token's probability, the probability detached),
// checked against float64 sums computed here from the logits; anything else is refused.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { randomTensor, useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

const LABELS = [3, 0, 6, 2, 5];
const WEIGHTS = [1 / 4, 0, 1 / 4, 1 / 4, 1 / 4]; // a masked row, and 1 / num_items_in_batch as the loop passes

/** float64 log-softmax of each row. */
function logSoftmax64(z: number[][]): number[][] {
  return z.map((row) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    return row.map((x) => x - lse);
  });
}

/** TRL's dft_loss in float64, with the probabilities `pFixed` (detached) or the live ones. */
function dft64(z: number[][], pFixed?: number[]): number {
  const lp = logSoftmax64(z);
  return LABELS.reduce((a, y, i) => a + WEIGHTS[i]! * -(pFixed ? pFixed[i]! : Math.exp(lp[i]![y]!)) * lp[i]![y]!, 0);
}

test('dft: value is sum of w * -p(y) * log p(y), computed independently in float64', () => {
  const logits = randomTensor([5, 9], 21, 2) as tf.Tensor2D;
  const labels = tf.tensor1d(LABELS, 'int32');
  const weights = tf.tensor1d(WEIGHTS);
  const z = logits.arraySync();
  const got = weightedCrossEntropy(logits, labels, weights, 'dft').dataSync()[0]!;
  const want = dft64(z);
  assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `dft ${got} vs float64 ${want}`);
  const nll = weightedCrossEntropy(logits, labels, weights, 'nll').dataSync()[0]!;
  assert.ok(got < nll * 0.9, `dft ${got} should be well below nll ${nll}: every p(y) < 1`);
});

test('dft: gradient equals finite differences of the loss with p(y) held fixed (detached)', () => {
  const logits = randomTensor([5, 9], 22, 2) as tf.Tensor2D;
  const labels = tf.tensor1d(LABELS, 'int32');
  const weights = tf.tensor1d(WEIGHTS);
  const z = logits.arraySync();
  const analytic = tf.grad((x: tf.Tensor) => weightedCrossEntropy(x as tf.Tensor2D, labels, weights, 'dft'))(logits).arraySync() as number[][];
  const lp = logSoftmax64(z);
  const p = LABELS.map((y, i) => Math.exp(lp[i]![y]!));
  const eps = 1e-5;
  let worst = 0;
  let throughP = 0; // how far the derivative with p live is: the detach must matter for the test to mean anything
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 9; j++) {
      const at = (d: number) => z.map((row, r) => row.map((x, c) => (r === i && c === j ? x + d : x)));
      const numeric = (dft64(at(eps), p) - dft64(at(-eps), p)) / (2 * eps);
      const live = (dft64(at(eps)) - dft64(at(-eps))) / (2 * eps);
      worst = Math.max(worst, Math.abs(numeric - analytic[i]![j]!));
      throughP = Math.max(throughP, Math.abs(live - analytic[i]![j]!));
    }
  }
  assert.ok(worst < 1e-6, `gradient off by ${worst}`);
  assert.ok(throughP > 1e-3, `a gradient through p(y) would differ (${throughP})`);
  assert.ok(analytic[1]!.every((g) => g === 0), 'a masked row gets no gradient');
});

function job(lossType: string): TrainJob {
  return {
    stage: 'sft',
    runDir: mkdtempSync(join(tmpdir(), 'anneal-run-')),
    model: 'tiny',
    data: { train: join(import.meta.dirname, '../../../examples/sft.jsonl') },
    lora: null,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    args: { ...defaultTrainingArguments('sft'), max_steps: 1, save_steps: 0, logging_steps: 1, max_length: 64, loss_type: lossType },
  };
}

function firstLoss(): { events: TrainEvents; losses: number[] } {
  const losses: number[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => void ('loss' in m && losses.push(m.loss!)), sample: () => {}, log: () => {}, checkpoint: () => {} };
  return { events, losses };
}

test('the loop trains with the loss_type it is given and refuses one SFT lacks', async () => {
  const nll = firstLoss();
  await train(job('nll'), nll.events, new AbortController().signal);
  const dft = firstLoss();
  await train(job('dft'), dft.events, new AbortController().signal);
  // same init and batch: an untrained model gives each token p(y) near 1/vocab, so dft << nll
  assert.ok(dft.losses[0]! < nll.losses[0]! / 20, `dft ${dft.losses[0]} vs nll ${nll.losses[0]}`);
  const before = tf.memory().numTensors;
  await assert.rejects(train(job('sigmoid'), firstLoss().events, new AbortController().signal), /loss_type `sigmoid` is not an SFT loss; use nll or dft/);
  assert.equal(tf.memory().numTensors, before);
});
