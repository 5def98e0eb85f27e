// Pipelines whose stages train on TRL + Accelerate (issue #10), through a real daemon and `anneal train
// --config`, on a tiny random Llama in the cached venv's Python (two CPU processes over gloo for the
// TRL-only pipeline, one elsewhere, to keep them short): each stage is an ordinary run that starts
// from the previous stage's output. Checked: a TRL SFT adapter continues in TRL's DPO (one adapter,
// trainable) with the SFT model as DPO's reference (rewards/margins 0 at the first step), both
// stages' gates (gates.json) decide the handover, and the result is DPO's adapter; stages may change engine (both read and write the same
// PEFT adapters), `merge: true` hands a TRL stage a merged model folder, and a TRL stage's failed exit
// gate halts the pipeline with the last good output as its result.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { MetricRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';
import { CLI, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from '../daemon/helpers.ts';
import { makeTinyLlama, trlPython } from './python.ts';

const env = trlPython();
const skip = 'skip' in env ? env.skip : undefined;
const python = 'python' in env ? env.python : '';
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));
const root = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-trl-pipeline-');
const stateDir = join(root, 'state');
const model = join(root, 'tiny-llama');
let daemon: TestDaemon;

before(async () => {
  if (skip) return;
  makeTinyLlama(python, model);
  const sft = Array.from({ length: 16 }, (_, i) => ({ messages: [{ role: 'user', content: `What is ${i} plus ${i}?` }, { role: 'assistant', content: `The answer is ${2 * i}.` }] }));
  const pairs = Array.from({ length: 16 }, (_, i) => ({ prompt: `What is ${i} plus ${i}?`, chosen: `The answer is ${2 * i}.`, rejected: `I do not know ${i}.` }));
  const lines = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(root, 'sft.jsonl'), lines(sft));
  writeFileSync(join(root, 'pairs.jsonl'), lines(pairs));
  daemon = await startTestDaemon(stateDir, [], { ...process.env, ANNEAL_PYTHON: python });
});
after(async () => {
  if (daemon) await stopTestDaemon(daemon);
});

/** Shared keys: TRL on CPU processes, LoRA, and a learning rate that moves the tiny model within a few steps. */
const shared = (processes: number) => `model: tiny-llama\nengine: trl\naccelerate: {num_processes: ${processes}, cpu: true}\nlora: {r: 4, alpha: 8}\nlogging_steps: 1\nmax_length: 64\nper_device_train_batch_size: 2\nseed: 1\n`;
let recipes = 0;

function train(stages: string, processes = 1): { status: number | null; lines: Record<string, unknown>[]; stdout: string; stderr: string } {
  const path = join(root, `p${++recipes}.anneal.yaml`);
  writeFileSync(path, `${shared(processes)}stages:\n${stages}`);
  const out = spawnSync(process.execPath, [CLI, 'train', '--config', path, '--json', '--state-dir', stateDir], { encoding: 'utf8', timeout: 300_000 });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr, lines: out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const runJson = (id: string) => JSON.parse(readFileSync(join(stateDir, 'runs', id, 'run.json'), 'utf8')) as RunInfo;
const runLog = (id: string) => readFileSync(join(stateDir, 'runs', id, 'log.txt'), 'utf8');
const pipelineJson = (id: string) => (JSON.parse(readFileSync(join(stateDir, 'pipelines', id, 'pipeline.json'), 'utf8')) as { info: PipelineInfo }).info;
const gatesJson = (id: string) => JSON.parse(readFileSync(join(stateDir, 'runs', id, 'gates.json'), 'utf8')) as { passed: boolean; results: { kind: string; line: string; verdict: string }[] };
const adapter = (dir: string) => readSafetensors(join(dir, 'adapter_model.safetensors')).tensors;
const adapterConfig = (dir: string) => JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
const maxAbs = (data: Float32Array) => data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** The pipeline's stages' runs, in order, once `anneal train` ended. */
function stageRuns(lines: Record<string, unknown>[]): { p: PipelineInfo; runs: RunInfo[] } {
  const first = lines.find((e) => e.event === 'stage');
  assert.ok(first, JSON.stringify(lines));
  const p = pipelineJson(String(first.pipelineId));
  return { p, runs: p.stages.map((s) => runJson(s.runId!)) };
}

/** DPO's reference is the model it starts from: its first logged rewards are 0 (policy log-probs = reference log-probs). */
function assertReferenceIsIncoming(first: MetricRecord, label: string): void {
  for (const key of ['rewards/margins', 'rewards/chosen', 'rewards/rejected']) {
    assert.equal(typeof first[key], 'number', `${label}: ${key} logged`);
    assert.ok(Math.abs(first[key]!) < 1e-6, `${label}: ${key} at step ${first.step} is ${first[key]}, not 0: the reference is not the incoming model`);
  }
}

test('sft -> dpo on TRL (2 CPU processes): the SFT adapter continues in DPO as its only adapter, with the SFT model as the reference; both gates pass; the result is DPO\'s adapter', { skip }, () => {
  const out = train([
    `  - {stage: sft, data: {train: sft.jsonl}, max_steps: 3, learning_rate: 1.0e-2, gates: {exit: {loss: "< 100"}}}`,
    `  - {stage: dpo, data: {train: pairs.jsonl}, max_steps: 3, learning_rate: 1.0e-2, gates: {exit: {loss: "< 10"}}}`,
  ].join('\n') + '\n', 2);
  assert.equal(out.status, 0, out.stdout + out.stderr);
  assert.deepEqual(out.lines.filter((e) => e.event === 'stage').map((e) => e.name), ['sft', 'dpo']);
  const handovers = out.lines.filter((e) => e.event === 'handover');
  assert.deepEqual(handovers.map((e) => e.name), ['sft', 'dpo']);
  assert.ok((handovers[0]!.gates as string[]).some((g) => /^exit loss [\d.]+ vs < 100: pass/.test(g)), JSON.stringify(handovers[0]));
  assert.ok((handovers[1]!.gates as string[]).some((g) => /^exit loss [\d.]+ vs < 10: pass/.test(g)), JSON.stringify(handovers[1]));
  assert.equal(out.lines.find((e) => e.event === 'pipeline')?.status, 'completed');

  const { p, runs: [sft, dpo] } = stageRuns(out.lines);
  for (const run of [sft!, dpo!]) {
    assert.equal(run.engine?.name, 'trl');
    assert.match(run.backend?.device ?? '', /^TRL 1\.16\.\d+ on 2× CPU/);
    assert.equal(run.status, 'completed');
    // The handover was decided on the TRL run's own gate report.
    const gates = gatesJson(run.id);
    assert.equal(gates.passed, true, JSON.stringify(gates.results));
    assert.equal(gates.results.find((r) => r.kind === 'exit' && r.line.startsWith('loss '))?.verdict, 'pass');
  }
  assert.deepEqual(p.stages.map((s) => s.status), ['passed', 'passed']);
  assert.equal(dpo!.model, sft!.outputDir, 'DPO starts from the SFT run\'s output');
  assert.match(runLog(dpo!.id), new RegExp(`is a LoRA adapter \\(r=4\\); training continues it on its base model ${model}; the reference is the adapter as it starts`));
  assert.deepEqual(p.result, { stage: 'dpo', output: dpo!.outputDir });

  // SFT moved the model (its adapter's B matrices are no longer PEFT's zeros), so a bare-base reference
  // would not give DPO's first step zero rewards.
  const sftTensors = adapter(sft!.outputDir!);
  const moved = Math.max(...[...sftTensors].filter(([name]) => name.includes('lora_B')).map(([, t]) => maxAbs(t.data)));
  assert.ok(moved > 1e-3, `SFT's lora_B max |w| ${moved}`);
  const metrics = readMetricsFile(stateDir, dpo!.id);
  assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3]);
  assertReferenceIsIncoming(metrics[0]!, 'TRL SFT -> TRL DPO');
  assert.ok(Math.abs(metrics[2]!['rewards/margins']!) > 1e-6, `DPO trained: margins ${metrics.map((m) => m['rewards/margins'])}`);

  // One adapter, continued: DPO's output holds the same LoRA tensors (trained on), no second adapter and no saved reference.
  const dpoTensors = adapter(dpo!.outputDir!);
  assert.deepEqual([...dpoTensors.keys()].sort(), [...sftTensors.keys()].sort());
  assert.ok([...dpoTensors].some(([name, t]) => maxAbs(t.data.map((v, i) => v - sftTensors.get(name)!.data[i]!)) > 0), 'DPO changed the adapter');
  assert.equal(existsSync(join(dpo!.outputDir!, 'ref')), false);
  const config = adapterConfig(dpo!.outputDir!);
  assert.equal(config.base_model_name_or_path, model);
  assert.equal(config.r, 4);
  console.log(`TRL sft -> dpo: DPO rewards/margins by step ${metrics.map((m) => m['rewards/margins']!.toExponential(2)).join(', ')}; SFT lora_B max |w| ${moved.toFixed(4)}`);
});

test('stages change engine and merge: Anneal SFT -> TRL DPO (continues Anneal\'s adapter) -> Anneal SFT (continues TRL\'s) -> TRL DPO on the merged model, held by its exit gate', { skip }, () => {
  const out = train([
    `  - {stage: sft, engine: anneal, data: {train: sft.jsonl}, max_steps: 3, learning_rate: 1.0e-2}`,
    `  - {stage: dpo, data: {train: pairs.jsonl}, max_steps: 2, learning_rate: 1.0e-2}`,
    `  - {stage: sft, name: polish, engine: anneal, data: {train: sft.jsonl}, max_steps: 2, learning_rate: 1.0e-2}`,
    `  - {stage: dpo, name: final, merge: true, data: {train: pairs.jsonl}, max_steps: 2, learning_rate: 1.0e-2, gates: {exit: {loss: "< 0.0001"}}}`,
  ].join('\n') + '\n');
  assert.equal(out.status, 1, out.stdout + out.stderr);
  const { p, runs: [sft, dpo, polish, final] } = stageRuns(out.lines);
  assert.deepEqual(p.stages.map((s) => s.status), ['passed', 'passed', 'passed', 'held']);
  assert.deepEqual([sft, dpo, polish, final].map((r) => r!.engine?.name ?? 'anneal'), ['anneal', 'trl', 'anneal', 'trl']);

  // TRL continues the adapter Anneal's engine wrote, with it as DPO's reference.
  assert.equal(dpo!.model, sft!.outputDir);
  assert.match(runLog(dpo!.id), /is a LoRA adapter \(r=4\); training continues it on its base model/);
  assertReferenceIsIncoming(readMetricsFile(stateDir, dpo!.id)[0]!, 'Anneal SFT -> TRL DPO');
  // Anneal's engine continues the adapter TRL wrote (all-linear written as module names it reads).
  assert.equal(polish!.model, dpo!.outputDir);
  assert.match(runLog(polish!.id), /is a LoRA adapter \(r=4\); training continues it on its base model/);
  assert.deepEqual([...(adapterConfig(dpo!.outputDir!).target_modules as string[])].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  // merge: true: the polished adapter is merged into its base (`anneal export --format merged`) and the last TRL stage trains a fresh adapter on that folder.
  assert.ok(existsSync(join(final!.model, 'config.json')) && existsSync(join(final!.model, 'model.safetensors')), final!.model);
  assert.equal(adapterConfig(final!.outputDir!).base_model_name_or_path, final!.model);
  // Its reference is the merged model too (a fresh adapter's B is zero: policy = reference at the start).
  assertReferenceIsIncoming(readMetricsFile(stateDir, final!.id)[0]!, 'merged -> TRL DPO');
  // The TRL run completed, but its gate report (gates.json) failed: the pipeline halts on it as on Anneal's engine.
  assert.equal(final!.status, 'completed');
  assert.equal(gatesJson(final!.id).passed, false);
  assert.equal(p.status, 'halted');
  assert.match(p.stages[3]!.verdict!.join(' '), /exit loss \S+ vs < 0\.0001: fail/);
  assert.deepEqual(p.result, { stage: 'polish', output: polish!.outputDir });
});

test('a TRL stage from an output built on Anneal\'s tiny model is refused in one sentence before any stage trains', { skip }, () => {
  const before = existsSync(join(stateDir, 'runs')) ? readdirSync(join(stateDir, 'runs')).length : 0;
  const out = train([
    `  - {stage: sft, model: tiny, engine: anneal, data: {train: sft.jsonl}, max_steps: 2}`,
    `  - {stage: dpo, data: {train: pairs.jsonl}, max_steps: 2}`,
  ].join('\n') + '\n');
  assert.equal(out.status, 1, out.stdout + out.stderr);
  const error = out.lines.find((e) => e.event === 'error');
  assert.match(String(error?.message), /cannot start: Stage dpo trains on TRL from stage sft's output, which builds on Anneal's built-in `tiny` model that TRL cannot load; give the pipeline a Hugging Face `model`/);
  assert.equal(existsSync(join(stateDir, 'runs')) ? readdirSync(join(stateDir, 'runs')).length : 0, before, 'no run was created');
});
