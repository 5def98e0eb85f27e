// A full disk under a training run, on a real small tmpfs: the daemon never leaves a torn line in
// metrics.jsonl, holds the lines it could not write and writes them in order once space returns, and a
// restart repairs a stream file broken anywhere (not only at its end) and clears half-written checkpoints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DaemonErrorCodes, ListRuns, RunMetricsNotification, StartRun, Subscribe, GetRun } from '../../../core/protocol/daemon.ts';
import { ResponseError } from 'vscode-jsonrpc/node';
import type { MetricRecord } from '../../../core/protocol/runs.ts';
import { ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, waitForStatus } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

/** Mounts a tmpfs of `size` on `dir`; returns why not when this machine cannot (not root, no mount). */
function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs needs Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'mounting a tmpfs needs root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `mount -t tmpfs failed here: ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}

/** Writes a file until the file system is full (tmpfs: to the last byte a write can take). */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1024 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 120);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

test('disk full mid-run: no torn line, every step kept in order once space returns, the run says what happened', async (t) => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'anneal-tmpfs-'));
  const why = mountTmpfs(mountPoint, '48m');
  t.after(() => {
    if (!why) spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  if (why) return t.skip(why);
  const stateDir = join(mountPoint, 'state');
  const filler = join(mountPoint, 'filler');
  const daemon = await startTestDaemon(stateDir);
  try {
    const client = await connect(daemon);
    const seen: MetricRecord[] = [];
    let runId: string | undefined;
    let filled = false;
    let freed = false;
    let failedAt: number | undefined;
    client.on(RunMetricsNotification.type, (p) => {
      if (p.runId !== runId || !('loss' in p.record)) return;
      seen.push(p.record);
      // Live events still arrive while the disk is full: fill it after step 3; free it two steps after
      // the daemon first failed to write (a file's last page may take a few lines before that).
      if (p.record.step >= 3 && !filled) {
        filled = true;
        fillDisk(filler);
      } else if (filled && !freed && failedAt === undefined && daemon.stderr().includes('holding its lines in memory')) {
        failedAt = p.record.step;
      } else if (failedAt !== undefined && p.record.step >= failedAt + 2 && !freed) {
        freed = true;
        rmSync(filler, { force: true });
      }
    });
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: DATA }, args: { max_steps: 60, logging_steps: 1 } });
    runId = run.id;
    const done = waitForStatus(client, run.id, (r) => r.status !== 'queued' && r.status !== 'running' && r.status !== 'stopping');
    await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    const final = await done;
    assert.ok(filled && failedAt !== undefined && freed, `the disk was not filled, failed and freed during the run (failed at ${failedAt})`);
    assert.equal(final.status, 'completed', final.message);
    assert.equal(final.degraded, undefined);

    const text = readFileSync(join(stateDir, 'runs', run.id, 'metrics.jsonl'), 'utf8');
    assert.ok(text.endsWith('\n'));
    const records = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as MetricRecord);
    const train = records.filter((r) => 'loss' in r);
    assert.deepEqual(train.map((r) => r.step), Array.from({ length: 60 }, (_, i) => i + 1), 'a step is missing or out of order');
    assert.deepEqual(train, seen, 'the file differs from what was streamed');
    const log = readFileSync(join(stateDir, 'runs', run.id, 'log.txt'), 'utf8');
    assert.match(log, /the disk was full for a while: \d+ line\(s\) were held in memory and written once space returned/);
    assert.match(daemon.stderr(), /holding its lines in memory until the disk has space/);
    // The record the daemon serves agrees.
    assert.equal((await client.connection.sendRequest(GetRun.type, { runId: run.id })).run.step, 60);
    client.close();
  } finally {
    rmSync(filler, { force: true });
    await stopTestDaemon(daemon);
  }
});

test('runs/start on a full disk is answered with StorageFailed and a sentence, not raw ENOSPC text', async (t) => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'anneal-tmpfs-'));
  const why = mountTmpfs(mountPoint, '8m');
  t.after(() => {
    if (!why) spawnSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  if (why) return t.skip(why);
  const stateDir = join(mountPoint, 'state');
  const filler = join(mountPoint, 'filler');
  const daemon = await startTestDaemon(stateDir);
  try {
    const client = await connect(daemon);
    fillDisk(filler);
    let refused: ResponseError<unknown> | undefined;
    try {
      await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: DATA }, args: { max_steps: 1 } });
    } catch (err) {
      refused = err as ResponseError<unknown>;
    }
    assert.ok(refused, 'a run was created on a full disk');
    assert.equal(refused.code, DaemonErrorCodes.StorageFailed, refused.message);
    assert.match(refused.message, /is full; free some space and try again/);
    assert.doesNotMatch(refused.message, /ENOSPC/);
    rmSync(filler, { force: true });
    // No half-made run folder is left behind, and the daemon serves on.
    assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
    assert.deepEqual(readdirSync(join(stateDir, 'runs')), []);
    client.close();
  } finally {
    rmSync(filler, { force: true });
    await stopTestDaemon(daemon);
  }
});

test('a restart repairs a stream file broken anywhere and removes half-written checkpoint folders', async (t) => {
  const stateDir = tempDir(t);
  const id = 'sft-20260101-000000-beef';
  const dir = join(stateDir, 'runs', id);
  mkdirSync(join(dir, 'checkpoints', 'step-2'), { recursive: true });
  mkdirSync(join(dir, 'checkpoints', '.step-4.tmp-12345'), { recursive: true });
  writeFileSync(join(dir, 'checkpoints', '.step-4.tmp-12345', 'model.safetensors'), Buffer.alloc(1024));
  const line = (step: number) => JSON.stringify({ step, loss: 2 - step / 10 });
  // Step 3's line torn in the middle of the file (the next line glued onto it) and a torn tail.
  writeFileSync(join(dir, 'metrics.jsonl'), `${line(1)}\n${line(2)}\n{"step":3,"lo${line(4)}\n${line(5)}\n{"step":6,"loss":1.`);
  writeFileSync(join(dir, 'samples.jsonl'), '');
  writeFileSync(join(dir, 'log.txt'), 'one\ntwo\nthr');
  const run = { id, stage: 'sft', status: 'interrupted', createdAt: '2026-01-01T00:00:00.000Z', model: 'tiny', data: { train: DATA }, args: { max_steps: 10 }, lora: null, step: 0, resumes: [] };
  writeFileSync(join(dir, 'run.json'), JSON.stringify(run));

  const daemon = await startTestDaemon(stateDir);
  try {
    const client = await connect(daemon);
    const got = (await client.connection.sendRequest(GetRun.type, { runId: id })).run;
    assert.equal(got.step, 5);
    const kept = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    assert.equal(kept, `${line(1)}\n${line(2)}\n${line(5)}\n`);
    assert.equal(readFileSync(join(dir, 'log.txt'), 'utf8'), 'one\ntwo\n');
    assert.ok(!existsSync(join(dir, 'checkpoints', '.step-4.tmp-12345')), 'the half-written checkpoint is still there');
    assert.ok(existsSync(join(dir, 'checkpoints', 'step-2')));
    assert.match(daemon.stderr(), /dropped 2 broken line\(s\) of metrics\.jsonl/);
    assert.match(daemon.stderr(), /removed 1 half-written checkpoint folder/);
    client.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});
