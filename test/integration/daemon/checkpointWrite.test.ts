// A checkpoint write that fails leaves no temporary folder behind (it would hold the disk space a
// full disk needs back). Checked on the engine's writer directly with a failing fill, and through the
// daemon with a real failure: a `step-N` folder the engine cannot replace (an immutable entry, chattr).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartRun, StopRun, Subscribe } from '../../../core/protocol/daemon.ts';
import { writeFolderAtomically } from '../../../daemon/engine/checkpoint.ts';
import { ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, waitForStatus } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

function recipe(dir: string, name: string, maxSteps: number, saveSteps: number): string {
  const path = join(dir, name);
  writeFileSync(path, ['model: tiny', 'stage: sft', 'data:', `  train: ${JSON.stringify(DATA)}`, `max_steps: ${maxSteps}`, `save_steps: ${saveSteps}`, 'per_device_train_batch_size: 2', 'max_length: 32', 'logging_steps: 1', ''].join('\n'));
  return path;
}

test('a failing fill removes its temporary folder and keeps the previous folder', (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'checkpoints', 'step-4');
  writeFolderAtomically(target, (tmp) => writeFileSync(join(tmp, 'a'), 'old'));
  assert.throws(() => writeFolderAtomically(target, (tmp) => {
    writeFileSync(join(tmp, 'a'), 'half');
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }), /ENOSPC/);
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['step-4']);
  assert.deepEqual(readdirSync(target), ['a']);
});

test('a checkpoint the engine cannot put in place fails the run and leaves no .step-N.tmp folder', async (t) => {
  // Registered first so it runs before the temp dirs are removed (after hooks run in order).
  const locked: string[] = [];
  t.after(() => {
    for (const p of locked) spawnSync('chattr', ['-i', p]);
  });
  const work = tempDir(t);
  const daemon = await startTestDaemon(tempDir(t));
  try {
    const client = await connect(daemon);
    // One run at a time: the second waits in the queue with its folder already on disk.
    const first = (await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: recipe(work, 'long.anneal.yaml', 100_000, 100_000) })).run;
    const second = (await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: recipe(work, 'short.anneal.yaml', 4, 2) })).run;
    assert.equal(second.status, 'queued');
    const checkpoints = join(daemon.stateDir, 'runs', second.id, 'checkpoints');
    // step-2 exists and cannot be removed, so the engine's rename of its finished temp folder fails.
    const stuck = join(checkpoints, 'step-2', 'stuck');
    mkdirSync(stuck, { recursive: true });
    writeFileSync(join(stuck, 'file'), 'x');
    const chattr = spawnSync('chattr', ['+i', stuck], { encoding: 'utf8' });
    assert.equal(chattr.status, 0, `chattr +i is needed for this test (root on ext4/xfs): ${chattr.stderr}`);
    locked.push(stuck);

    const ended = waitForStatus(client, second.id, (r) => r.status === 'completed' || r.status === 'failed');
    await client.connection.sendRequest(Subscribe.type, { runId: second.id });
    await client.connection.sendRequest(StopRun.type, { runId: first.id, force: true });
    const run = await ended;
    assert.equal(run.status, 'failed');
    assert.match(run.error ?? '', /step-2/, 'the error names the folder it could not replace');
    assert.deepEqual(readdirSync(checkpoints), ['step-2'], 'the temporary checkpoint folder was removed');
    client.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});
