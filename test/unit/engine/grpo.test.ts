// GRPO through the training loop on the tiny model: each step samples num_generations completions
// per prompt with the policy, scores them with a built-in reward and a user's TypeScript module (in
// its worker), and trains on the group advantages; TRL's metric names, per-function reward metrics
// and completion statistics are logged, nothing leaks, a stopped run resumes onto the identical curve
// (sampling draws from the run's seeded RNG), and a reward module that throws fails the run at the
// first step with its message.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { RewardSpec, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const rewardsDir = join(root, 'test/fixtures/rewards');

before(() => useBackend());

function run(rewards: RewardSpec[], args: Partial<TrainingArguments>, signal = new AbortController().signal, onMetrics?: (m: { step: number }) => void, runDir?: string, resumeFrom?: string) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => (metrics.push(m), onMetrics?.(m)), sample: () => {}, log: (l) => logs.push(l), checkpoint: () => {} };
  const job: TrainJob = {
    stage: 'grpo',
    runDir: runDir ?? mkdtempSync(join(tmpdir(), 'anneal-grpo-')),
    model: 'tiny',
    data: { train: join(root, 'examples/prompts.jsonl') },
    lora: null,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    rewards,
    ...(resumeFrom ? { resumeFrom } : {}),
    args: { ...defaultTrainingArguments('grpo'), save_steps: 0, logging_steps: 1, per_device_train_batch_size: 8, num_generations: 4, max_completion_length: 16, learning_rate: 2e-3, max_steps: 4, ...args },
  };
  return { promise: train(job, events, signal), metrics, logs, job };
}

const REWARDS: RewardSpec[] = [
  { name: 'length', options: { target: 8, unit: 'chars' } },
  { name: 'format', file: join(rewardsDir, 'asyncFormat.ts'), weight: 0.5 },
];

test('GRPO on tiny: sampled groups scored by a built-in and a user module, TRL metric names, no leaks', async () => {
  const baseline = tf.memory().numTensors;
  const r = run(REWARDS, {});
  const res = await r.promise;
  assert.equal(res.finalStep, 4);
  const m = r.metrics.at(-1)!;
  for (const k of ['loss', 'grad_norm', 'reward', 'reward_std', 'frac_reward_zero_std', 'rewards/length/mean', 'rewards/length/std', 'rewards/format/mean', 'rewards/format/std', 'entropy', 'clip_ratio/region_mean', 'completions/mean_length', 'completions/max_length', 'completions/clipped_ratio', 'num_tokens']) {
    assert.ok(k in m, `metric ${k} missing (got ${Object.keys(m).join(', ')})`);
  }
  assert.ok(m['completions/max_length']! <= 16 + 1e-9);
  assert.ok(r.logs.some((l) => l.startsWith('2 reward function(s): length, format; 4 completions per prompt')), r.logs.join('\n'));
  assert.equal(tf.memory().numTensors, baseline, 'everything disposed after the run');
});

test('stop + resume of a GRPO run continues the identical curve (sampling is seeded by step)', async () => {
  const straight = run(REWARDS, {});
  await straight.promise;
  const ctl = new AbortController();
  const first = run(REWARDS, {}, ctl.signal, (m) => m.step === 2 && ctl.abort());
  await first.promise;
  const second = run(REWARDS, {}, undefined, undefined, first.job.runDir, join(first.job.runDir, 'checkpoints', 'step-2'));
  await second.promise;
  const resumed = [...first.metrics, ...second.metrics].filter((m) => 'loss' in m);
  const uninterrupted = straight.metrics.filter((m) => 'loss' in m);
  assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
  uninterrupted.forEach((m, i) => {
    for (const k of ['loss', 'reward']) assert.ok(Math.abs(m[k]! - resumed[i]![k]!) <= 1e-5 * Math.max(1, Math.abs(m[k]!)), `step ${m.step} ${k}: ${m[k]} vs resumed ${resumed[i]![k]}`);
  });
});

test('a reward module that throws fails the run at the first step with its message; no rewards is refused up front', async () => {
  await assert.rejects(run([{ name: 'bad', file: join(rewardsDir, 'throws.js') }], { max_steps: 2 }).promise, /throws\.js threw: no answer column in this batch/);
  await assert.rejects(run([], { max_steps: 2 }).promise, /GRPO needs reward functions/);
  await assert.rejects(run(REWARDS, { per_device_train_batch_size: 6 }).promise, /must be a multiple of num_generations \(4\)/);
});

test('beta > 0 with LoRA: the KL to the base (adapter off) is logged and starts at 0; full fine-tuning with beta > 0 is refused', async () => {
  const lora = { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' as const };
  const metrics: { step: number; [k: string]: number }[] = [];
  const job: TrainJob = {
    stage: 'grpo', runDir: mkdtempSync(join(tmpdir(), 'anneal-grpo-kl-')), model: 'tiny', data: { train: join(root, 'examples/prompts.jsonl') }, lora, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm', rewards: REWARDS,
    args: { ...defaultTrainingArguments('grpo'), save_steps: 0, logging_steps: 1, per_device_train_batch_size: 8, num_generations: 4, max_completion_length: 16, learning_rate: 1e-2, max_steps: 3, beta: 0.04 },
  };
  await train(job, { status: () => {}, metrics: (m) => metrics.push(m), sample: () => {}, log: () => {}, checkpoint: () => {} }, new AbortController().signal);
  const logged = metrics.filter((m) => 'loss' in m);
  assert.ok(logged.every((m) => typeof m.kl === 'number' && m.kl >= 0), JSON.stringify(logged.map((m) => m.kl)));
  assert.ok(Math.abs(logged[0]!.kl!) < 1e-6, `the policy is its reference at step 1: kl ${logged[0]!.kl}`);
  assert.ok(logged.at(-1)!.kl! > 0, 'the adapter moved the policy away from the base');
  await assert.rejects(run(REWARDS, { beta: 0.04, max_steps: 1 }).promise, /full fine-tuning would need a second copy of the model/);
});
