// Gates through the daemon: a recipe's gates ride with the run into the engine. A completed run leaves
// gates.json in its folder; a rollback condition the recipe writes ends the run as failed, at the
// step it held, with the reason — and `anneal train` exits non-zero with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));
const stateDir = tempDir({ after: (fn) => cleanups.push(fn) });
let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon(stateDir);
});
after(() => stopTestDaemon(daemon));

const recipe = (gates: string) => {
  const path = join(stateDir, `r${Math.random().toString(36).slice(2)}.anneal.yaml`);
  writeFileSync(path, `model: tiny\nstage: sft\ndata:\n  train: ${join(ROOT, 'examples/sft.jsonl')}\nmax_steps: 3\nlogging_steps: 1\n${gates}`);
  return path;
};
const train = (path: string, stage = 'sft') => spawnSync(process.execPath, [CLI, 'train', stage, '--config', path, '--json', '--state-dir', stateDir], { encoding: 'utf8', timeout: 120_000 });
const runIdOf = (stdout: string) => (stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'status')?.runId as string);

test('a completed run leaves its gate report; a rollback gate fails the run at the step it held', () => {
  const ok = train(recipe('gates:\n  exit:\n    loss: "< 100"\n'));
  assert.equal(ok.status, 0, ok.stderr);
  const report = JSON.parse(readFileSync(join(stateDir, 'runs', runIdOf(ok.stdout), 'gates.json'), 'utf8')) as { results: { condition: { metric: string }; verdict: string }[] };
  assert.equal(report.results.find((r) => r.condition.metric === 'loss')?.verdict, 'pass');

  const rolled = train(recipe('gates:\n  rollback:\n    loss: "< 100"\n'));
  assert.notEqual(rolled.status, 0);
  assert.match(rolled.stdout + rolled.stderr, /Rolled back at step 1: loss \S+ vs < 100: roll back/);
  assert.ok(!existsSync(join(stateDir, 'runs', runIdOf(rolled.stdout), 'output')));
});

test('a DPO run with an eval set measures seed 004\'s DPO gates (win rate, KL, distinct-2) in its evaluations', () => {
  const pairs = join(ROOT, 'examples/preference.jsonl');
  const path = join(stateDir, 'dpo-eval.anneal.yaml');
  writeFileSync(
    path,
    `model: tiny\nstage: dpo\ndata:\n  train: ${pairs}\n  eval: ${pairs}\nlora: {r: 4, alpha: 8}\nmax_steps: 4\nlogging_steps: 2\neval_steps: 2\neval_generations: 3\nmax_length: 128\nrewards:\n  - {name: length, options: {unit: tokens, target: 12}}\n`,
  );
  const run = train(path, 'dpo');
  assert.equal(run.status, 0, run.stderr);
  const runDir = join(stateDir, 'runs', runIdOf(run.stdout));
  const report = JSON.parse(readFileSync(join(runDir, 'gates.json'), 'utf8')) as { results: { condition: { metric: string }; verdict: string; line: string }[] };
  const read = report.results.filter((r) => ['eval/win_rate', 'eval/kl', 'eval/distinct_2'].includes(r.condition.metric));
  assert.equal(read.length, 5, report.results.map((r) => r.line).join('\n'));
  for (const r of read) assert.notEqual(r.verdict, 'not-measured', r.line);
  assert.match(readFileSync(join(runDir, 'log.txt'), 'utf8'), /evaluation answers: 3 prompts × up to \d+ tokens, [\d.]+ s per evaluation/);
});
