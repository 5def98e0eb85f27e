// `runs/changed` reaches every initialized client, subscribed or not: a run another client starts
// appears, its status changes arrive, and its deletion is announced — what keeps run lists current.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteRun, RunsChangedNotification, StartRun } from '../../../core/protocol/daemon.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { ROOT, connect, startTestDaemon, stopTestDaemon, tempDir } from './helpers.ts';

test('a client that never subscribed sees runs appear, change and disappear', { timeout: 120_000 }, async () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const stateDir = tempDir({ after: (fn) => cleanups.push(fn) });
  const recipe = join(tempDir({ after: (fn) => cleanups.push(fn) }), 'two-steps.anneal.yaml');
  writeFileSync(recipe, ['model: tiny', 'stage: sft', 'data:', `  train: ${JSON.stringify(join(ROOT, 'examples/sft.jsonl'))}`, 'max_steps: 2', 'per_device_train_batch_size: 2', 'max_length: 32', ''].join('\n'));
  const daemon = await startTestDaemon(stateDir);
  cleanups.unshift(() => void stopTestDaemon(daemon));
  const starter = await connect(daemon);
  const watcher = await connect(daemon);

  const seen: RunInfo[] = [];
  let deleted: string | undefined;
  const completed = new Promise<void>((resolve) => {
    watcher.on(RunsChangedNotification.type, (p) => {
      if (p.run) seen.push(p.run);
      if (p.run?.status === 'completed') resolve();
    });
  });
  const gone = new Promise<void>((resolve) => {
    watcher.on(RunsChangedNotification.type, (p) => {
      if (p.deleted !== undefined) {
        deleted = p.deleted;
        resolve();
      }
    });
  });

  const { run } = await starter.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
  await completed;
  assert.ok(seen.every((r) => r.id === run.id), 'only the started run is announced');
  assert.equal(seen[0].status, 'queued', 'the new run is announced as it is queued');
  assert.ok(seen.some((r) => r.status === 'running'), 'status changes are announced');

  await starter.connection.sendRequest(DeleteRun.type, { runId: run.id });
  await gone;
  assert.equal(deleted, run.id);
  starter.close();
  watcher.close();
});
