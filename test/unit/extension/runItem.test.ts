import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { describeRun, modelName, relativeTime, runActions } from '../../../extension/client/runs/runItem.ts';

const now = new Date('2026-11-21T18:30:00Z');
function run(over: Partial<RunInfo>): RunInfo {
  return {
    id: 'sft-20261121-180627-aa92',
    stage: 'sft',
    status: 'running',
    createdAt: '2026-11-21T18:06:20Z',
    startedAt: '2026-11-21T18:06:27Z',
    model: 'tiny',
    data: { train: '/home/u/data/sft.jsonl' },
    args: {} as RunInfo['args'],
    lora: null,
    step: 120,
    totalSteps: 400,
    resumes: [],
    ...over,
  };
}

test('a running run: label, step, best eval, start time, spinning icon, stop only', () => {
  const item = describeRun(run({}), { bestEvalLoss: 1.2345, lastLoss: 2.5 }, now);
  assert.equal(item.label, 'SFT · tiny · sft.jsonl');
  assert.equal(item.description, 'step 120/400 · best eval 1.234 · 23 min ago');
  assert.deepEqual(item.icon, { id: 'sync~spin', color: 'charts.blue' });
  assert.equal(item.contextValue, 'anneal-run status-running can-stop');
  assert.ok(item.tooltip.includes('Loss 2.5'));
});

test('finished runs allow what the daemon allows and say why they ended', () => {
  const failed = describeRun(run({ status: 'failed', error: 'The model folder has no config.json.', outputDir: '/x/out' }), {}, now);
  assert.equal(failed.icon.id, 'error');
  assert.equal(failed.contextValue, 'anneal-run status-failed can-resume can-delete has-output');
  assert.ok(failed.tooltip.includes('Error: The model folder has no config.json.'));
  const interrupted = describeRun(run({ status: 'interrupted' }), {}, now);
  assert.match(interrupted.tooltip.join('\n'), /Resume continues from its last checkpoint/);
  assert.deepEqual(runActions('completed'), { stop: false, resume: false, delete: true });
  assert.deepEqual(runActions('queued'), { stop: true, resume: false, delete: false });
  assert.deepEqual(runActions('stopping'), { stop: false, resume: false, delete: false });
  const queued = describeRun(run({ status: 'queued', step: 0, totalSteps: undefined, startedAt: undefined }), {}, now);
  assert.equal(queued.description, 'queued · 23 min ago');
});

test('model names and relative times', () => {
  assert.equal(modelName('/models/Qwen3-0.6B/'), 'Qwen3-0.6B');
  assert.equal(modelName('C:\\models\\llama'), 'llama');
  assert.equal(relativeTime('2026-11-21T18:29:30Z', now), 'just now');
  assert.equal(relativeTime('2026-11-21T15:00:00Z', now), '3 h ago');
  assert.equal(relativeTime('2026-11-20T12:00:00Z', now), '1 day ago');
  assert.equal(relativeTime('2026-11-01T12:00:00Z', now), '2026-11-01');
  assert.equal(relativeTime('nonsense', now), undefined);
});
