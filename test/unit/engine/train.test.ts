// The SFT loop on the real tiny model: it learns examples/sft.jsonl, leaks no tensors, stops on the
// signal with a checkpoint, resumes onto the identical loss curve, and saves HF/PEFT outputs.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { TrainingArguments } from '../../../core/recipe/types.ts';
import type { TrainEvents, TrainJob } from '../../../daemon/engine/api.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import { useBackend } from './helpers.ts';

/** TRL's defaults, as the engine fills them for a job. */
const DEFAULT_ARGS = defaultTrainingArguments('sft');

const root = join(import.meta.dirname, '../../..');
const example = join(root, 'examples/sft.jsonl');

interface Recorded {
  metrics: { step: number; [k: string]: number }[];
  samples: { step: number; prompt: string; completion: string }[];
  checkpoints: { step: number; path: string }[];
  phases: string[];
  tensorsAtLog: number[];
}

function recorder(onMetrics?: (m: { step: number }) => void): { events: TrainEvents; rec: Recorded } {
  const rec: Recorded = { metrics: [], samples: [], checkpoints: [], phases: [], tensorsAtLog: [] };
  const events: TrainEvents = {
    status: (s) => rec.phases.push(s.phase),
    metrics: (m) => {
      rec.metrics.push(m);
      if ('loss' in m) rec.tensorsAtLog.push(tf.memory().numTensors);
      onMetrics?.(m);
    },
    sample: (s) => rec.samples.push(s),
    log: () => {},
    checkpoint: (c) => rec.checkpoints.push(c),
  };
  return { events, rec };
}

function job(over: Omit<Partial<TrainJob>, 'args'> & { args?: Partial<TrainingArguments> }): TrainJob {
  return {
    stage: 'sft',
    runDir: mkdtempSync(join(tmpdir(), 'anneal-run-')),
    model: 'tiny',
    data: { train: example },
    lora: null,
    backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
    ...over,
    args: { ...DEFAULT_ARGS, save_steps: 0, logging_steps: 1, max_length: 64, ...over.args },
  };
}

before(async () => {
  await useBackend();
});

test('full fine-tuning of tiny on examples/sft.jsonl: loss falls clearly, no tensor leaks, HF output', async () => {
  const baseline = tf.memory().numTensors;
  const { events, rec } = recorder();
  const j = job({
    args: { learning_rate: 5e-3, per_device_train_batch_size: 16, max_steps: 40, warmup_steps: 4, lr_scheduler_type: 'cosine', logging_steps: 5, weight_decay: 0.01 },
    samples: { prompts: ['Shout mibelo'], every_steps: 40, max_new_tokens: 16, temperature: 0, top_p: 1 },
  });
  const res = await train(j, events, new AbortController().signal);
  const losses = rec.metrics.filter((m) => 'loss' in m).map((m) => m.loss!);
  const first = losses[0]!;
  const last = losses[losses.length - 1]!;
  console.log(`tiny SFT loss ${first.toFixed(3)} -> ${last.toFixed(3)} in 40 steps; accuracy ${rec.metrics.at(-1)!.mean_token_accuracy!.toFixed(3)}; ${rec.metrics.at(-1)!['train/tokens_per_second']!.toFixed(0)} tokens/s; sample "${rec.samples[0]?.completion}"`);
  assert.ok(first > 5, `starts near ln(vocab) = 5.56, got ${first}`);
  assert.ok(last < first * 0.5, `loss should at least halve: ${first} -> ${last}`);
  for (const k of ['learning_rate', 'grad_norm', 'epoch', 'num_tokens', 'mean_token_accuracy', 'train/tokens_per_second']) assert.ok(k in rec.metrics.at(-1)!, `metric ${k} missing`);
  assert.equal(new Set(rec.tensorsAtLog).size, 1, `tensor count changed across steps: ${rec.tensorsAtLog}`);
  assert.equal(tf.memory().numTensors, baseline, 'everything disposed after the run');
  assert.deepEqual(rec.phases, ['loading', 'training', 'saving', 'done']);
  assert.equal(res.stopped, false);
  assert.equal(res.finalStep, 40);
  assert.deepEqual(rec.samples.map((s) => s.step), [0, 40], 'the base model is sampled before training, then at every_steps');
  const out = readdirSync(res.outputDir).sort();
  assert.deepEqual(out, ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const weights = readSafetensors(join(res.outputDir, 'model.safetensors')).tensors;
  assert.ok(weights.has('model.layers.0.self_attn.q_proj.weight') && weights.has('model.embed_tokens.weight'));
  assert.equal(JSON.parse(readFileSync(join(res.outputDir, 'config.json'), 'utf8')).num_key_value_heads, 2);
});

test('stop + resume continues the identical loss curve (LoRA with dropout, accumulation)', async () => {
  const small = join(mkdtempSync(join(tmpdir(), 'anneal-data-')), 'small.jsonl');
  writeFileSync(small, readFileSync(example, 'utf8').split('\n').slice(0, 40).join('\n') + '\n');
  const common = {
    data: { train: small },
    lora: { r: 4, alpha: 8, dropout: 0.1, target_modules: 'all-linear' as const },
    args: { learning_rate: 5e-3, per_device_train_batch_size: 4, gradient_accumulation_steps: 2, max_steps: 8, warmup_steps: 2, weight_decay: 0.01, max_length: 48 },
  };
  const straight = recorder();
  await train(job(common), straight.events, new AbortController().signal);

  const ctl = new AbortController();
  const first = recorder((m) => {
    if (m.step === 3) ctl.abort();
  });
  const j1 = job(common);
  const r1 = await train(j1, first.events, ctl.signal);
  assert.equal(r1.stopped, true);
  assert.equal(r1.finalStep, 3);
  const ck = join(j1.runDir, 'checkpoints', 'step-3');
  assert.deepEqual(first.rec.checkpoints, [{ step: 3, path: ck }]);
  assert.deepEqual(readdirSync(ck).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);
  assert.ok(!existsSync(join(j1.runDir, 'output')), 'a stopped run writes no output');

  const second = recorder();
  const r2 = await train({ ...job(common), runDir: j1.runDir, resumeFrom: ck }, second.events, new AbortController().signal);
  assert.equal(r2.finalStep, 8);
  const resumed = [...first.rec.metrics, ...second.rec.metrics].filter((m) => 'loss' in m);
  const uninterrupted = straight.rec.metrics.filter((m) => 'loss' in m);
  assert.deepEqual(resumed.map((m) => m.step), uninterrupted.map((m) => m.step));
  for (let i = 0; i < uninterrupted.length; i++) {
    const a = uninterrupted[i]!.loss!;
    const b = resumed[i]!.loss!;
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(a), `step ${uninterrupted[i]!.step}: ${a} vs resumed ${b}`);
  }
  assert.ok(uninterrupted.at(-1)!.loss! < uninterrupted[0]!.loss!, 'the LoRA run learns too');
  const adapter = JSON.parse(readFileSync(join(r2.outputDir, 'adapter_config.json'), 'utf8'));
  assert.equal(adapter.peft_type, 'LORA');
  assert.deepEqual(adapter.target_modules.sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  const names = [...readSafetensors(join(r2.outputDir, 'adapter_model.safetensors')).tensors.keys()];
  assert.ok(names.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), names[0]);
});

test('bad data is refused with a clear error and no tensors left behind', async () => {
  const bad = join(mkdtempSync(join(tmpdir(), 'anneal-data-')), 'bad.jsonl');
  writeFileSync(bad, '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\nnot json\n');
  const before = tf.memory().numTensors;
  const { events } = recorder();
  await assert.rejects(train(job({ data: { train: bad }, args: { max_steps: 2 } }), events, new AbortController().signal), /line 2/);
  assert.equal(tf.memory().numTensors, before);
});
