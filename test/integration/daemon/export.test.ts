// A recipe's output_dir: the run's own output/ stays the source of truth, and on completion the final
// output is also copied to output_dir (relative to the recipe), atomically. A folder Anneal wrote
// before (it carries anneal-run.json) is replaced by the newer output; anyone else's is left alone.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartRun, Subscribe } from '../../../core/protocol/daemon.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import { ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, waitForStatus, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

function writeRecipe(dir: string, name: string, outputDir: string): string {
  const path = join(dir, name);
  writeFileSync(path, ['model: tiny', 'stage: sft', 'data:', `  train: ${JSON.stringify(DATA)}`, `output_dir: ${outputDir}`, 'max_steps: 3', 'per_device_train_batch_size: 2', 'max_length: 32', 'logging_steps: 1', ''].join('\n'));
  return path;
}

/** Starts a run of `recipe` and resolves with its final record. */
async function train(client: DaemonClient, recipe: string): Promise<{ run: RunInfo }> {
  const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
  const isOver = (r: RunInfo) => r.status === 'completed' || r.status === 'failed';
  const ended = waitForStatus(client, run.id, isOver);
  const subscribed = (await client.connection.sendRequest(Subscribe.type, { runId: run.id })).run;
  const final = isOver(subscribed) ? subscribed : await ended;
  assert.equal(final.status, 'completed', final.error);
  return { run: final };
}

const files = (dir: string) => readdirSync(dir).sort();

describe('recipe output_dir', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const scratch = () => tempDir({ after: (fn) => cleanups.push(fn) });
  let daemon: TestDaemon;
  let client: DaemonClient;
  const work = scratch();

  test('a completed run copies its output to output_dir and reports exportedTo; a rerun replaces it', async () => {
    // Forcing the backend the ladder would pick anyway checks that the setting reaches the run.
    daemon = await startTestDaemon(scratch(), ['--backend', 'wasm']);
    cleanups.unshift(() => void stopTestDaemon(daemon));
    client = await connect(daemon);
    const recipe = writeRecipe(work, 'a.anneal.yaml', 'out/sft');
    const target = join(work, 'out', 'sft');

    const { run } = await train(client, recipe);
    assert.deepEqual(run.backend, { name: 'wasm', device: run.backend!.device, skipped: [] }, 'the forced backend, nothing walked');
    assert.equal(run.exportDir, target);
    assert.equal(run.exportedTo, target);
    assert.equal(run.outputDir, join(daemon.stateDir, 'runs', run.id, 'output'), 'output/ stays the source of truth');
    assert.match(run.message ?? '', /Copied to .*out\/sft/);
    assert.deepEqual(files(target), [...files(run.outputDir!), 'anneal-run.json'].sort());
    for (const f of files(run.outputDir!)) assert.ok(readFileSync(join(target, f)).equals(readFileSync(join(run.outputDir!, f))), `${f} differs`);
    const marker = JSON.parse(readFileSync(join(target, 'anneal-run.json'), 'utf8'));
    assert.equal(marker.runId, run.id);
    assert.equal(marker.step, 3);
    const log = readFileSync(join(daemon.stateDir, 'runs', run.id, 'log.txt'), 'utf8');
    assert.match(log, /output copied to .*out\/sft \(output_dir\)/);

    // The same recipe again: the folder is ours (it has the marker), so the newer output replaces it.
    const second = (await train(client, recipe)).run;
    assert.equal(second.exportedTo, target);
    assert.equal(JSON.parse(readFileSync(join(target, 'anneal-run.json'), 'utf8')).runId, second.id);
    assert.deepEqual(files(work), ['a.anneal.yaml', 'out']);
    assert.deepEqual(files(join(work, 'out')), ['sft'], 'no temporary or set-aside folders are left');
  });

  test("a folder Anneal did not write is left untouched, and the run log says so", async () => {
    const mine = join(work, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'my own files\n');
    const recipe = writeRecipe(work, 'b.anneal.yaml', 'mine');
    const { run } = await train(client, recipe);
    assert.equal(run.status, 'completed', 'the training itself succeeded');
    assert.equal(run.exportedTo, undefined);
    assert.match(run.message ?? '', /already holds files Anneal did not write .*left untouched/);
    assert.deepEqual(files(mine), ['notes.txt']);
    assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'my own files\n');
    assert.ok(files(run.outputDir!).length > 0, 'the output is still in the run folder');
    const log = readFileSync(join(daemon.stateDir, 'runs', run.id, 'log.txt'), 'utf8');
    assert.match(log, /output not copied: output_dir .*mine already holds files Anneal did not write/);
    assert.ok(!files(work).some((f) => f.startsWith('.')), `temporary folders left: ${files(work)}`);
    client.close();
    await stopTestDaemon(daemon);
  });
});
