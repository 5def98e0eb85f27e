// What a restarted daemon finds on disk after a crash, without training: a run that was running is
// listed as interrupted, a metrics line torn by the crash is dropped (and cut from the file so the
// next append starts clean), and folders that are not runs are ignored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteRun, GetRun, ListRuns, ResumeRun, RunMetricsNotification, Subscribe } from '../../../core/protocol/daemon.ts';
import type { MetricRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, waitForStatus } from './helpers.ts';

test('a crashed daemon leaves runs that a new one recovers', async (t) => {
  const stateDir = tempDir(t);
  const id = 'sft-20260101-000000-abcd';
  const dir = join(stateDir, 'runs', id);
  mkdirSync(join(dir, 'checkpoints', 'step-4'), { recursive: true });
  mkdirSync(join(dir, 'checkpoints', '.step-8.tmp-123'), { recursive: true }); // an unfinished checkpoint
  // Complete, but written after the daemon died (it never heard of it, nor of steps 6-8's metrics).
  mkdirSync(join(dir, 'checkpoints', 'step-8'), { recursive: true });
  const run: RunInfo & { futureField: string } = {
    id,
    stage: 'sft',
    status: 'running',
    phase: 'training',
    createdAt: '2026-01-01T00:00:00.000Z',
    model: 'tiny',
    data: { train: '/nonexistent/train.jsonl' },
    args: {} as RunInfo['args'],
    lora: null,
    step: 0,
    checkpoint: { step: 4, path: join(dir, 'checkpoints', 'step-4') },
    resumes: [],
    workerPid: 2 ** 22 + 12345, // no such process
    futureField: 'unknown fields are tolerated',
  };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
  const metrics: MetricRecord[] = [1, 2, 3, 4, 5].map((step) => ({ step, loss: 5 - step / 2 }));
  writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m) + '\n').join('') + '{"step":6,"lo');
  writeFileSync(join(dir, 'samples.jsonl'), '');
  writeFileSync(join(dir, 'log.txt'), 'line one\n');
  mkdirSync(join(stateDir, 'runs', 'Not-A-Run'));
  mkdirSync(join(stateDir, 'runs', 'broken-run'));
  writeFileSync(join(stateDir, 'runs', 'broken-run', 'run.json'), '{ not json');
  // A stale daemon.json and lock from a daemon that no longer exists.
  writeFileSync(join(stateDir, 'daemon.json'), JSON.stringify({ pid: 2 ** 22 + 54321, port: 1, url: 'ws://127.0.0.1:1/' }));
  writeFileSync(join(stateDir, 'daemon.lock'), String(2 ** 22 + 54321));

  const daemon = await startTestDaemon(stateDir);
  t.after(() => stopTestDaemon(daemon));
  assert.equal(JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8')).pid, daemon.proc.pid, 'stale daemon.json taken over');
  const client = await connect(daemon);
  const { runs } = await client.connection.sendRequest(ListRuns.type, {});
  assert.deepEqual(runs.map((r) => r.id), [id]);
  const got = (await client.connection.sendRequest(GetRun.type, { runId: id })).run;
  assert.equal(got.status, 'interrupted');
  assert.equal(got.step, 5);
  assert.equal(got.checkpoint?.step, 4, 'the checkpoint the daemon heard about');

  const replayed: MetricRecord[] = [];
  client.on(RunMetricsNotification.type, (p) => void replayed.push(p.record));
  const sub = await client.connection.sendRequest(Subscribe.type, { runId: id, fromStep: 2 });
  assert.equal(sub.replayed.metrics, 4);
  assert.deepEqual(replayed, metrics.slice(1));
  assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), metrics.map((m) => JSON.stringify(m) + '\n').join(''), 'torn line cut');

  // Resume continues from the checkpoint the daemon heard about, drops the metrics after it, and
  // clears the unfinished checkpoint; here the data file is gone, so the run then fails saying so.
  const failed = waitForStatus(client, id, (r) => r.status === 'failed' || r.status === 'completed');
  const resumed = (await client.connection.sendRequest(ResumeRun.type, { runId: id })).run;
  assert.equal(resumed.checkpoint?.step, 4);
  assert.deepEqual(resumed.resumes.map((r) => r.fromStep), [4]);
  assert.deepEqual(readMetricsFile(stateDir, id), metrics.slice(0, 4));
  assert.equal(existsSync(join(dir, 'checkpoints', '.step-8.tmp-123')), false);
  const f = await failed;
  assert.equal(f.status, 'failed');
  assert.ok(f.error && f.error.length > 10, `a failed run says why: ${f.error}`);

  // A finished run can be deleted, folder and all; the junk folders beside it are left alone.
  await client.connection.sendRequest(DeleteRun.type, { runId: id });
  assert.equal(existsSync(dir), false);
  assert.equal((await client.connection.sendRequest(ListRuns.type, {})).runs.length, 0);
  assert.ok(existsSync(join(stateDir, 'runs', 'broken-run')));
  client.close();
});
