// KTO, ORPO, CPO and SimPO through the training loop on the tiny model and examples/preference.jsonl
// (KTO splits each pair into a desirable and an undesirable example): each moves the chosen answers' score up
// against the rejected ones' between its first and last evaluation, logs TRL's metric names for its stage, leaves no tensor
// behind, and refuses data it cannot train on before any step.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { Stage, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const pairs = join(root, 'examples/preference.jsonl');

before(() => useBackend());

function run(stage: Stage, args: Partial<TrainingArguments>, data = pairs) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => metrics.push(m), sample: () => {}, log: (l) => logs.push(l), checkpoint: () => {} };
  const job: TrainJob = {
    stage,
    runDir: mkdtempSync(join(tmpdir(), `anneal-${stage}-`)),
    model: 'tiny',
    data: { train: data, eval: data },
    lora: null,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    args: { ...defaultTrainingArguments(stage), save_steps: 0, logging_steps: 4, eval_steps: 6, max_length: 128, per_device_train_batch_size: 4, max_steps: 24, ...args },
  };
  return { promise: train(job, events, new AbortController().signal), metrics, logs };
}

const STAGES: { stage: Stage; args: Partial<TrainingArguments>; names: string[] }[] = [
  { stage: 'kto', args: { learning_rate: 1e-3 }, names: ['kl', 'entropy', 'logits/chosen', 'logits/rejected', 'rewards/chosen', 'rewards/rejected', 'logps/chosen', 'logps/rejected', 'rewards/margins'] },
  { stage: 'orpo', args: { learning_rate: 2e-3, beta: 1 }, names: ['nll_loss', 'log_odds_ratio', 'log_odds_chosen', 'rewards/chosen', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logits/chosen'] },
  { stage: 'cpo', args: { learning_rate: 2e-3 }, names: ['nll_loss', 'rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected'] },
  { stage: 'simpo', args: { learning_rate: 2e-3 }, names: ['nll_loss', 'rewards/accuracies', 'rewards/margins', 'logps/chosen'] },
];

for (const { stage, args, names } of STAGES) {
  test(`${stage} on tiny: the chosen answers gain on the rejected ones, TRL's metric names, no leaks`, async () => {
    const before = tf.memory().numTensors;
    const r = run(stage, args);
    const res = await r.promise;
    assert.equal(res.finalStep, 24);
    const start = r.metrics.find((m) => 'eval/loss' in m)!;
    const end = r.metrics.filter((m) => 'eval/loss' in m).at(-1)!;
    const margin = stage === 'kto' ? (m: Record<string, number>) => m['eval/rewards/chosen']! - m['eval/rewards/rejected']! : (m: Record<string, number>) => m['eval/rewards/margins']!;
    console.log(`${stage}: eval loss ${start['eval/loss']!.toFixed(4)} -> ${end['eval/loss']!.toFixed(4)}, margin ${margin(start).toFixed(4)} -> ${margin(end).toFixed(4)}`);
    assert.ok(end['eval/loss']! < start['eval/loss']!, `${stage}: eval loss should fall`);
    assert.ok(margin(end) > margin(start), `${stage}: the chosen answers should gain on the rejected ones`);
    const logged = r.metrics.find((m) => 'loss' in m && m.step === 4)!;
    for (const k of names) assert.ok(k in logged, `${stage}: metric ${k} missing (got ${Object.keys(logged).join(', ')})`);
    assert.equal(tf.memory().numTensors, before, 'everything disposed after the runs');
  });
}

test('KTO refuses a file with one class, and a batch of one (no mismatched completion for the reference point)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-kto-bad-'));
  const one = join(dir, 'one.jsonl');
  writeFileSync(one, readFileSync(pairs, 'utf8').trim().split('\n').slice(0, 4).map((l) => {
    const p = JSON.parse(l) as { prompt: string; chosen: string };
    return JSON.stringify({ prompt: p.prompt, completion: p.chosen, label: true });
  }).join('\n') + '\n');
  await assert.rejects(run('kto', { max_steps: 1 }, one).promise, /only desirable \(label true\) examples; KTO learns from both kinds/);
  await assert.rejects(run('kto', { max_steps: 1, per_device_train_batch_size: 1 }).promise, /per_device_train_batch_size to 2 or more/);
});
