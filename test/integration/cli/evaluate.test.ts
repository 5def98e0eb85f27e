// `anneal generate` and `anneal eval` from the built CLI: the engine runs in a child of the command
// (dist/worker.js --job), answers come back as text or JSON, a run id is looked up in the state dir,
// and bad input is one sentence with a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

test('anneal generate answers a prompt; anneal eval measures a model on a file, by path or run id', () => {
  const gen = cli(['generate', '--model', 'tiny', '--prompt', 'Shout kotaru', '--max-new-tokens', '6', '--json']);
  assert.equal(gen.status, 0, gen.stderr);
  const answer = JSON.parse(gen.stdout) as { completion: string; tokens: number; stopped: boolean };
  assert.equal(typeof answer.completion, 'string');
  assert.ok(answer.tokens >= 1 && answer.tokens <= 6);

  const ev = cli(['eval', '--model', 'tiny', '--data', 'examples/sft.jsonl', '--max-prompts', '2', '--max-new-tokens', '4', '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  const r = JSON.parse(ev.stdout) as { metrics: Record<string, number>; samples: unknown[]; notes: string[] };
  assert.ok(r.metrics['eval/loss']! > 0 && r.metrics['eval/perplexity']! > 1);
  assert.equal(r.samples.length, 2);
  assert.match(r.notes.join(' '), /no adapter, so there is no baseline/);

  // A name that is neither a folder nor a run with an output is passed on, and the engine says what it could not open.
  const state = mkdtempSync(join(tmpdir(), 'anneal-eval-cli-'));
  mkdirSync(join(state, 'runs', 'sft-1'), { recursive: true });
  const missing = cli(['eval', '--model', 'sft-1', '--data', 'examples/sft.jsonl', '--state-dir', state]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /^anneal: .*sft-1/m);

  const noData = cli(['eval', '--model', 'tiny', '--data', 'nope.jsonl']);
  assert.equal(noData.status, 2);
  assert.equal(noData.stderr.trim(), 'anneal: nope.jsonl does not exist.');
});
