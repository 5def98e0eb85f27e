// Checkpoints of real tiny runs: save_total_limit keeps the newest (and the best by eval loss),
// save_minutes writes checkpoints between distant save_steps, and a loss that turns NaN or infinite
// fails the run with the step and what to change, keeping the checkpoints from before it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartRun, Subscribe } from '../../../core/protocol/daemon.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { ROOT, connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, waitForStatus, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

/** Starts a run from a recipe written with `lines` and waits for its end. */
async function runRecipe(daemon: TestDaemon, dir: string, name: string, lines: string[], evalData?: string): Promise<RunInfo> {
  const recipe = join(dir, `${name}.anneal.yaml`);
  writeFileSync(recipe, ['model: tiny', 'stage: sft', 'data:', `  train: ${JSON.stringify(DATA)}`, ...(evalData ? [`  eval: ${JSON.stringify(evalData)}`] : []), 'per_device_train_batch_size: 4', 'max_length: 32', 'logging_steps: 1', ...lines, ''].join('\n'));
  const client = await connect(daemon);
  try {
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
    const ended = waitForStatus(client, run.id, (r) => ['completed', 'failed', 'stopped', 'interrupted'].includes(r.status));
    const sub = await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    return ['completed', 'failed', 'stopped', 'interrupted'].includes(sub.run.status) ? sub.run : await ended;
  } finally {
    client.close();
  }
}

const checkpointsOf = (daemon: TestDaemon, runId: string) =>
  readdirSync(join(daemon.stateDir, 'runs', runId, 'checkpoints')).sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')));

test('save_minutes checkpoints between distant save_steps; save_total_limit keeps the newest; the best by eval loss stays', async (t) => {
  const dir = tempDir(t);
  const daemon = await startTestDaemon(tempDir(t));
  try {
    // save_steps never comes within 6 steps; save_minutes (~1 ms) makes every step due.
    const timed = await runRecipe(daemon, dir, 'timed', ['max_steps: 6', 'save_steps: 1000', 'save_minutes: 0.00002', 'save_total_limit: 2', 'learning_rate: 0.005']);
    assert.equal(timed.status, 'completed', timed.message);
    assert.deepEqual(checkpointsOf(daemon, timed.id), ['step-5', 'step-6']);
    assert.match(readFileSync(join(daemon.stateDir, 'runs', timed.id, 'log.txt'), 'utf8'), /checkpoints: removed step 1\b/);

    // Evaluating every step: the newest and the step with the lowest eval/loss are what remain.
    const evaluated = await runRecipe(daemon, dir, 'evaluated', ['max_steps: 6', 'save_steps: 1', 'eval_steps: 1', 'save_total_limit: 1', 'learning_rate: 0.05'], DATA);
    assert.equal(evaluated.status, 'completed', evaluated.message);
    const evals = readMetricsFile(daemon.stateDir, evaluated.id).filter((r) => typeof r['eval/loss'] === 'number');
    assert.equal(evals.length, 6);
    const best = evals.reduce((a, b) => ((b['eval/loss'] as number) < (a['eval/loss'] as number) ? b : a));
    const expected = [...new Set([best.step, 6])].sort((a, b) => a - b).map((s) => `step-${s}`);
    assert.deepEqual(checkpointsOf(daemon, evaluated.id), expected);
  } finally {
    await stopTestDaemon(daemon);
  }
});

test('a loss that turns NaN or infinite fails the run at that step, with a hint, keeping the checkpoints before it', async (t) => {
  const dir = tempDir(t);
  const daemon = await startTestDaemon(tempDir(t));
  try {
    const run = await runRecipe(daemon, dir, 'explode', ['max_steps: 20', 'save_steps: 1', 'save_total_limit: 0', 'learning_rate: 1.0e+30', 'lr_scheduler_type: constant']);
    assert.equal(run.status, 'failed', run.message);
    const m = /Training broke down at step (\d+): the (loss|gradient norm) is (NaN|-?Infinity)/.exec(run.error ?? '');
    assert.ok(m, `unexpected error: ${run.error}`);
    assert.match(run.error!, /Lower the learning rate/);
    const broke = Number(m[1]);
    const saved = checkpointsOf(daemon, run.id).map((n) => Number(n.replace(/\D/g, '')));
    assert.deepEqual(saved, Array.from({ length: broke - 1 }, (_, i) => i + 1), 'a checkpoint was written at or after the broken step');
    assert.ok(!existsSync(join(daemon.stateDir, 'runs', run.id, 'output')), 'NaN weights were saved as the output');
    // The weights of the last checkpoint are finite: it is a good place to resume from with a lower rate.
    if (broke > 1) assert.match(run.error!, new RegExp(`last checkpoint \\(step ${broke - 1}\\) is kept`));
  } finally {
    await stopTestDaemon(daemon);
  }
});
