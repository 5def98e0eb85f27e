// Pipelines through a real daemon on the built-in tiny model: a recipe with `stages:` runs its stages
// as ordinary runs, one after another, each from the previous stage's output; a failed exit gate
// halts it with the last good output as its result; stop and resume, and a daemon killed with -9,
// continue it where it was.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetRun, ResumeRun, RunMetricsNotification, StartRun, StopRun, Subscribe } from '../../../core/protocol/daemon.ts';
import { GetPipeline, PipelineChangedNotification, type PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));
const stateDir = tempDir({ after: (fn) => cleanups.push(fn) });
let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon(stateDir);
});
after(() => stopTestDaemon(daemon));

const SFT = join(ROOT, 'examples/sft.jsonl');
const PAIRS = join(ROOT, 'examples/preference.jsonl');
/** Shared keys: LoRA, so each later stage continues the previous stage's adapter. */
const SHARED = `model: tiny\nlora: {r: 4, alpha: 8, target_modules: all-linear}\nlearning_rate: 1.0e-3\nper_device_train_batch_size: 4\nmax_length: 64\nlogging_steps: 1\nseed: 1\n`;

function recipe(dir: string, stages: string, extra = ''): string {
  const path = join(dir, `p${Math.random().toString(36).slice(2)}.anneal.yaml`);
  writeFileSync(path, `${SHARED}${extra}stages:\n${stages}`);
  return path;
}

const train = (path: string, dir = stateDir) => spawnSync(process.execPath, [CLI, 'train', '--config', path, '--json', '--state-dir', dir], { encoding: 'utf8', timeout: 180_000 });
const events = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const runJson = (dir: string, id: string) => JSON.parse(readFileSync(join(dir, 'runs', id, 'run.json'), 'utf8')) as RunInfo;
const pipelineJson = (dir: string, id: string) => (JSON.parse(readFileSync(join(dir, 'pipelines', id, 'pipeline.json'), 'utf8')) as { info: PipelineInfo }).info;

/** Resolves with the pipeline once `pred` holds (checked now, then on each change). */
async function waitForPipeline(client: DaemonClient, id: string, pred: (p: PipelineInfo) => boolean): Promise<PipelineInfo> {
  return new Promise((resolve, reject) => {
    const sub = client.on(PipelineChangedNotification.type, ({ pipeline }) => {
      if (pipeline.id === id && pred(pipeline)) {
        sub.dispose();
        resolve(pipeline);
      }
    });
    client.connection.sendRequest(GetPipeline.type, { pipelineId: id }).then(({ pipeline }) => {
      if (pred(pipeline)) {
        sub.dispose();
        resolve(pipeline);
      }
    }, reject);
    client.closed.then(() => reject(new Error('connection closed while waiting for the pipeline')));
  });
}

/** Resolves once `runId` logged a metric at `step` or later (its history replayed first). */
async function waitForStep(client: DaemonClient, runId: string, step: number): Promise<void> {
  const reached = new Promise<void>((resolve) => {
    const sub = client.on(RunMetricsNotification.type, (p) => {
      if (p.runId === runId && p.record.step >= step) {
        sub.dispose();
        resolve();
      }
    });
  });
  await client.connection.sendRequest(Subscribe.type, { runId, fromStep: 0 });
  await reached;
}

test('sft -> dpo: the second stage continues the first stage\'s adapter, and the CLI follows both', () => {
  const path = recipe(stateDir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 3}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 2}\n`);
  const out = train(path);
  assert.equal(out.status, 0, out.stderr);
  const lines = events(out.stdout);
  const stages = lines.filter((e) => e.event === 'stage');
  assert.deepEqual(stages.map((e) => e.name), ['sft', 'dpo']);
  // Each handover carries the stage's gate report.
  const handovers = lines.filter((e) => e.event === 'handover');
  assert.deepEqual(handovers.map((e) => e.name), ['sft', 'dpo']);
  assert.ok((handovers[1]!.gates as string[]).includes('entry (advice) data/pairs 23 vs >= 1000: fail (preference data > 1k pairs (seed 004))'), JSON.stringify(handovers[1]));
  const done = lines.find((e) => e.event === 'pipeline')!;
  assert.equal(done.status, 'completed');
  const p = pipelineJson(stateDir, String(stages[0]!.pipelineId));
  const [sft, dpo] = p.stages.map((s) => runJson(stateDir, s.runId!));
  assert.equal(sft!.status, 'completed');
  assert.equal(dpo!.model, sft!.outputDir, 'the dpo run starts from the sft run\'s output');
  assert.deepEqual(dpo!.pipeline, { id: p.id, index: 1, count: 2, name: 'dpo' });
  assert.match(readFileSync(join(stateDir, 'runs', dpo!.id, 'log.txt'), 'utf8'), /is a LoRA adapter \(r=4\); training continues it on its base model tiny/);
  assert.deepEqual(p.result, { stage: 'dpo', output: dpo!.outputDir });
  assert.ok(existsSync(join(sft!.outputDir!, 'adapter_config.json')));

  // `anneal runs` shows the stages under their pipeline.
  const runs = spawnSync(process.execPath, [CLI, 'runs', '--state-dir', stateDir], { encoding: 'utf8' });
  const rows = runs.stdout.split('\n');
  const at = rows.findIndex((r) => r.startsWith(p.id));
  assert.ok(at >= 0, runs.stdout);
  assert.match(rows[at]!, /completed\s+stage 2\/2\s+sft -> dpo/);
  assert.ok(rows[at + 1]!.startsWith(`  ${sft!.id}`) && rows[at + 2]!.startsWith(`  ${dpo!.id}`), runs.stdout);
});

test('a failed exit gate halts the pipeline: later stages never start, the result is the last good output', () => {
  const path = recipe(stateDir, [
    `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}`,
    `  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 2, gates: {exit: {loss: "< 0.0001"}}}`,
    `  - {stage: sft, name: polish, data: {train: ${SFT}}, max_steps: 2}`,
  ].join('\n') + '\n', `output_dir: ${join(stateDir, 'pipeline-out')}\n`);
  const out = train(path);
  assert.equal(out.status, 1, out.stdout + out.stderr);
  const error = events(out.stdout).find((e) => e.event === 'error')!;
  const p = pipelineJson(stateDir, String(error.pipelineId));
  assert.equal(p.status, 'halted');
  const sft = runJson(stateDir, p.stages[0]!.runId!);
  assert.deepEqual(p.result, { stage: 'sft', output: sft.outputDir });
  assert.equal(p.stages[1]!.status, 'held');
  assert.match(p.stages[1]!.verdict!.join(' '), /exit loss \S+ vs < 0\.0001: fail/);
  assert.equal(p.stages[2]!.status, 'pending');
  assert.equal(p.stages[2]!.runId, undefined);
  assert.match(p.message, new RegExp(`Stage 2/3 \\(dpo\\) did not pass its gates .*the last good stage's output, sft: ${sft.outputDir!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  assert.match(String(error.message), /did not pass its gates/);
  assert.match(readFileSync(join(stateDir, 'pipelines', p.id, 'log.txt'), 'utf8'), /halted: Stage 2\/3 \(dpo\)/);
  // The shared output_dir receives the result (the sft output), not the held dpo stage's.
  assert.equal(p.exportedTo, join(stateDir, 'pipeline-out'));
  assert.equal(JSON.parse(readFileSync(join(stateDir, 'pipeline-out', 'anneal-run.json'), 'utf8')).runId, sft.id);
  assert.equal(runJson(stateDir, p.stages[1]!.runId!).exportedTo, undefined);
});

test('a rollback in the first stage halts the pipeline with no trained result', () => {
  const path = recipe(stateDir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 3, gates: {rollback: {loss: "< 100"}}}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 2}\n`);
  const out = train(path);
  assert.equal(out.status, 1);
  const p = pipelineJson(stateDir, String(events(out.stdout).find((e) => e.event === 'error')!.pipelineId));
  assert.equal(p.status, 'halted');
  assert.equal(p.result, undefined);
  assert.match(p.message, /Rolled back at step 1: loss \S+ vs < 100: roll back.*no stage passed its gates/);
  assert.equal(p.stages[1]!.runId, undefined);
});

test('stop and resume in the middle of the second stage continue the pipeline from its checkpoint', { timeout: 180_000 }, async () => {
  const client = await connect(daemon);
  try {
    const path = recipe(stateDir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 40, save_steps: 1}\n`);
    const started = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: path });
    const id = started.pipeline!.id;
    const inDpo = await waitForPipeline(client, id, (p) => p.current === 1 && p.stages[1]!.runId !== undefined);
    const dpoRun = inDpo.stages[1]!.runId;
    await waitForStep(client, dpoRun!, 2);
    const stopped = await client.connection.sendRequest(StopRun.type, { runId: id });
    assert.equal(stopped.run.id, dpoRun);
    const p = await waitForPipeline(client, id, (x) => x.status === 'stopped');
    assert.equal(p.stages[1]!.status, 'stopped');
    const atStop = (await client.connection.sendRequest(GetRun.type, { runId: dpoRun! })).run;
    assert.ok(atStop.checkpoint && atStop.checkpoint.step >= 2 && atStop.checkpoint.step < 40, `checkpoint ${JSON.stringify(atStop.checkpoint)}`);

    // `anneal resume` on the stopped stage's run continues the pipeline, and follows it to its end.
    const cli = spawnSync(process.execPath, [CLI, 'resume', dpoRun!, '--json', '--state-dir', stateDir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(cli.status, 0, cli.stdout + cli.stderr);
    assert.equal(events(cli.stdout).find((e) => e.event === 'pipeline')?.status, 'completed');
    const done = await waitForPipeline(client, id, (x) => x.status !== 'running' && x.status !== 'stopped');
    assert.equal(done.status, 'completed', done.message);
    const dpo = runJson(stateDir, dpoRun!);
    assert.equal(dpo.step, 40);
    assert.deepEqual(dpo.resumes.map((r) => r.fromStep), [atStop.checkpoint!.step]);
    assert.equal(done.stages[0]!.runId, inDpo.stages[0]!.runId, 'the first stage is not run again');
    const log = spawnSync(process.execPath, [CLI, 'logs', id, '--state-dir', stateDir], { encoding: 'utf8' }).stdout;
    assert.match(log, /stopped: Stopped in stage 2\/2 \(dpo\) at step \d+/);
    assert.match(log, /completed: Completed: every stage passed its gates/);
  } finally {
    client.close();
  }
});

test('a daemon killed with -9 mid-pipeline comes back with it interrupted; resume finishes it', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  let d = await startTestDaemon(dir);
  let client = await connect(d);
  const path = recipe(dir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 30, save_steps: 1}\n`);
  const id = (await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: path })).pipeline!.id;
  const dpoRun = (await waitForPipeline(client, id, (p) => p.current === 1 && p.stages[1]!.runId !== undefined)).stages[1]!.runId;
  await waitForStep(client, dpoRun!, 2);
  d.proc.kill('SIGKILL');
  await d.exited;
  client.close();

  d = await startTestDaemon(dir);
  client = await connect(d);
  try {
    const back = (await client.connection.sendRequest(GetPipeline.type, { pipelineId: id })).pipeline;
    assert.equal(back.status, 'interrupted', back.message);
    assert.equal(back.current, 1);
    assert.equal((await client.connection.sendRequest(GetRun.type, { runId: dpoRun! })).run.status, 'interrupted');
    await client.connection.sendRequest(ResumeRun.type, { runId: id });
    const done = await waitForPipeline(client, id, (x) => x.status !== 'running' && x.status !== 'interrupted');
    assert.equal(done.status, 'completed', done.message);
    assert.equal(runJson(dir, dpoRun!).step, 30);
    assert.equal(runJson(dir, dpoRun!).resumes.length, 1);
  } finally {
    client.close();
    await stopTestDaemon(d);
  }
});

test('merge: true folds the previous adapter into its base before the stage', () => {
  const path = recipe(stateDir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}\n  - {stage: dpo, merge: true, data: {train: ${PAIRS}}, max_steps: 2}\n`);
  const out = train(path);
  assert.equal(out.status, 0, out.stderr);
  const p = pipelineJson(stateDir, String(events(out.stdout).find((e) => e.event === 'stage')!.pipelineId));
  const merged = join(stateDir, 'pipelines', p.id, 'merged-sft');
  assert.equal(runJson(stateDir, p.stages[1]!.runId!).model, merged);
  assert.ok(existsSync(join(merged, 'config.json')) && !existsSync(join(merged, 'adapter_config.json')));
  // The dpo stage trains a fresh adapter on the merged weights (the recipe's lora), not the sft adapter.
  assert.doesNotMatch(readFileSync(join(stateDir, 'runs', p.stages[1]!.runId!, 'log.txt'), 'utf8'), /is a LoRA adapter/);
});

test('the example pipeline recipe and its pairs validate clean', () => {
  const out = spawnSync(process.execPath, [CLI, 'validate', join(ROOT, 'examples/pipeline.anneal.yaml'), join(ROOT, 'examples/shout-pairs.jsonl')], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /2 files checked: 0 errors, 0 warnings/);
});

test('a daemon that ended between two stages finds the pipeline again: a completed stage hands over, a stage never started waits for resume', { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t);
  let d = await startTestDaemon(dir);
  const out = spawnSync(process.execPath, [CLI, 'train', '--config', recipe(dir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 2}\n`), '--json', '--state-dir', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(out.status, 0, out.stderr);
  await stopTestDaemon(d);
  const id = String(events(out.stdout).find((e) => e.event === 'stage')!.pipelineId);
  const file = join(dir, 'pipelines', id, 'pipeline.json');
  const stored = JSON.parse(readFileSync(file, 'utf8')) as { info: PipelineInfo };
  const dpoRun = stored.info.stages[1]!.runId!;
  // As a daemon killed right after the dpo run completed, before the pipeline heard of it, left it.
  const rewind = (stage: Partial<PipelineInfo['stages'][number]>) => {
    const info = { ...stored.info, status: 'running', current: 1, endedAt: undefined, stages: [stored.info.stages[0], { ...stored.info.stages[1], status: 'running', output: undefined, gates: undefined, ...stage }] };
    writeFileSync(file, JSON.stringify({ ...stored, info }));
  };
  rewind({});
  d = await startTestDaemon(dir);
  let client = await connect(d);
  try {
    const p = (await client.connection.sendRequest(GetPipeline.type, { pipelineId: id })).pipeline;
    assert.equal(p.status, 'completed', p.message);
    assert.equal(p.stages[1]!.output, runJson(dir, dpoRun).outputDir);
  } finally {
    client.close();
    await stopTestDaemon(d);
  }
  // As a daemon killed after the sft stage handed over, before the dpo run was created.
  rmSync(join(dir, 'runs', dpoRun), { recursive: true });
  rewind({ status: 'pending', runId: undefined, model: undefined });
  d = await startTestDaemon(dir);
  client = await connect(d);
  try {
    const p = (await client.connection.sendRequest(GetPipeline.type, { pipelineId: id })).pipeline;
    assert.equal(p.status, 'interrupted', p.message);
    assert.match(p.message, /before stage 2\/2 \(dpo\) started/);
    const resumed = await client.connection.sendRequest(ResumeRun.type, { runId: id });
    assert.equal(resumed.pipeline!.stages[1]!.runId, resumed.run.id);
    assert.equal(resumed.run.model, stored.info.stages[0]!.output, 'the new dpo run starts from the sft output');
    const done = await waitForPipeline(client, id, (x) => x.status !== 'running');
    assert.equal(done.status, 'completed', done.message);
  } finally {
    client.close();
    await stopTestDaemon(d);
  }
});

test('an entry gate that the data fails refuses the pipeline before any stage trains', () => {
  const path = recipe(stateDir, `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}\n  - {stage: dpo, data: {train: ${PAIRS}}, max_steps: 2, gates: {entry: {data/pairs: ">= 100"}}}\n`);
  const before = spawnSync(process.execPath, [CLI, 'runs', '--json', '--state-dir', stateDir], { encoding: 'utf8' }).stdout;
  const out = train(path);
  assert.equal(out.status, 1, out.stdout);
  // preference.jsonl holds 24 pairs (the engine later drops one longer than max_length).
  assert.match(out.stdout + out.stderr, /cannot start: its entry gates fail on the data \(dpo: data\/pairs 24 vs >= 100: fail/);
  assert.equal(spawnSync(process.execPath, [CLI, 'runs', '--json', '--state-dir', stateDir], { encoding: 'utf8' }).stdout, before, 'no run was created');
});

test('a reward stage trains from the base model and a later `@name` scores with its output; it is never the pipeline\'s result', () => {
  const path = recipe(stateDir, [
    `  - {stage: sft, data: {train: ${SFT}}, max_steps: 2}`,
    `  - {stage: reward, name: judge, data: {train: ${PAIRS}}, max_steps: 2, max_length: 256}`,
    `  - {stage: grpo, data: {train: ${join(ROOT, 'examples/prompts.jsonl')}}, rewards: [{name: judge, model: "@judge"}], num_generations: 2, per_device_train_batch_size: 2, max_completion_length: 8, max_steps: 2, gates: {defaults: false}}`,
  ].join('\n') + '\n');
  const out = train(path);
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const p = pipelineJson(stateDir, String(events(out.stdout).find((e) => e.event === 'stage')!.pipelineId));
  const [sft, judge, grpo] = p.stages.map((s) => runJson(stateDir, s.runId!));
  assert.equal(judge!.model, 'tiny', 'a reward stage starts from the top-level model');
  assert.equal(grpo!.model, sft!.outputDir, 'the policy continues from the last policy stage, past the reward stage');
  assert.equal(grpo!.rewards?.[0]?.model, judge!.outputDir);
  assert.deepEqual(p.result, { stage: 'grpo', output: grpo!.outputDir });
});
