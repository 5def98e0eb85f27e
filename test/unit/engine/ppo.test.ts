// PPO through the training loop on the tiny model: a reward run's output is the reward model; each
// rollout samples one completion per prompt, scores it with that model, and trains num_ppo_epochs
// optimizer steps on the clipped policy + value loss; TRL's metric names are logged once per rollout,
// the value head starts from the reward model's score head and is saved with the checkpoint, nothing
// leaks, a stopped run resumes onto the identical curve, and what PPO cannot do is refused up front.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { LoraConfig, TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const backend = process.env.ANNEAL_TEST_BACKEND ?? 'wasm';
const LORA: LoraConfig = { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' };
let rewardModel = '';

/** TRL's PPO metrics (but eps and lr: the loop logs learning_rate). */
const TRL_NAMES = ['objective/kl', 'objective/entropy', 'objective/non_score_reward', 'objective/rlhf_reward', 'objective/scores', 'policy/approxkl_avg', 'policy/clipfrac_avg', 'loss/policy_avg', 'loss/value_avg', 'val/clipfrac_avg', 'policy/entropy_avg', 'val/ratio', 'val/ratio_var', 'val/num_eos_tokens', 'episode'];

// The reward model is a LoRA reward run's output (a SEQ_CLS adapter with its score head) on the same tiny base.
before(async () => {
  await useBackend();
  const dir = mkdtempSync(join(tmpdir(), 'anneal-ppo-rm-'));
  await train(
    { stage: 'reward', runDir: dir, model: 'tiny', data: { train: join(root, 'examples/preference.jsonl') }, lora: LORA, backend, args: { ...defaultTrainingArguments('reward'), save_steps: 0, max_steps: 2, per_device_train_batch_size: 2, max_length: 128 } },
    { status: () => {}, metrics: () => {}, sample: () => {}, log: () => {}, checkpoint: () => {} },
    new AbortController().signal,
  );
  rewardModel = join(dir, 'output');
});

function run(args: Partial<TrainingArguments>, o: { lora?: LoraConfig | null; signal?: AbortSignal; onMetrics?: (m: { step: number }) => void; runDir?: string; resumeFrom?: string } = {}) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const checkpoints: string[] = [];
  const events: TrainEvents = { status: () => {}, metrics: (m) => (metrics.push(m), o.onMetrics?.(m)), sample: () => {}, log: (l) => logs.push(l), checkpoint: (c) => checkpoints.push(c.path) };
  const job: TrainJob = {
    stage: 'ppo',
    runDir: o.runDir ?? mkdtempSync(join(tmpdir(), 'anneal-ppo-')),
    model: 'tiny',
    data: { train: join(root, 'examples/prompts.jsonl') },
    lora: o.lora === undefined ? LORA : o.lora,
    backend,
    ...(o.resumeFrom ? { resumeFrom: o.resumeFrom } : {}),
    args: { ...defaultTrainingArguments('ppo'), save_steps: 0, logging_steps: 1, per_device_train_batch_size: 2, gradient_accumulation_steps: 2, num_ppo_epochs: 2, response_length: 12, learning_rate: 5e-3, max_steps: 4, reward_model_path: rewardModel, ...args },
  };
  return { promise: train(job, events, o.signal ?? new AbortController().signal), metrics, logs, checkpoints, job };
}

test('PPO on tiny with LoRA: a reward run scores the rollouts, TRL metric names once per rollout, value head from the score head and saved, no leaks', async () => {
  const baseline = tf.memory().numTensors;
  const r = run({ save_steps: 2 });
  const res = await r.promise;
  assert.equal(res.finalStep, 4);
  const logged = r.metrics.filter((m) => 'loss' in m);
  assert.deepEqual(logged.map((m) => m.step), [1, 2, 3, 4]);
  assert.ok(logged.every((m) => Number.isFinite(m.loss) && Number.isFinite(m.grad_norm)), JSON.stringify(logged));
  // num_ppo_epochs 2: a rollout every 2 optimizer steps, its metrics logged after its last epoch.
  for (const m of logged) {
    const rolloutEnd = m.step % 2 === 0;
    for (const k of TRL_NAMES) assert.equal(k in m, rolloutEnd, `step ${m.step}: ${k} ${rolloutEnd ? 'missing' : 'logged mid-rollout'} (got ${Object.keys(m).join(', ')})`);
  }
  const m2 = logged[1]!;
  assert.ok(Math.abs(m2['objective/kl']!) < 1e-5, `the first rollout is sampled by the policy = its reference: kl ${m2['objective/kl']}`);
  assert.ok(m2['val/ratio']! > 0.5 && m2['val/ratio']! < 2, `ratio ${m2['val/ratio']}`);
  assert.ok(m2['policy/entropy_avg']! > 0 && m2['objective/entropy']! > 0);
  assert.equal(m2.episode, 4);
  assert.equal(logged[3]!.episode, 8);
  assert.ok(logged[3]!['objective/kl']! !== 0, 'the adapter moved the policy away from the base by the second rollout');
  assert.ok(r.logs.some((l) => l.startsWith('value head: initialised from the reward model')), r.logs.join('\n'));
  assert.ok(r.logs.some((l) => l.includes('4 prompt(s) per rollout')), r.logs.join('\n'));
  assert.ok(existsSync(join(r.job.runDir, 'checkpoints/step-2/value_head.safetensors')), 'the value head is checkpointed beside the adapter');
  assert.ok(existsSync(join(res.outputDir, 'adapter_model.safetensors')));
  assert.equal(tf.memory().numTensors, baseline, 'everything disposed after the run');
});

test('stop + resume of a PPO run at a rollout boundary continues the identical curve (value head and optimizer restored)', async () => {
  const straight = run({});
  await straight.promise;
  const ctl = new AbortController();
  const first = run({}, { signal: ctl.signal, onMetrics: (m) => m.step === 2 && ctl.abort() });
  await first.promise;
  const second = run({}, { runDir: first.job.runDir, resumeFrom: join(first.job.runDir, 'checkpoints', 'step-2') });
  await second.promise;
  const resumed = [...first.metrics, ...second.metrics].filter((m) => 'loss' in m);
  const uninterrupted = straight.metrics.filter((m) => 'loss' in m);
  assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
  uninterrupted.forEach((m, i) => {
    for (const k of ['loss', 'grad_norm', 'objective/scores', 'loss/value_avg', 'objective/kl']) {
      if (!(k in m)) continue;
      assert.ok(Math.abs(m[k]! - resumed[i]![k]!) <= 1e-5 * Math.max(1, Math.abs(m[k]!)), `step ${m.step} ${k}: ${m[k]} vs resumed ${resumed[i]![k]}`);
    }
  });
});

test('PPO refuses up front what it cannot do, in one sentence', async () => {
  await assert.rejects(run({ reward_model_path: undefined, max_steps: 1 }).promise, /PPO needs a trained reward model.*reward_model_path/);
  await assert.rejects(run({ max_steps: 1 }, { lora: null }).promise, /kl_coef > 0 .*full fine-tuning would need a second copy of the model/);
  await assert.rejects(run({ kl_estimator: 'k2' as 'k1', max_steps: 1 }).promise, /kl_estimator `k2` is not known/);
  await assert.rejects(run({ num_mini_batches: 3, max_steps: 1 }).promise, /num_mini_batches \(3\) must divide gradient_accumulation_steps \(2\)/);
  await assert.rejects(run({ whiten_rewards: true, max_steps: 1 }).promise, /whiten_rewards needs mini-batches of at least 8/);
  await assert.rejects(run({ reward_model_path: 'tiny', max_steps: 1 }).promise, /has no score head, so it cannot be PPO's reward model/);
});

test('full fine-tuning with kl_coef 0 trains (no reference needed), the value head saved beside the model', async () => {
  const r = run({ kl_coef: 0, max_steps: 2, learning_rate: 1e-4 }, { lora: null });
  const res = await r.promise;
  assert.equal(res.finalStep, 2);
  const m = r.metrics.find((x) => 'objective/scores' in x)!;
  assert.equal(m['objective/kl'], 0);
  assert.ok(existsSync(join(res.outputDir, 'model.safetensors')) && existsSync(join(res.outputDir, 'value_head.safetensors')));
});
