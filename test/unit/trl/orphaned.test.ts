// What a resumed TRL run takes up from trl/orphaned.log (the TRL processes' events after a kill -9 of
// the daemon): the metrics after the recorded checkpoint and the newest complete checkpoint, only when
// no logged step is missing; the log is read once.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointStep, takeOrphanedWork } from '../../../daemon/trl/orphaned.ts';

const event = (e: object) => `@anneal ${JSON.stringify(e)}`;

function runDir(lines: string[], checkpoints: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-orphaned-'));
  mkdirSync(join(dir, 'trl'));
  for (const step of checkpoints) {
    mkdirSync(join(dir, 'checkpoints', `step-${step}`), { recursive: true });
    writeFileSync(join(dir, 'checkpoints', `step-${step}`, 'trainer_state.json'), '{}');
  }
  writeFileSync(join(dir, 'trl', 'orphaned.log'), lines.join('\n') + '\n');
  return dir;
}

const metrics = (step: number) => event({ kind: 'metrics', step, metrics: { loss: 1 / step, grad_norm: null } });
const checkpoint = (dir: string, step: number) => event({ kind: 'checkpoint', step, path: join(dir, 'checkpoints', `step-${step}`) });

test('the steps after the recorded checkpoint and the checkpoint saved after the kill are taken up, once', () => {
  const dir = runDir([], [6, 8]);
  writeFileSync(join(dir, 'trl', 'orphaned.log'), [metrics(5), metrics(6), 'Writing model shards: 100%', checkpoint(dir, 6), metrics(7), metrics(8), checkpoint(dir, 8), metrics(9), event({ kind: 'stopped', step: 9 })].join('\n'));
  const work = takeOrphanedWork(dir, 6, 1);
  assert.ok(work && !('reason' in work));
  assert.deepEqual(work.metrics, [{ step: 7, loss: 1 / 7 }, { step: 8, loss: 1 / 8 }]);
  assert.deepEqual(work.checkpoint, { step: 8, path: join(dir, 'checkpoints', 'step-8') });
  assert.equal(existsSync(join(dir, 'trl', 'orphaned.log')), false);
  assert.equal(takeOrphanedWork(dir, 6, 1), undefined, 'read once');
});

test('a logged step lost with the dying worker, or no newer complete checkpoint: declined with the reason', () => {
  const gap = runDir([], [8]);
  writeFileSync(join(gap, 'trl', 'orphaned.log'), [metrics(8), checkpoint(gap, 8)].join('\n'));
  assert.deepEqual(takeOrphanedWork(gap, 6, 1), { reason: "step 7's metrics were lost with the daemon, so the history would have a gap" });
  // Logged every 2 steps: 8 is the only one expected after 6.
  const sparse = runDir([], [8]);
  writeFileSync(join(sparse, 'trl', 'orphaned.log'), [metrics(8), checkpoint(sparse, 8)].join('\n'));
  assert.equal((takeOrphanedWork(sparse, 6, 2) as { checkpoint: { step: number } }).checkpoint.step, 8);
  const half = runDir([], []);
  writeFileSync(join(half, 'trl', 'orphaned.log'), [metrics(7), checkpoint(half, 7)].join('\n'));
  assert.deepEqual(takeOrphanedWork(half, 6, 1), { reason: 'no checkpoint newer than the recorded one was saved after the daemon stopped' });
});

test('checkpointStep reads step-N paths', () => {
  assert.equal(checkpointStep('/s/runs/r/checkpoints/step-12'), 12);
  assert.equal(checkpointStep(undefined), 0);
});
