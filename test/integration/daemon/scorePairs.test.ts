// `pairs/score` on a real daemon with the real engine: a tiny DPO run with a LoRA adapter is trained
// through the CLI as a user would, then a copy of its data with three pairs flipped (chosen and
// rejected swapped, as a labelling mistake would) is scored with the run's id: exactly the flipped
// pairs come back with a margin below 0, with progress streamed to the asking client. Bad requests
// get one sentence each; cancelling the request or closing the connection ends the score child.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, RunsChangedNotification, ScorePairs, ScorePairsProgressNotification, StartRun, StopRun } from '../../../core/protocol/daemon.ts';
import type { ScorePairsProgress } from '../../../core/protocol/scorePairs.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/preference.jsonl');
const FLIPPED = [2, 9, 17];

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The example pairs with FLIPPED swapped, `copies` times over (line i of copy k is line i + 24k). */
function flippedCopy(dir: string, copies = 1): string {
  const lines = readFileSync(DATA, 'utf8').trim().split('\n');
  const out = lines.map((l, i) => {
    if (!FLIPPED.includes(i)) return l;
    const r = JSON.parse(l) as { prompt: string; chosen: string; rejected: string };
    return JSON.stringify({ prompt: r.prompt, chosen: r.rejected, rejected: r.chosen });
  });
  const file = join(dir, `flipped-${copies}.jsonl`);
  writeFileSync(file, Array.from({ length: copies }, () => out.join('\n')).join('\n') + '\n');
  return file;
}

/** Pids of the daemon's `--score` children (Linux /proc). */
function scoreChildren(daemonPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === daemonPid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--score')) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Resolves once the daemon has no score child left (a killed child is reaped within moments). */
async function noScoreChildren(daemonPid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (scoreChildren(daemonPid).length > 0) {
    if (Date.now() > deadline) throw new Error(`score children still alive: ${scoreChildren(daemonPid).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rejection(promise: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `a ResponseError, got ${String(err)}`);
    return err;
  }
  throw new Error('the request succeeded; a refusal was expected');
}

describe('pairs/score on a real daemon (tiny DPO run with LoRA)', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const dir = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-score-');
  const stateDir = join(dir, 'state');
  let daemon: TestDaemon;
  let runId: string;

  before(async () => {
    daemon = await startTestDaemon(stateDir);
    // The setting the engine's own scorePairs test uses: LoRA r 8 on every linear layer, 30 steps at 5e-3.
    const recipe = join(dir, 'dpo.anneal.yaml');
    writeFileSync(recipe, ['model: tiny', 'stage: dpo', 'data:', `  train: ${DATA}`, 'lora:', '  r: 8', '  alpha: 16', '  dropout: 0', '  target_modules: all-linear', 'learning_rate: 5.0e-3', 'per_device_train_batch_size: 4', 'max_length: 320', ''].join('\n'));
    const started = Date.now();
    const r = await cli(['train', 'dpo', '--config', recipe, '--data', DATA, '--model', 'tiny', '--max-steps', '30', '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, `anneal train exited ${r.code}: ${r.stderr}`);
    runId = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'status')?.runId;
    assert.match(runId, /^dpo-/);
    console.log(`trained ${runId} in ${Date.now() - started} ms`);
  });
  after(() => stopTestDaemon(daemon));

  test('scoring with the run id: exactly the flipped pairs have a negative margin; progress reaches every pair', async () => {
    const client = await connect(daemon);
    const progress: ScorePairsProgress[] = [];
    client.on(ScorePairsProgressNotification.type, (p) => progress.push(p));
    const started = Date.now();
    const result = await client.connection.sendRequest(ScorePairs.type, { data: flippedCopy(dir), model: runId, progressToken: 'test-1' });
    console.log(`scored 24 pairs in ${Date.now() - started} ms: ${result.description}`);
    client.close();
    assert.equal(result.kind, 'implicit-reward');
    assert.equal(result.runId, runId);
    assert.equal(result.modelDir, join(stateDir, 'runs', runId, 'output'));
    assert.match(result.description, new RegExp(`run ${runId} against its base tiny \\(beta 0\\.1\\)`), 'the run is named by its id, not its output path');
    assert.deepEqual(result.scores.map((s) => s.line), [...Array(24).keys()], 'every pair, in file order');
    for (const s of result.scores) assert.ok(Math.abs(s.margin - (s.chosen - s.rejected)) < 1e-9);
    assert.deepEqual(result.scores.filter((s) => s.margin < 0).map((s) => s.line), FLIPPED);
    assert.ok(progress.length > 0 && progress.every((p) => p.token === 'test-1'), 'progress carries the request token');
    assert.deepEqual(progress.at(-1), { token: 'test-1', done: 24, total: 24 });
    await noScoreChildren(daemon.proc.pid!);
  });

  test('the CLI prints the backwards pairs first', async () => {
    const r = await cli(['score-pairs', '--data', flippedCopy(dir), '--model', runId, '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, r.stderr);
    const [summary, ...pairs] = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(summary.event, 'result');
    assert.equal(summary.negative, 3);
    assert.deepEqual(pairs.slice(0, 3).map((p) => p.line).sort((a, b) => a - b), FLIPPED.map((l) => l + 1), '1-based lines, lowest margin first');
    const human = await cli(['score-pairs', '--data', flippedCopy(dir), '--model', runId, '--state-dir', stateDir]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /3 pairs have a negative margin/);
  });

  test('bad requests are refused with one sentence each, and no child is left behind', async () => {
    const client = await connect(daemon);
    const data = flippedCopy(dir);
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ data: 'relative.jsonl', model: runId }, DaemonErrorCodes.InvalidParams, /data must be an absolute path/],
      [{ data, model: 'Not A Run' }, DaemonErrorCodes.InvalidParams, /model must be a run id .* or an absolute folder/],
      [{ data, model: runId, beta: -1 }, DaemonErrorCodes.InvalidParams, /beta must be a positive number/],
      [{ data, model: 'dpo-19990101-000000-0000' }, DaemonErrorCodes.RunNotFound, /No run dpo-19990101-000000-0000/],
      [{ data: join(dir, 'missing.jsonl'), model: runId }, DaemonErrorCodes.ScoringFailed, /missing\.jsonl does not exist/],
      [{ data: join(ROOT, 'examples/sft.jsonl'), model: runId }, DaemonErrorCodes.ScoringFailed, /sft\.jsonl is not preference data: line 1 is a messages record/],
      [{ data, model: dir }, DaemonErrorCodes.ScoringFailed, /is not a model folder: it has neither config\.json .* nor adapter_config\.json/],
      [{ data, model: 'tiny' }, DaemonErrorCodes.ScoringFailed, /tiny is a plain model: it has no score head .* and no adapter/],
    ];
    for (const [params, code, message] of cases) {
      const err = await rejection(client.connection.sendRequest(ScorePairs.type, params as never));
      assert.equal(err.code, code, `${JSON.stringify(params)}: ${err.message}`);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /\n|at .*\(.*:\d+:\d+\)/, 'one sentence, no stack');
    }
    // A run that is still going has no final output to score with.
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: join(ROOT, 'examples/sft.jsonl') }, model: 'tiny', args: { max_steps: 100_000 } });
    const err = await rejection(client.connection.sendRequest(ScorePairs.type, { data, model: run.id }));
    assert.equal(err.code, DaemonErrorCodes.InvalidState);
    assert.match(err.message, new RegExp(`Run ${run.id} is still (queued|running); pairs are scored with a run's final output`));
    // runs/changed reaches every client, subscribed or not.
    const stopped = new Promise<void>((resolve) => client.on(RunsChangedNotification.type, (p) => p.run?.id === run.id && p.run.status === 'stopped' && resolve()));
    await client.connection.sendRequest(StopRun.type, { runId: run.id, force: true });
    await stopped;
    client.close();
    await noScoreChildren(daemon.proc.pid!);
  });

  test('cancelling the request, or closing the connection, ends the score child', async () => {
    // 20 copies (480 pairs): long enough to still be scoring when the cancel arrives.
    const big = flippedCopy(dir, 20);
    const client = await connect(daemon);
    const cancel = new CancellationTokenSource();
    const firstProgress = new Promise<void>((resolve) => client.on(ScorePairsProgressNotification.type, () => resolve()));
    const request = client.connection.sendRequest(ScorePairs.type, { data: big, model: runId, progressToken: 'c' }, cancel.token);
    await firstProgress;
    assert.equal(scoreChildren(daemon.proc.pid!).length, 1, 'one score child runs');
    cancel.cancel();
    const err = await rejection(request);
    assert.equal(err.code, DaemonErrorCodes.RequestCancelled);
    await noScoreChildren(daemon.proc.pid!);

    const other = await connect(daemon);
    const running = new Promise<void>((resolve) => other.on(ScorePairsProgressNotification.type, () => resolve()));
    other.connection.sendRequest(ScorePairs.type, { data: big, model: runId, progressToken: 'd' }).catch(() => undefined);
    await running;
    assert.equal(scoreChildren(daemon.proc.pid!).length, 1);
    other.close();
    await noScoreChildren(daemon.proc.pid!);
    // The daemon carries on.
    const after = await client.connection.sendRequest(ScorePairs.type, { data: flippedCopy(dir), model: runId });
    assert.equal(after.scores.length, 24);
    client.close();
  });
});
