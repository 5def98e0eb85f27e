// The Runs view's tree built from the daemon's records: a completed pipeline (the records the daemon
// wrote for examples/pipeline.anneal.yaml), a halted one, a failed export, an older daemon without
// pipeline records; and how a gate line reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import { describeGateLine, gateOutcome } from '../../../extension/client/runs/pipelineItems.ts';
import { childNodes, describeNode, renderTree, rootNodes, type RunsSource } from '../../../extension/client/runs/runsTree.ts';

const now = new Date('2026-11-30T03:40:00Z');
const P = 'pipeline-20261130-033739-25d4';

const run = (id: string, stage: 'sft' | 'dpo', status: RunInfo['status'], index: number, over: Partial<RunInfo> = {}): RunInfo => ({
  id, stage, status, createdAt: `2026-11-30T03:37:${39 + index * 7}Z`, startedAt: `2026-11-30T03:37:${39 + index * 7}Z`,
  model: index === 0 ? 'tiny' : '/s/runs/sft-a/output', data: { train: index === 0 ? '/ex/sft.jsonl' : '/ex/shout-pairs.jsonl' },
  args: defaultTrainingArguments(stage), lora: index === 0 ? null : { r: 8, alpha: 16, dropout: 0.05, target_modules: 'all-linear' } as RunInfo['lora'],
  step: status === 'completed' ? (index === 0 ? 60 : 30) : 12, totalSteps: index === 0 ? 60 : 30, resumes: [],
  pipeline: { id: P, index, count: 2, name: stage }, ...(status === 'completed' ? { outputDir: `/s/runs/${id}/output` } : {}), ...over,
});

const gguf: RecipeExportRecord = { format: 'gguf', quant: 'q8_0', out: `/s/pipelines/${P}/exports/gguf-q8_0`, status: 'done', files: ['dpo-b-q8_0.gguf', 'Modelfile'] };

/** The record the daemon wrote for examples/pipeline.anneal.yaml (paths shortened). */
const completed: PipelineInfo = {
  id: P, recipe: '/ex/pipeline.anneal.yaml', status: 'completed', createdAt: '2026-11-30T03:37:39.576Z', current: 1,
  message: "Completed: every stage passed its gates; the result is dpo's output /s/runs/dpo-b/output.",
  stages: [
    { name: 'sft', stage: 'sft', from: { kind: 'model' }, merge: false, status: 'passed', runId: 'sft-a', output: '/s/runs/sft-a/output',
      gates: ['entry data/errors 0 vs <= 0: pass (the data validates (chat template, loss mask))', 'entry (advice) data/records 400 vs >= 1000: fail (high-quality SFT data > 1k records (seed 004))', 'exit loss 1.743 vs < 2.5: pass'] },
    { name: 'dpo', stage: 'dpo', from: { kind: 'stage', name: 'sft' }, merge: false, status: 'passed', runId: 'dpo-b', output: '/s/runs/dpo-b/output',
      gates: ['entry (advice) data/pairs 60 vs >= 1000: fail (preference data > 1k pairs (seed 004))', 'exit rewards/accuracies 0.9875 vs > 0.6: pass'] },
  ],
  result: { stage: 'dpo', output: '/s/runs/dpo-b/output' },
  exports: [gguf],
};

function source(runs: RunInfo[], pipelines: PipelineInfo[]): RunsSource {
  return { runs, pipeline: (id) => pipelines.find((p) => p.id === id), extras: () => ({}) };
}

test('a completed pipeline: its stages passed with their gate lines, its result and its GGUF export', () => {
  const runs = [run('dpo-b', 'dpo', 'completed', 1), run('solo', 'sft', 'completed', 0, { pipeline: undefined, exports: [{ format: 'merged', out: '/s/runs/solo/exports/merged', status: 'failed', error: 'The disk is full.' }] }), run('sft-a', 'sft', 'completed', 0)];
  const s = source(runs, [completed]);
  assert.deepEqual(renderTree(s, now), [
    '[pass-filled] Pipeline · sft → dpo — completed · 2/2 passed · 2 min ago',
    '  [pass] 1. SFT · sft.jsonl — passed · step 60/60',
    '    [check] entry data/errors 0 vs <= 0: pass — the data validates (chat template, loss mask)',
    '    [lightbulb] entry data/records 400 vs >= 1000: fail — advice only · high-quality SFT data > 1k records (seed 004)',
    '    [check] exit loss 1.743 vs < 2.5: pass',
    '  [pass] 2. DPO · shout-pairs.jsonl — passed · step 30/30 · result',
    '    [lightbulb] entry data/pairs 60 vs >= 1000: fail — advice only · preference data > 1k pairs (seed 004)',
    '    [check] exit rewards/accuracies 0.9875 vs > 0.6: pass',
    "  [star-full] Result: dpo's output — /s/runs/dpo-b/output",
    `  [package] Export GGUF q8_0 — /s/pipelines/${P}/exports/gguf-q8_0/dpo-b-q8_0.gguf`,
    '[pass] SFT · tiny · sft.jsonl — step 60/60 · 2 min ago',
    '  [error] Export merged — failed: The disk is full.',
  ]);
  const [pipeline] = rootNodes(s);
  const model = describeNode(pipeline!, s, now);
  assert.match(model.contextValue, /\bcan-export\b/);
  assert.ok(model.tooltip.includes('· exit loss 1.743 vs < 2.5: pass'), 'the tooltip lists every gate line');
  const children = childNodes(pipeline!, s);
  // A stage with a run opens its dashboard and has the run's menus (export, reveal output).
  const dpo = describeNode(children[1]!, s, now);
  assert.equal(dpo.openRunId, 'dpo-b');
  assert.match(dpo.contextValue, /\banneal-run\b.*\bcan-export\b/);
  const result = describeNode(children[2]!, s, now);
  assert.equal(result.openRunId, 'dpo-b');
  assert.match(result.contextValue, /\bcan-export\b/);
  const exported = describeNode(children[3]!, s, now);
  assert.match(exported.contextValue, /\bhas-path\b/);
  // llama.cpp's check of the GGUF, once the daemon ran it.
  const checked = describeNode({ kind: 'export', id: 'x', record: { ...gguf, llamaCheck: { status: 'differ', summary: 'llama.cpp gives Anneal\'s answers on 1/2 prompts' } } }, s, now);
  assert.match(checked.description, /^llama\.cpp answers differ · /);
  assert.ok(checked.tooltip.includes('llama.cpp check: llama.cpp gives Anneal\'s answers on 1/2 prompts'));
  assert.equal(checked.icon.color, 'list.warningForeground');
  // A failed export cannot be revealed; it says why.
  const failed = describeNode(childNodes(rootNodes(s)[1]!, s)[0]!, s, now);
  assert.doesNotMatch(failed.contextValue, /has-path/);
});

test('a halted pipeline says where and why, with the numbers; the next stage stays pending; the result is the last good stage', () => {
  const halted: PipelineInfo = {
    ...completed, status: 'halted', current: 1, exports: [{ ...gguf, status: 'done' }],
    message: "Stage dpo did not pass its gates (exit rewards/accuracies 0.41 vs > 0.6: fail); later stages were not started and the pipeline's result is the last good stage's output, sft: /s/runs/sft-a/output.",
    stages: [
      { ...completed.stages[0]! },
      { ...completed.stages[1]!, status: 'held', output: undefined, verdict: ['exit rewards/accuracies 0.41 vs > 0.6: fail'], gates: ['exit rewards/accuracies 0.41 vs > 0.6: fail'] },
      { name: 'dpo-2', stage: 'dpo', from: { kind: 'stage', name: 'dpo' }, merge: true, status: 'pending' },
    ],
    result: { stage: 'sft', output: '/s/runs/sft-a/output' },
  };
  const runs = [run('dpo-b', 'dpo', 'completed', 1), run('sft-a', 'sft', 'completed', 0)];
  const lines = renderTree(source(runs, [halted]), now);
  assert.equal(lines[0], '[circle-slash] Pipeline · sft → dpo → dpo-2 — halted at dpo · 2 min ago');
  assert.equal(lines[1], '  [warning] Held at dpo: exit rewards/accuracies 0.41 vs > 0.6: fail — result: sft');
  assert.equal(lines[2], '  [pass] 1. SFT · sft.jsonl — passed · step 60/60 · result');
  assert.ok(lines.includes('  [circle-slash] 2. DPO · shout-pairs.jsonl — held · step 30/30'));
  assert.ok(lines.includes('    [close] exit rewards/accuracies 0.41 vs > 0.6: fail'));
  assert.ok(lines.includes('  [circle-outline] 3. DPO (dpo-2) — pending'));
  assert.ok(lines.includes("  [star-full] Result: sft's output — /s/runs/sft-a/output"));
});

test('a running pipeline with its export still to come; an older daemon without pipeline records lists the runs', () => {
  const running: PipelineInfo = {
    ...completed, status: 'running', current: 1, result: { stage: 'sft', output: '/s/runs/sft-a/output' },
    stages: [completed.stages[0]!, { ...completed.stages[1]!, status: 'running', gates: undefined, output: undefined }],
    exports: [{ ...gguf, status: 'pending', files: undefined }],
  };
  const runs = [run('dpo-b', 'dpo', 'running', 1), run('sft-a', 'sft', 'completed', 0)];
  const lines = renderTree(source(runs, [running]), now);
  assert.equal(lines[0], '[sync~spin] Pipeline · sft → dpo — stage 2/2 dpo running · 2 min ago');
  assert.ok(lines.includes('  [sync~spin] 2. DPO · shout-pairs.jsonl — running · step 12/30'));
  assert.ok(lines.includes('  [clock] Export GGUF q8_0 — waiting for training to end'));
  // Without pipelines/list: the runs alone, as before.
  assert.deepEqual(renderTree(source(runs, []), now), [
    '[sync~spin] Pipeline · sft → dpo — stage 2/2 · running · 2 min ago',
    '  [pass] 1. SFT · sft.jsonl — step 60/60 · 2 min ago',
    '  [sync~spin] 2. DPO · shout-pairs.jsonl — step 12/30 · 2 min ago',
  ]);
});

test('gate lines: pass, blocking fail, advice, rollback, not measured', () => {
  assert.equal(gateOutcome('exit loss 1.97 vs < 2.5: pass'), 'pass');
  assert.equal(gateOutcome('exit loss 2.7 vs < 2.5: fail'), 'fail');
  assert.equal(gateOutcome('entry (advice) data/pairs 60 vs >= 1000: fail (preference data > 1k pairs (seed 004))'), 'advice');
  assert.equal(gateOutcome('rollback eval/kl last 0.9 vs > 0.5: roll back'), 'rollback');
  assert.equal(gateOutcome('Rolled back at step 40: loss is NaN'), 'rollback');
  assert.equal(gateOutcome('exit eval/loss vs < 2: not measured (eval/loss not logged)'), 'not-measured');
  const fail = describeGateLine('exit loss 2.7 vs < 2.5: fail (the model learnt the task)');
  assert.deepEqual([fail.label, fail.description, fail.icon], ['exit loss 2.7 vs < 2.5: fail', 'the model learnt the task', { id: 'close', color: 'errorForeground' }]);
});
