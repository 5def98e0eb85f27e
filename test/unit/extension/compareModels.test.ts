// The side-by-side chat's model choices: runs with an output, each distinct base once, tiny, the
// models the user added; what each asks `models/generate` for; and the sides it opens on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { compareOptions, defaultSides, generateTarget } from '../../../extension/client/panels/compareModels.ts';

function run(over: Partial<RunInfo>): RunInfo {
  return {
    id: 'sft-20261130-010000-aaaa',
    stage: 'sft',
    status: 'completed',
    createdAt: '2026-11-30T01:00:00Z',
    model: 'tiny',
    data: { train: '/w/sft.jsonl' },
    args: { seed: 42 } as RunInfo['args'],
    lora: null,
    step: 30,
    outputDir: '/s/runs/sft-20261130-010000-aaaa/output',
    resumes: [],
    ...over,
  };
}

const dpo = run({ id: 'dpo-20261130-020000-bbbb', stage: 'dpo', model: '/s/runs/sft-20261130-010000-aaaa/output', outputDir: '/s/runs/dpo-20261130-020000-bbbb/output', pipeline: { id: 'pipeline-x', index: 1, count: 2, name: 'dpo' } });
const sft = run({});
const running = run({ id: 'sft-20261130-030000-cccc', status: 'running', outputDir: undefined, step: 3 });
const seeded = run({ id: 'sft-20261130-040000-dddd', args: { seed: 7 } as RunInfo['args'] });

test('runs with an output, each distinct base once, tiny, then the added models', () => {
  const options = compareOptions([running, dpo, sft], ['/m/qwen']);
  assert.deepEqual(options.map((o) => o.id), ['run:dpo-20261130-020000-bbbb', 'run:sft-20261130-010000-aaaa', 'base:dpo-20261130-020000-bbbb', 'tiny', 'model:/m/qwen']);
  assert.equal(options[0]!.detail, 'DPO · stage 2/2 (dpo) on sft-20261130-010000-aaaa output');
  assert.equal(options[2]!.label, 'sft-20261130-010000-aaaa output (base of dpo-20261130-020000-bbbb)');
  // A tiny run drawn from another seed has a base of its own; seed 42's is the plain tiny.
  assert.ok(compareOptions([seeded], []).some((o) => o.id === `base:${seeded.id}`));
});

test('each option asks models/generate for the right model', () => {
  assert.deepEqual(generateTarget('tiny'), { model: 'tiny' });
  assert.deepEqual(generateTarget('run:sft-1'), { model: 'sft-1' });
  assert.deepEqual(generateTarget('base:sft-1'), { model: 'sft-1', base: true });
  assert.deepEqual(generateTarget('model:/m/x.gguf'), { model: '/m/x.gguf' });
  assert.equal(generateTarget('bogus'), undefined);
});

test('the panel opens on a run against its base: the run asked for, else the newest with an output', () => {
  const runs = [running, dpo, sft];
  const options = compareOptions(runs, []);
  assert.deepEqual(defaultSides(runs, options, sft.id), { left: `run:${sft.id}`, right: 'tiny' });
  assert.deepEqual(defaultSides(runs, options), { left: `run:${dpo.id}`, right: `base:${dpo.id}` });
  assert.deepEqual(defaultSides(runs, options, running.id), { left: `run:${dpo.id}`, right: `base:${dpo.id}` }, 'a run without output yet falls back');
  assert.deepEqual(defaultSides([seeded], compareOptions([seeded], []), seeded.id), { left: `run:${seeded.id}`, right: `base:${seeded.id}` });
  assert.deepEqual(defaultSides([running], compareOptions([running], [])), { left: 'tiny', right: 'tiny' });
});
