// `evaluate` on the tiny model: a LoRA run trained on the shout task, measured against its base on
// the same file — eval loss and perplexity (lower than the base's), the KL to the base on its own
// answers (0 for the base against itself), entropy, distinct-1/2, lengths, a reward function's
// accuracy, and the win rate as a reward model judges it. Nothing leaks.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { Stage, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainJob } from '../../../daemon/engine/api.ts';
import { evaluate } from '../../../daemon/engine/evaluation.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
before(() => useBackend());

async function trainTiny(stage: Stage, data: string, args: Partial<TrainingArguments>): Promise<string> {
  const runDir = mkdtempSync(join(tmpdir(), `anneal-eval-${stage}-`));
  const job: TrainJob = {
    stage, runDir, model: 'tiny', data: { train: data }, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    lora: stage === 'sft' ? { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' } : null,
    args: { ...defaultTrainingArguments(stage), save_steps: 0, logging_steps: 10, ...args },
  };
  await train(job, { status: () => {}, metrics: () => {}, sample: () => {}, log: () => {}, checkpoint: () => {} }, new AbortController().signal);
  return join(runDir, 'output');
}

test('a trained adapter against its base: loss, perplexity change, KL, entropy, diversity, rewards and the judged win rate', async () => {
  // 32 of the shout task's records: the eval's loss passes (the model's and the base's) stay short.
  const sft = join(mkdtempSync(join(tmpdir(), 'anneal-eval-data-')), 'sft.jsonl');
  writeFileSync(sft, readFileSync(join(root, 'examples/sft.jsonl'), 'utf8').split('\n').slice(0, 32).join('\n') + '\n');
  const adapter = await trainTiny('sft', sft, { max_steps: 20, learning_rate: 1e-2, per_device_train_batch_size: 8 });
  const judge = await trainTiny('reward', join(root, 'examples/preference.jsonl'), { max_steps: 2, per_device_train_batch_size: 2, max_length: 128 });
  const before = tf.memory().numTensors;
  const r = await evaluate({ model: adapter, data: sft, maxPrompts: 8, maxNewTokens: 12, rewards: [{ name: 'length', options: { target: 8, unit: 'chars' } }], judge });
  assert.equal(tf.memory().numTensors, before, 'nothing leaks');
  const m = r.metrics;
  for (const k of ['eval/loss', 'eval/perplexity', 'eval/perplexity_change', 'eval/kl', 'eval/entropy', 'eval/distinct_1', 'eval/mean_length', 'eval/rewards/length/mean', 'eval/win_rate']) {
    assert.ok(Number.isFinite(m[k]), `${k}: ${m[k]} (${Object.keys(m).join(', ')})`);
  }
  assert.ok(m['eval/perplexity_change']! < -0.2, `20 steps on this very data lower its perplexity: change ${m['eval/perplexity_change']}`);
  assert.ok(m['eval/kl']! > 0, `the adapter moved away from the base: kl ${m['eval/kl']}`);
  for (const k of ['eval/distinct_1', 'eval/win_rate']) assert.ok(m[k]! >= 0 && m[k]! <= 1, `${k} ${m[k]}`);
  // Answers a single token long have no bigram: distinct-2 is then not measured rather than made up.
  assert.ok(m['eval/distinct_2'] === undefined || (m['eval/distinct_2'] >= 0 && m['eval/distinct_2'] <= 1));
  assert.equal(r.samples.length, 8);
  assert.ok(r.samples.every((s) => typeof s.rewards?.length === 'number' && ['win', 'loss', 'tie'].includes(s.outcome!)));
  assert.match(r.description, /against its base without the adapter/);

  // The base alone: nothing to compare with, said so; its own measures still come.
  const plain = await evaluate({ model: 'tiny', data: sft, maxPrompts: 4, maxNewTokens: 8 });
  assert.ok(!('eval/kl' in plain.metrics) && 'eval/perplexity' in plain.metrics);
  assert.match(plain.notes.join('\n'), /has no adapter, so there is no baseline/);
  // Prompts only: no loss, said why; the answer measures still come.
  const prompts = await evaluate({ model: adapter, data: join(root, 'examples/prompts.jsonl'), maxPrompts: 4, maxNewTokens: 8 });
  assert.ok(!('eval/loss' in prompts.metrics) && 'eval/kl' in prompts.metrics);
  assert.match(prompts.notes.join('\n'), /no eval loss: .*holds prompt-only records, with no answer/);
});
