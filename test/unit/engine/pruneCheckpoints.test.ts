// save_total_limit on real folders: the newest N stay, the best by eval loss stays on top of them,
// anything else goes; 0 keeps all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneCheckpoints } from '../../../daemon/engine/checkpoint.ts';

function runWith(t: { after(fn: () => void): void }, checkpoints: Record<number, number | undefined>): string {
  const runDir = mkdtempSync(join(tmpdir(), 'anneal-prune-'));
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  for (const [step, evalLoss] of Object.entries(checkpoints)) {
    const dir = join(runDir, 'checkpoints', `step-${step}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ step: Number(step), ...(evalLoss === undefined ? {} : { evalLoss }) }));
  }
  mkdirSync(join(runDir, 'checkpoints', '.step-99.tmp-1'), { recursive: true }); // not a checkpoint: never counted
  return runDir;
}

const left = (runDir: string) => readdirSync(join(runDir, 'checkpoints')).filter((n) => !n.startsWith('.')).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));

test('keeps the newest N when nothing was evaluated (numeric order, not text order)', (t) => {
  const runDir = runWith(t, { 2: undefined, 4: undefined, 10: undefined, 20: undefined, 8: undefined });
  assert.deepEqual(pruneCheckpoints(runDir, 2), [2, 4, 8]);
  assert.deepEqual(left(runDir), ['step-10', 'step-20']);
});

test('keeps the best by eval loss as well as the newest', (t) => {
  const runDir = runWith(t, { 1: 2.5, 2: 1.1, 3: 1.7, 4: 1.9, 5: 2.2 });
  assert.deepEqual(pruneCheckpoints(runDir, 1), [1, 3, 4]);
  assert.deepEqual(left(runDir), ['step-2', 'step-5']);
});

test('the best being among the newest keeps exactly N', (t) => {
  const runDir = runWith(t, { 1: 2.5, 2: 2.1, 3: 1.0 });
  assert.deepEqual(pruneCheckpoints(runDir, 2), [1]);
  assert.deepEqual(left(runDir), ['step-2', 'step-3']);
});

test('0 (or no limit) keeps every checkpoint', (t) => {
  const runDir = runWith(t, { 1: undefined, 2: undefined, 3: undefined });
  assert.deepEqual(pruneCheckpoints(runDir, 0), []);
  assert.equal(left(runDir).length, 3);
});
