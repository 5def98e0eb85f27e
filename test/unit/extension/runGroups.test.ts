// The Runs view and the dashboard on pipelines: a pipeline's runs are one entry (its stages in order,
// at its newest run's place), described from the runs alone; the dashboard's header names the stage.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import { describePipeline, groupRuns } from '../../../extension/client/runs/runGroups.ts';
import { describeRun } from '../../../extension/client/runs/runItem.ts';
import { pipelineText } from '../../../webviews/dashboard/statusLine.ts';

const run = (id: string, status: RunInfo['status'], createdAt: string, pipeline?: RunInfo['pipeline']): RunInfo => ({
  id, stage: pipeline?.name === 'dpo' ? 'dpo' : 'sft', status, createdAt, model: '/runs/x/output', data: { train: '/d/train.jsonl' },
  args: defaultTrainingArguments('sft'), lora: null, step: 3, resumes: [], ...(pipeline ? { pipeline } : {}),
});

test('a pipeline\'s runs are one entry, stages in order, where its newest run sits', () => {
  const p = (index: number, name: string) => ({ id: 'pipeline-1', index, count: 3, name });
  const runs = [
    run('dpo-b', 'running', '2026-11-30T01:03:00Z', p(1, 'dpo')),
    run('sft-solo', 'completed', '2026-11-30T01:02:00Z'),
    run('sft-a', 'completed', '2026-11-30T01:01:00Z', p(0, 'sft')),
    run('sft-old', 'failed', '2026-11-30T00:00:00Z'),
  ];
  const entries = groupRuns(runs);
  assert.deepEqual(entries.map((e) => (e.kind === 'run' ? e.run.id : `${e.id}:${e.runs.map((r) => r.id).join(',')}`)), ['pipeline-1:sft-a,dpo-b', 'sft-solo', 'sft-old']);
  const group = entries[0]!;
  assert.ok(group.kind === 'pipeline');
  const item = describePipeline(group.id, group.runs, new Date('2026-11-30T01:05:00Z'));
  assert.equal(item.label, 'Pipeline · sft → dpo → …');
  assert.match(item.description, /^stage 2\/3 · running · 4 min ago$/);
  assert.equal(item.contextValue, 'anneal-pipeline');
  // A stage's run says where it stands, and its label its place instead of the previous output's folder name.
  const stage = describeRun(runs[0]!, {}, new Date());
  assert.equal(stage.label, '2. DPO · train.jsonl');
  assert.ok(stage.tooltip.includes('The stage 2/3 (dpo) of pipeline pipeline-1'));
  assert.equal(pipelineText(runs[0]!), 'stage 2/3 (dpo) of pipeline pipeline-1');
  assert.equal(pipelineText(runs[1]!), undefined);
});

test('a pipeline whose last stage completed reads as completed; an earlier completed stage with nothing after, as stopped there', () => {
  const done = [run('a', 'completed', 't1', { id: 'p', index: 0, count: 2, name: 'sft' }), run('b', 'completed', 't2', { id: 'p', index: 1, count: 2, name: 'dpo' })];
  assert.match(describePipeline('p', done, new Date()).description, /stage 2\/2 · completed/);
  const held = describePipeline('p', done.slice(0, 1), new Date());
  assert.match(held.description, /stage 1\/2 · after stage 1/);
  assert.match(held.tooltip.join('\n'), /its gates stopped the pipeline/);
});
