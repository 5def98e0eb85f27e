// The DPO stage through the training loop on the tiny model: the policy learns to prefer the chosen
// answers (rewards/accuracies and margins rise) with TRL's metric names, nothing leaks, a stopped run
// resumes onto the identical curve (the reference of a full fine-tune comes from the starting
// weights, not the checkpoint's), and bad input is refused or dropped with a reason.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { useBackend } from './helpers.ts';

const root = join(import.meta.dirname, '../../..');
const pairs = join(root, 'examples/preference.jsonl');

before(() => useBackend());

function recorder(onMetrics?: (m: { step: number }) => void) {
  const metrics: { step: number; [k: string]: number }[] = [];
  const logs: string[] = [];
  const tensorsAtLog: number[] = [];
  const events: TrainEvents = {
    status: () => {},
    metrics: (m) => {
      metrics.push(m);
      if ('loss' in m) tensorsAtLog.push(tf.memory().numTensors);
      onMetrics?.(m);
    },
    sample: () => {},
    log: (l) => logs.push(l),
    checkpoint: () => {},
  };
  return { events, metrics, logs, tensorsAtLog };
}

function job(over: Omit<Partial<TrainJob>, 'args'> & { args?: Partial<TrainingArguments> }): TrainJob {
  return {
    stage: 'dpo',
    runDir: mkdtempSync(join(tmpdir(), 'anneal-dpo-')),
    model: 'tiny',
    data: { train: pairs },
    lora: null,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    ...over,
    args: { ...defaultTrainingArguments('dpo'), save_steps: 0, logging_steps: 1, max_length: 128, per_device_train_batch_size: 4, learning_rate: 1e-3, ...over.args },
  };
}

test('DPO on tiny: the chosen answers win more often, margins grow, TRL metric names, no leaks', async () => {
  const baseline = tf.memory().numTensors;
  const rec = recorder();
  const res = await train(job({ data: { train: pairs, eval: pairs }, args: { max_steps: 18, logging_steps: 6, eval_steps: 18 } }), rec.events, new AbortController().signal);
  assert.equal(res.finalStep, 18);
  const train1 = rec.metrics.find((m) => m.step === 1 && 'loss' in m)!;
  const evals = rec.metrics.filter((m) => 'eval/loss' in m);
  const last = evals.at(-1)!;
  console.log(`tiny DPO: loss ${train1.loss!.toFixed(4)} -> eval ${last['eval/loss']!.toFixed(4)}, eval rewards/accuracies ${last['eval/rewards/accuracies']}, margins ${last['eval/rewards/margins']!.toFixed(3)}`);
  // At step 1 the policy is the reference: every log-ratio is 0, so the sigmoid loss is ln 2.
  assert.ok(Math.abs(train1.loss! - Math.LN2) < 1e-5, `first loss ${train1.loss} should be ln 2`);
  // Zero up to rounding: on native TensorFlow the policy's layers (LoRA with B = 0) and the reference's
  // (no adapter) run as two differently optimized graphs (layerGraph.ts).
  assert.ok(Math.abs(train1['rewards/margins']!) < 1e-5, `first margin ${train1['rewards/margins']} should be 0`);
  assert.ok(last['eval/rewards/accuracies']! >= 0.75, `eval rewards/accuracies ${last['eval/rewards/accuracies']}`);
  assert.ok(last['eval/rewards/margins']! > 0.05, `eval rewards/margins ${last['eval/rewards/margins']}`);
  assert.ok(last['eval/loss']! < Math.LN2 - 0.05, `eval loss ${last['eval/loss']}`);
  for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/accuracies', 'rewards/margins', 'logps/chosen', 'logps/rejected', 'logits/chosen', 'logits/rejected', 'entropy', 'mean_token_accuracy', 'num_tokens', 'grad_norm', 'learning_rate']) {
    assert.ok(k in rec.metrics.at(-2)!, `metric ${k} missing`);
  }
  assert.ok(rec.logs.some((l) => /reference log-probs of \d+ pair/.test(l)), 'full fine-tuning precomputes the reference');
  assert.equal(new Set(rec.tensorsAtLog).size, 1, `tensor count changed across steps: ${rec.tensorsAtLog}`);
  assert.equal(tf.memory().numTensors, baseline, 'everything disposed after the run');
});

for (const lora of [null, { r: 4, alpha: 8, dropout: 0.1, target_modules: 'all-linear' as const }]) {
  test(`stop + resume of a DPO run continues the identical curve (${lora ? 'LoRA: reference = adapter off' : 'full: reference from the starting weights'}, accumulation)`, async () => {
    const common = { lora, args: { max_steps: 6, gradient_accumulation_steps: 2, per_device_train_batch_size: 2, learning_rate: lora ? 5e-3 : 1e-3 } };
    const straight = recorder();
    await train(job(common), straight.events, new AbortController().signal);
    const ctl = new AbortController();
    const first = recorder((m) => {
      if (m.step === 3) ctl.abort();
    });
    const j1 = job(common);
    const r1 = await train(j1, first.events, ctl.signal);
    assert.equal(r1.stopped, true);
    const second = recorder();
    await train({ ...job(common), runDir: j1.runDir, resumeFrom: join(j1.runDir, 'checkpoints', 'step-3') }, second.events, new AbortController().signal);
    const resumed = [...first.metrics, ...second.metrics].filter((m) => 'loss' in m);
    const uninterrupted = straight.metrics.filter((m) => 'loss' in m);
    assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
    uninterrupted.forEach((m, i) => {
      for (const k of ['loss', 'rewards/margins']) assert.ok(Math.abs(m[k]! - resumed[i]![k]!) <= 1e-5 * Math.max(1, Math.abs(m[k]!)), `step ${m.step} ${k}: ${m[k]} vs resumed ${resumed[i]![k]}`);
    });
    assert.ok(uninterrupted.at(-1)!['rewards/margins']! !== 0, 'the policy moved away from the reference');
  });
}

test('bad input: prompts that fill max_length are dropped with a count; SFT data and wrong loss settings are refused before any step', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-dpo-bad-'));
  const mixed = join(dir, 'mixed.jsonl');
  const lines = readFileSync(pairs, 'utf8').trim().split('\n').slice(0, 6);
  lines.push(JSON.stringify({ prompt: 'x'.repeat(400), chosen: 'yes', rejected: 'no' }));
  writeFileSync(mixed, lines.join('\n') + '\n');
  const rec = recorder();
  await train(job({ data: { train: mixed }, args: { max_steps: 1 } }), rec.events, new AbortController().signal);
  assert.ok(rec.logs.some((l) => l.startsWith('1 pair(s) dropped: the prompt alone is 128 tokens or more')), rec.logs.join('\n'));

  const sft = join(root, 'examples/sft.jsonl');
  await assert.rejects(train(job({ data: { train: sft }, args: { max_steps: 1 } }), recorder().events, new AbortController().signal), /preference|chosen/);
  await assert.rejects(train(job({ args: { max_steps: 1, loss_type: 'nll' } }), recorder().events, new AbortController().signal), /loss_type `nll` is not a DPO loss/);
  await assert.rejects(train(job({ args: { max_steps: 1, loss_type: ['sigmoid', 'sft'], loss_weights: [1] } }), recorder().events, new AbortController().signal), /loss_weights has 1 value/);
});

test('DPO after SFT: `model` names the SFT run\'s adapter; its base is loaded, the adapter continues, and the reference is the adapter as it started (first loss ln 2)', async () => {
  const sftArgs = { ...defaultTrainingArguments('sft'), save_steps: 0, logging_steps: 1, max_steps: 4, learning_rate: 5e-3, per_device_train_batch_size: 4, max_length: 64 };
  const sft = await train({ stage: 'sft', runDir: mkdtempSync(join(tmpdir(), 'anneal-sft-')), model: 'tiny', data: { train: join(root, 'examples/sft.jsonl') }, lora: { r: 4, alpha: 8, dropout: 0, target_modules: 'all-linear' }, backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm', args: sftArgs }, recorder().events, new AbortController().signal);
  const rec = recorder();
  const res = await train(job({ model: sft.outputDir, args: { max_steps: 3, learning_rate: 5e-3 } }), rec.events, new AbortController().signal);
  assert.ok(rec.logs.some((l) => l.includes('is a LoRA adapter (r=4); training continues it on its base model tiny')), rec.logs.join('\n'));
  const first = rec.metrics.find((m) => m.step === 1 && 'loss' in m)!;
  assert.ok(Math.abs(first.loss! - Math.LN2) < 1e-5, `first loss ${first.loss}: the reference is the starting adapter`);
  assert.ok(rec.metrics.at(-1)!['rewards/margins'] !== 0, 'the adapter moved');
  const saved = JSON.parse(readFileSync(join(res.outputDir, 'adapter_config.json'), 'utf8'));
  assert.equal(saved.base_model_name_or_path, 'anneal/tiny', 'the new adapter names the base, not the SFT adapter');
  assert.equal(saved.r, 4);
});
