// The pipeline report's figures for a stage: key metrics at the first and last logged step, and each
// sample prompt's answer at the first sample step against the last.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PipelineStageInfo } from '../../../core/protocol/pipelines.ts';
import type { MetricRecord } from '../../../core/protocol/runs.ts';
import { beforeAfter, keyMetrics, stageReport } from '../../../extension/client/panels/pipelineReportData.ts';
import { gateOutcome } from '../../../webviews/pipelineReport/gateOutcome.ts';

test('key metrics: first and last finite value of each known metric, in a fixed order', () => {
  const metrics: MetricRecord[] = [
    { step: 10, loss: 2, 'rewards/margins': 0.5, learning_rate: 1 },
    { step: 1, loss: 5, 'eval/loss': NaN },
    { step: 5, loss: 3, 'eval/loss': 4, 'rewards/margins': 0.1 },
  ];
  assert.deepEqual(keyMetrics(metrics), [
    { name: 'loss', start: 5, end: 2 },
    { name: 'eval/loss', start: 4, end: 4 },
    { name: 'rewards/margins', start: 0.1, end: 0.5 },
  ]);
  assert.deepEqual(keyMetrics([]), []);
});

test('before/after: each prompt at its earliest and latest sample step; a prompt sampled once is left out', () => {
  const samples = [
    { step: 30, prompt: 'a', completion: 'A!' },
    { step: 0, prompt: 'a', completion: '??' },
    { step: 0, prompt: 'b', completion: 'x' },
    { step: 15, prompt: 'a', completion: 'a.' },
    { step: 30, prompt: 'a', completion: 'second of a group' },
  ];
  assert.deepEqual(beforeAfter(samples), [{ prompt: 'a', before: { step: 0, text: '??' }, after: { step: 30, text: 'A!' } }]);
});

test('a stage report carries the gates and verdict; a stage not started has no figures', () => {
  const stage: PipelineStageInfo = { name: 'dpo', stage: 'dpo', from: { kind: 'stage', name: 'sft' }, merge: false, status: 'held', runId: 'dpo-1', gates: ['exit rewards/accuracies 0.4 vs > 0.6: fail'], verdict: ['exit rewards/accuracies 0.4 vs > 0.6: fail'] };
  const report = stageReport(stage, 1, undefined, { metrics: [{ step: 1, loss: 0.7 }, { step: 30, loss: 0.6 }], samples: [] });
  assert.equal(report.firstStep, 1);
  assert.equal(report.lastStep, 30);
  assert.deepEqual(report.verdict, stage.verdict);
  const pending = stageReport({ ...stage, status: 'pending', runId: undefined, gates: undefined, verdict: undefined }, 1);
  assert.deepEqual([pending.metrics, pending.samples, pending.gates], [[], [], []]);
});

test('gate lines are coloured by their outcome; an advisory failure is advice', () => {
  assert.equal(gateOutcome('exit loss 1.743 vs < 2.5: pass'), 'pass');
  assert.equal(gateOutcome('exit rewards/accuracies 0.4 vs > 0.6: fail'), 'fail');
  assert.equal(gateOutcome('entry (advice) data/pairs 60 vs >= 1000: fail (preference data > 1k pairs (seed 004))'), 'advice');
  assert.equal(gateOutcome('rollback kl 3 vs > 2: held'), 'fail');
  assert.equal(gateOutcome('something else'), 'other');
});
