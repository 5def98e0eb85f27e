// KTO, ORPO, CPO, SimPO and reward modelling through the training loop on the tiny model and examples/preference.jsonl
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
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
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

test('reward model on tiny: eval accuracy and margin rise, TRL metric names, saved as a PEFT SEQ_CLS adapter with the score head; a stopped run resumes onto the identical curve', async () => {
  const lora = { r: 8, alpha: 16, dropout: 0, target_modules: 'all-linear' as const };
  const args = { learning_rate: 3e-3, per_device_train_batch_size: 4, max_steps: 24, eval_steps: 12, logging_steps: 4 };
  const metrics: { step: number; [k: string]: number }[] = [];
  const job = (runDir = mkdtempSync(join(tmpdir(), 'anneal-reward-'))): TrainJob => ({
    stage: 'reward', runDir, model: 'tiny', data: { train: pairs, eval: pairs }, lora, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    args: { ...defaultTrainingArguments('reward'), save_steps: 0, max_length: 128, ...args },
  });
  const events = (into: typeof metrics, onMetrics?: (m: { step: number }) => void): TrainEvents => ({ status: () => {}, metrics: (m) => (into.push(m), onMetrics?.(m)), sample: () => {}, log: () => {}, checkpoint: () => {} });
  const res = await train(job(), events(metrics), new AbortController().signal);
  const evals = metrics.filter((m) => 'eval/loss' in m);
  console.log(`reward: eval accuracy ${evals[0]!['eval/accuracy']} -> ${evals.at(-1)!['eval/accuracy']}, margin ${evals[0]!['eval/margin']!.toFixed(3)} -> ${evals.at(-1)!['eval/margin']!.toFixed(3)}`);
  assert.ok(evals.at(-1)!['eval/accuracy']! >= 0.75, `eval accuracy ${evals.at(-1)!['eval/accuracy']}`);
  assert.ok(evals.at(-1)!['eval/margin']! > evals[0]!['eval/margin']!, 'the margin grows');
  for (const k of ['accuracy', 'margin', 'min_reward', 'mean_reward', 'max_reward', 'num_tokens']) assert.ok(k in metrics.find((m) => m.step === 4)!, `metric ${k} missing`);
  const config = JSON.parse(readFileSync(join(res.outputDir, 'adapter_config.json'), 'utf8'));
  assert.equal(config.task_type, 'SEQ_CLS');
  assert.deepEqual(config.modules_to_save, ['score']);
  assert.ok(readSafetensors(join(res.outputDir, 'adapter_model.safetensors')).tensors.has('base_model.model.score.weight'));

  // Stop at step 4 and resume: the head comes back from the checkpoint with the adapter and the moments.
  const short = { ...args, max_steps: 10 };
  const straight: typeof metrics = [];
  await train({ ...job(), args: { ...job().args, ...short } }, events(straight), new AbortController().signal);
  const ctl = new AbortController();
  const first: typeof metrics = [];
  const j1 = { ...job(), args: { ...job().args, ...short } };
  await train(j1, events(first, (m) => m.step === 4 && ctl.abort()), ctl.signal);
  const second: typeof metrics = [];
  await train({ ...j1, resumeFrom: join(j1.runDir, 'checkpoints', 'step-4') }, events(second), new AbortController().signal);
  const resumed = [...first, ...second].filter((m) => 'loss' in m);
  const uninterrupted = straight.filter((m) => 'loss' in m);
  assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
  uninterrupted.forEach((m, i) => assert.ok(Math.abs(m.loss! - resumed[i]!.loss!) <= 1e-5 * Math.max(1, Math.abs(m.loss!)), `step ${m.step}: ${m.loss} vs resumed ${resumed[i]!.loss}`));
});
