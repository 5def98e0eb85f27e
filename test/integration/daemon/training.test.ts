// Training through the daemon with the real engine on the built-in `tiny` model: the CLI end to end,
// the loss falling, history replay matching the files, a daemon killed with -9 mid-run and the resumed
// curve matching an uninterrupted run, stop/resume, and a crashed worker failing only its run.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { GetRun, ListRuns, ResumeRun, RunMetricsNotification, StartRun, StopRun, Subscribe } from '../../../core/protocol/daemon.ts';
import type { MetricRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { connectDaemon, type DaemonClient } from '../../../daemon/client/connect.ts';
import { CLI, ROOT, collectMetrics, killOnExit, connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, waitForStatus } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');
const MAX_STEPS = 24;
const SAVE_STEPS = 6;

/** A small, fast, deterministic recipe: every run of it must produce the same loss curve. */
function writeRecipe(dir: string): string {
  const path = join(dir, 'tiny.anneal.yaml');
  writeFileSync(
    path,
    [
      'model: tiny',
      'stage: sft',
      'data:',
      `  train: ${JSON.stringify(DATA)}`,
      `max_steps: ${MAX_STEPS}`,
      'per_device_train_batch_size: 4',
      'max_length: 64',
      'learning_rate: 0.003',
      'warmup_steps: 0',
      'logging_steps: 1',
      `save_steps: ${SAVE_STEPS}`,
      'seed: 7',
      '',
    ].join('\n'),
  );
  return path;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const losses = (ms: MetricRecord[]) => ms.filter((m) => typeof m.loss === 'number').map((m) => ({ step: m.step, loss: m.loss }));

/** Subscribes with fromStep and resolves with the replayed metrics (sent before the result). */
async function replay(client: DaemonClient, runId: string, fromStep: number): Promise<MetricRecord[]> {
  const got = collectMetrics(client, () => runId);
  const result = await client.connection.sendRequest(Subscribe.type, { runId, fromStep });
  assert.equal(result.replayed.metrics, got.length);
  return [...got];
}

describe('training through the daemon (real engine, tiny model)', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const scratch = () => tempDir({ after: (fn) => cleanups.push(fn) });
  const work = scratch();
  const recipe = writeRecipe(work);
  let reference: MetricRecord[] = [];

  test('`anneal train --json` starts a detached daemon, streams metrics, the loss falls, exit 0', async () => {
    const stateDir = scratch();
    const child = spawn(process.execPath, [CLI, 'train', 'sft', '--config', recipe, '--json', '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const events: any[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line)));
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
    // The daemon it started outlives it; stop it when the suite ends.
    const info = JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8'));
    killOnExit(info.pid);
    cleanups.unshift(() => {
      try {
        process.kill(info.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    });
    assert.equal(code, 0, `exit ${code}: ${stderr}`);

    const metrics = events.filter((e) => e.event === 'metrics');
    const statuses = events.filter((e) => e.event === 'status');
    assert.equal(statuses.at(-1).status, 'completed');
    assert.ok(metrics.length >= MAX_STEPS * 0.9, `only ${metrics.length} metrics events`);
    for (const m of metrics) assert.equal(typeof m.step, 'number');
    const curve = losses(metrics);
    const first = mean(curve.slice(0, 3).map((p) => p.loss));
    const last = mean(curve.slice(-3).map((p) => p.loss));
    assert.ok(last < first * 0.85, `loss did not fall clearly: first ${first}, last ${last}`);

    // The files hold exactly what was streamed, and a replay from step 0 gives the files back.
    const runId = statuses[0].runId;
    const stored = readMetricsFile(stateDir, runId);
    assert.deepEqual(stored, metrics.map(({ event: _e, ...r }) => r));
    const client = await connectDaemon(info.url, readFileSync(join(stateDir, 'token'), 'utf8').trim());
    assert.deepEqual(await replay(client, runId, 0), stored);
    const fromMiddle = await replay(client, runId, 10);
    assert.deepEqual(fromMiddle, stored.filter((m) => m.step >= 10));
    const run = (await client.connection.sendRequest(GetRun.type, { runId })).run;
    assert.equal(run.status, 'completed');
    assert.ok(run.backend?.name, 'the run reports its backend');
    assert.ok(run.outputDir && existsSync(run.outputDir), 'the run wrote its output folder');
    client.close();
    reference = stored;
  });

  test('a daemon killed with -9 mid-run restarts with the run interrupted; resume matches the uninterrupted curve', async () => {
    assert.ok(reference.length > 0, 'needs the reference run');
    const stateDir = scratch();
    let daemon = await startTestDaemon(stateDir);
    let client = await connect(daemon);
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
    const checkpointed = waitForStatus(client, run.id, (r) => (r.checkpoint?.step ?? 0) >= SAVE_STEPS);
    await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    await checkpointed;
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    const before = readMetricsFile(stateDir, run.id);
    assert.ok(before.length >= SAVE_STEPS, `metrics before the kill: ${before.length}`);
    assert.ok(before.length < MAX_STEPS, 'the run was still going when killed');

    // The stale daemon.json/lock of the dead daemon are taken over.
    daemon = await startTestDaemon(stateDir);
    client = await connect(daemon);
    const listed = (await client.connection.sendRequest(ListRuns.type, {})).runs.find((r) => r.id === run.id);
    assert.equal(listed?.status, 'interrupted');
    assert.ok((listed?.checkpoint?.step ?? 0) >= SAVE_STEPS);
    const kept = readMetricsFile(stateDir, run.id);
    assert.deepEqual(kept.slice(0, before.length - 1), before.slice(0, before.length - 1), 'every flushed metric is kept');

    const done = waitForStatus(client, run.id, (r) => r.status === 'completed' || r.status === 'failed');
    await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    const resumed = await client.connection.sendRequest(ResumeRun.type, { runId: run.id });
    assert.ok(['queued', 'running'].includes(resumed.run.status), resumed.run.status);
    const final: RunInfo = await done;
    assert.equal(final.status, 'completed', final.error);
    assert.equal(final.resumes.length, 1);

    const history = readMetricsFile(stateDir, run.id);
    assert.deepEqual(history.map((m) => m.step), reference.map((m) => m.step), 'one record per step, no duplicates from the redone steps');
    for (let i = 0; i < reference.length; i++) {
      const a = reference[i].loss;
      const b = history[i].loss;
      assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(a), 1e-8), `step ${reference[i].step}: uninterrupted loss ${a}, resumed ${b}`);
    }
    assert.deepEqual(await replay(client, run.id, 0), history);
    client.close();
    await stopTestDaemon(daemon);
  });

  test('runs queue; stop checkpoints and ends a run; a crashed worker fails only its run', async () => {
    const stateDir = scratch();
    const daemon = await startTestDaemon(stateDir);
    const client = await connect(daemon);
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
    const firstStep = new Promise<void>((resolve) => {
      const sub = client.on(RunMetricsNotification.type, (p) => {
        if (p.runId === run.id) {
          sub.dispose();
          resolve();
        }
      });
    });
    await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    await firstStep;
    // One run trains at a time by default: a second one waits in the queue, and can leave it.
    const second = (await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe })).run;
    assert.equal(second.status, 'queued');
    const dequeued = (await client.connection.sendRequest(StopRun.type, { runId: second.id })).run;
    assert.equal(dequeued.status, 'stopped');
    assert.equal(dequeued.startedAt, undefined);

    const stopped = waitForStatus(client, run.id, (r) => r.status === 'stopped' || r.status === 'failed');
    await client.connection.sendRequest(StopRun.type, { runId: run.id });
    const s = await stopped;
    assert.equal(s.status, 'stopped', s.error);
    assert.ok(s.checkpoint && s.checkpoint.step >= 1, 'the stop wrote a checkpoint');
    assert.ok(existsSync(s.checkpoint.path));

    // Resume, then kill the worker process outright: the run fails with the reason, the daemon lives.
    const running = waitForStatus(client, run.id, (r) => r.status === 'running' && r.workerPid !== undefined);
    await client.connection.sendRequest(ResumeRun.type, { runId: run.id });
    const r = await running;
    const failed = waitForStatus(client, run.id, (x) => x.status === 'failed' || x.status === 'completed');
    process.kill(r.workerPid!, 'SIGKILL');
    const f = await failed;
    assert.equal(f.status, 'failed');
    assert.match(f.error ?? '', /killed by SIGKILL/);
    const again = await client.connection.sendRequest(GetRun.type, { runId: run.id });
    assert.equal(again.run.status, 'failed');
    client.close();
    await stopTestDaemon(daemon);
  });
});
