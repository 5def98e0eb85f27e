// A pipeline's decisions from what its runs left: a stage hands over only when its run completed and
// its gate report (from core/gates on recorded metrics) passed; a failed exit gate, a rollback at the
// end or mid-run holds it; `@name` references resolve to earlier outputs; the result is the last
// policy stage that passed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateGates, readGates } from '../../../core/gates/index.ts';
import { haltMessage, pipelineResult, resolveStageRefs, stageOutcome } from '../../../core/pipeline/handover.ts';
import { dataFacts, failedEntryConditions } from '../../../core/pipeline/entry.ts';
import type { MetricRecord } from '../../../core/protocol/runs.ts';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';

const losses = (values: number[]): MetricRecord[] => values.map((loss, i) => ({ step: i + 1, loss }));
const report = (gates: unknown, records: MetricRecord[]) => evaluateGates(readGates('dpo', gates).gates, records);
const completed = { status: 'completed' as const, outputDir: '/runs/a/output' };

test('a completed run whose gates pass hands over its output; advice-only failures are noted, not blocking', () => {
  const r = report({ exit: { loss: '< 1' } }, losses([0.9, 0.7, 0.6]));
  const out = stageOutcome(completed, r);
  assert.equal(out.kind, 'passed');
  assert.equal(out.kind === 'passed' && out.output, '/runs/a/output');
  // seed 004's advice (>= 1000 pairs) fails on 23 pairs but only advises.
  const advised = stageOutcome(completed, evaluateGates(readGates('dpo', undefined).gates, losses([0.7]), { 'data/pairs': 23 }));
  assert.equal(advised.kind, 'passed');
  assert.match(advised.kind === 'passed' ? advised.notes.join() : '', /data\/pairs 23 vs >= 1000/);
});

test('a failed exit gate, or a rollback condition that holds at the end, holds the stage with the gate lines', () => {
  const failed = stageOutcome(completed, report({ exit: { loss: '< 0.5' } }, losses([0.9, 0.7, 0.6])));
  assert.deepEqual(failed, { kind: 'held', lines: ['exit loss 0.6 vs < 0.5: fail'] });
  const rolled = stageOutcome(completed, report({ rollback: { loss: 'trend > 0' } }, losses([0.5, 0.6, 0.7])));
  assert.equal(rolled.kind, 'held');
  assert.match(rolled.kind === 'held' ? rolled.lines[0]! : '', /^rollback loss trend 0\.1 vs trend > 0: roll back/);
});

test('a run failed by the engine\'s rollback is held (not retried); any other failure is a failure; stop and interrupt wait', () => {
  assert.equal(stageOutcome({ status: 'failed', error: 'Rolled back at step 3: loss NaN ...' }, undefined).kind, 'held');
  assert.equal(stageOutcome({ status: 'failed', error: 'Training broke down at step 4: the loss is NaN' }, undefined).kind, 'held');
  assert.deepEqual(stageOutcome({ status: 'failed', error: 'The training process was killed by SIGKILL.' }, undefined), { kind: 'failed', reason: 'The training process was killed by SIGKILL.' });
  assert.equal(stageOutcome({ status: 'stopped' }, undefined).kind, 'stopped');
  assert.equal(stageOutcome({ status: 'interrupted' }, undefined).kind, 'interrupted');
  assert.equal(stageOutcome({ status: 'running' }, undefined).kind, 'pending');
  // Without a gate report (an engine that writes none) the output still hands over, saying so.
  const bare = stageOutcome(completed, undefined);
  assert.ok(bare.kind === 'passed' && /no gate report/.test(bare.notes[0]!));
  assert.equal(stageOutcome({ status: 'completed' }, undefined).kind, 'failed');
});

test('@name references resolve to the outputs of earlier stages: model, reward_model_path, reward models', () => {
  const args = { ...defaultTrainingArguments('ppo'), reward_model_path: '@reward' };
  const outputs = new Map([['sft', '/runs/sft/output'], ['reward', '/runs/rm/output']]);
  const run = resolveStageRefs({ model: '@sft', args, rewards: [{ name: 'rm', model: '@reward' }, { name: 'length' }] }, outputs);
  assert.equal(run.model, '/runs/sft/output');
  assert.equal(run.args.reward_model_path, '/runs/rm/output');
  assert.deepEqual(run.rewards, [{ name: 'rm', model: '/runs/rm/output' }, { name: 'length' }]);
  assert.equal(resolveStageRefs({ model: 'tiny', args: defaultTrainingArguments('sft') }, new Map()).model, 'tiny');
  assert.throws(() => resolveStageRefs({ model: '@dpo', args }, outputs), /model is @dpo, a stage with no output yet/);
});

test('the result is the last policy stage that passed; the halt message names it, or says none passed', () => {
  const stages = [
    { name: 'sft', stage: 'sft' as const, status: 'passed' as const, output: '/o/sft' },
    { name: 'reward', stage: 'reward' as const, status: 'passed' as const, output: '/o/rm' },
    { name: 'dpo', stage: 'dpo' as const, status: 'held' as const },
  ];
  assert.deepEqual(pipelineResult(stages), { stage: 'sft', output: '/o/sft' });
  assert.equal(pipelineResult(stages.slice(2)), undefined);
  assert.match(haltMessage('2/3 (dpo)', ['exit loss 0.6 vs < 0.5: fail'], { stage: 'sft', output: '/o/sft' }, 'tiny'), /^Stage 2\/3 \(dpo\) did not pass its gates \(exit loss 0\.6 vs < 0\.5: fail\); .*result is the last good stage's output, sft: \/o\/sft\.$/);
  assert.match(haltMessage('1/2 (sft)', [], undefined, 'tiny'), /no stage passed its gates.*base model tiny stays/);
});

test('entry conditions on the data facts, before a pipeline starts: blocking ones fail it, advice does not', () => {
  assert.deepEqual(dataFacts('dpo', 23), { 'data/records': 23, 'data/errors': 0, 'data/pairs': 23, 'data/identical_pairs': 0 });
  assert.deepEqual(dataFacts('sft', 400), { 'data/records': 400, 'data/errors': 0 });
  // seed 004's defaults: "> 1k pairs" only advises, chosen != rejected holds (identical pairs are refused earlier).
  assert.deepEqual(failedEntryConditions('dpo', undefined, dataFacts('dpo', 23)), []);
  const failed = failedEntryConditions('dpo', { entry: { 'data/pairs': '>= 100' } }, dataFacts('dpo', 23));
  assert.equal(failed.length, 1);
  assert.match(failed[0]!, /^data\/pairs 23 vs >= 100: fail/);
  assert.deepEqual(failedEntryConditions('sft', { entry: { 'data/records': '>= 100' } }, dataFacts('sft', 400)), []);
});
