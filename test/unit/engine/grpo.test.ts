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
import type { SampleRecord } from '../../../core/protocol/runs.ts';
import type { RewardSpec, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const rewardsDir = join(root, 'test/fixtures/rewards');

before(() => useBackend());

function run(rewards: RewardSpec[], args: Partial<TrainingArguments>, signal = new AbortController().signal, onMetrics?: (m: { step: number }) => void, runDir?: string, resumeFrom?: string, onSample?: (s: SampleRecord) => void) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const samples: SampleRecord[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => (metrics.push(m), onMetrics?.(m)), sample: (x) => (samples.push(x), onSample?.(x)), log: (l) => logs.push(l), checkpoint: () => {} };
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
  return { promise: train(job, events, signal), metrics, logs, samples, job };
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

test('each generation\'s groups reach the samples view: every completion with its rewards by name, total, advantage, length', async () => {
  const r = run(REWARDS, { max_steps: 2 });
  await r.promise;
  assert.deepEqual([...new Set(r.samples.map((x) => x.step))], [1, 2]);
  const step1 = r.samples.filter((x) => x.step === 1);
  assert.equal(step1.length, 8, 'per_device_train_batch_size 8 = 2 prompts x 4 completions');
  for (const g of [0, 1]) {
    const group = step1.filter((x) => x.scored!.group === g);
    assert.equal(group.length, 4);
    assert.equal(new Set(group.map((x) => x.prompt)).size, 1, 'a group shares its prompt');
    const sum = group.reduce((a, x) => a + x.scored!.advantage, 0);
    assert.ok(Math.abs(sum) < 1e-6, `a group's advantages are centred (sum ${sum})`);
    for (const x of group) {
      assert.deepEqual(Object.keys(x.scored!.rewards).sort(), ['format', 'length']);
      const { length, format } = x.scored!.rewards;
      assert.ok(Math.abs(x.scored!.reward! - (length! + 0.5 * format!)) < 1e-9, 'the total is the weighted sum');
      assert.ok(x.scored!.length >= 1 && x.scored!.length <= 16);
      assert.equal(x.scored!.truncated, x.scored!.length === 16 && !x.completion.endsWith('\u0000'));
    }
  }
});

test('steps_per_generation and num_iterations: one generation serves 2 micro-batches twice; its reward metrics log once', async () => {
  const r = run(REWARDS, { per_device_train_batch_size: 4, num_generations: 2, max_steps: 8, steps_per_generation: 2, num_iterations: 2 } as Partial<TrainingArguments>);
  const res = await r.promise;
  assert.equal(res.finalStep, 8);
  assert.deepEqual([...new Set(r.samples.map((x) => x.step))], [1, 5], 'a generation every 4 steps');
  assert.equal(r.samples.filter((x) => x.step === 1).length, 8, 'a generation batch: 2 slices of 4 completions');
  assert.deepEqual(r.metrics.filter((m) => 'reward' in m).map((m) => m.step), [1, 5]);
  assert.ok(r.metrics.filter((m) => 'loss' in m).every((m) => Number.isFinite(m.loss) && 'clip_ratio/region_mean' in m));
  await assert.rejects(run(REWARDS, { num_iterations: 0 } as Partial<TrainingArguments>).promise, /num_iterations is 0/);
  await assert.rejects(run(REWARDS, { per_device_train_batch_size: 3, num_generations: 2, steps_per_generation: 1 } as Partial<TrainingArguments>).promise, /must be a multiple of num_generations \(2\)/);
});

test('a reward that breaks after the first step: its scores count as null, the run goes on, the log and the samples say why', async () => {
  const r = run([{ name: 'length', options: { target: 8, unit: 'chars' } }, { name: 'flaky', file: join(rewardsDir, 'failsAfterFirst.js') }], { max_steps: 3 });
  const res = await r.promise;
  assert.equal(res.finalStep, 3);
  assert.ok(r.logs.some((l) => /^step 2: flaky: .*cannot score step 1.*count as none/.test(l)), r.logs.join('\n'));
  const later = r.samples.filter((x) => x.step === 2);
  assert.ok(later.length > 0 && later.every((x) => x.scored!.rewards.flaky === null && /cannot score step 1/.test(x.scored!.error ?? '')));
  assert.ok(r.samples.filter((x) => x.step === 1).every((x) => typeof x.scored!.rewards.flaky === 'number' && x.scored!.error === undefined));
});

test('a stop while a step is being sampled and scored: that step is not trained, the last one is checkpointed, resume continues the curve', async () => {
  const straight = run(REWARDS, {});
  await straight.promise;
  const ctl = new AbortController();
  const first = run(REWARDS, {}, ctl.signal, undefined, undefined, undefined, (x) => x.step === 3 && ctl.abort());
  const stopped = await first.promise;
  assert.equal(stopped.stopped, true);
  assert.equal(stopped.finalStep, 2);
  const second = run(REWARDS, {}, undefined, undefined, first.job.runDir, join(first.job.runDir, 'checkpoints', 'step-2'));
  await second.promise;
  const resumed = [...first.metrics, ...second.metrics].filter((m) => 'loss' in m);
  const uninterrupted = straight.metrics.filter((m) => 'loss' in m);
  assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
  uninterrupted.forEach((m, i) => assert.ok(Math.abs(m.loss! - resumed[i]!.loss!) <= 1e-5 * Math.max(1, Math.abs(m.loss!)), `step ${m.step}`));
});

test('a trained reward model as a reward: a reward run\'s output scores the completions under its name', async () => {
  const rmDir = mkdtempSync(join(tmpdir(), 'anneal-grpo-rm-'));
  await train(
    { stage: 'reward', runDir: rmDir, model: 'tiny', data: { train: join(root, 'examples/preference.jsonl') }, lora: null, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm', args: { ...defaultTrainingArguments('reward'), save_steps: 0, max_steps: 2, per_device_train_batch_size: 2, max_length: 128 } },
    { status: () => {}, metrics: () => {}, sample: () => {}, log: () => {}, checkpoint: () => {} },
    new AbortController().signal,
  );
  const r = run([{ name: 'rm', model: join(rmDir, 'output') }], { max_steps: 2 });
  await r.promise;
  const m = r.metrics.find((x) => 'rewards/rm/mean' in x)!;
  assert.ok(Number.isFinite(m['rewards/rm/mean']) && m['rewards/rm/std']! > 0, JSON.stringify(m));
  assert.ok(r.samples.every((x) => typeof x.scored!.rewards.rm === 'number'));
  await assert.rejects(run([{ name: 'plain', model: 'tiny' }], { max_steps: 1 }).promise, /has no score head, so it cannot be a reward/);
});

test('bad rewards are refused before or at the first step in one sentence: a column no record has, strings returned', async () => {
  await assert.rejects(run([{ name: 'answer_match', column: 'solution' }], { max_steps: 1 }).promise, /Reward answer_match compares completions with the column `solution`, which no record of .*prompts\.jsonl has \(its columns: answer\)/);
  await assert.rejects(run([{ name: 'numbers', file: join(rewardsDir, 'stringsAlways.js') }], { max_steps: 1 }).promise, /stringsAlways\.js returned a string \("0\.5"\) at index 0; return a number/);
});
