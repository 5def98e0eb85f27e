// A recipe's `export:` block through a real daemon on the built-in tiny model: once the run completes
// (a pipeline: once it ends with a result) each export is written by `anneal export` in a child
// process, logged into the run's (pipeline's) log, and recorded on its record; a failed export is
// reported and leaves the run completed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartRun } from '../../../core/protocol/daemon.ts';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RecipeExportRecord, RunInfo } from '../../../core/protocol/runs.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((fn) => fn()));
const stateDir = tempDir({ after: (fn) => cleanups.push(fn) });
const work = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-export-recipe-');
let daemon: TestDaemon;
before(async () => {
  daemon = await startTestDaemon(stateDir);
});
after(() => stopTestDaemon(daemon));

const SFT = join(ROOT, 'examples/sft.jsonl');
const SHARED = ['model: tiny', 'lora: {r: 4, alpha: 8, target_modules: all-linear}', 'learning_rate: 1.0e-3', 'per_device_train_batch_size: 2', 'max_length: 32', 'logging_steps: 1', 'seed: 1'];

/** The single run `anneal train` followed (for the export without llama.cpp). */
let singleRun = '';

const ended = (records: RecipeExportRecord[] | undefined) => records !== undefined && records.every((r) => r.status === 'done' || r.status === 'failed');

/** Reads `file` (a run.json or pipeline.json) until `pred` holds. */
async function until<T>(read: () => T, pred: (v: T) => boolean, what: string, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

const runJson = (id: string) => JSON.parse(readFileSync(join(stateDir, 'runs', id, 'run.json'), 'utf8')) as RunInfo;
const pipelineJson = (id: string) => (JSON.parse(readFileSync(join(stateDir, 'pipelines', id, 'pipeline.json'), 'utf8')) as { info: PipelineInfo }).info;

test('a completed run writes its recipe\'s exports: a merged folder and a GGUF with its Modelfile; a refused one is reported', async () => {
  mkdirSync(join(work, 'foreign'));
  writeFileSync(join(work, 'foreign', 'notes.txt'), 'mine\n');
  const recipe = join(work, 'run.anneal.yaml');
  writeFileSync(recipe, [...SHARED, 'stage: sft', `data: {train: ${JSON.stringify(SFT)}}`, 'max_steps: 2', 'export:', '  - {format: merged}', '  - {format: gguf, quant: f16, out: dist/gguf}', '  - {format: peft, out: foreign}', ''].join('\n'));
  const client = await connect(daemon);
  cleanups.unshift(() => client.close());
  const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
  assert.deepEqual(run.exports?.map((r) => [r.format, r.quant, r.out, r.status]), [
    ['merged', undefined, join(stateDir, 'runs', run.id, 'exports', 'merged'), 'pending'],
    ['gguf', 'f16', join(work, 'dist/gguf'), 'pending'],
    ['peft', undefined, join(work, 'foreign'), 'pending'],
  ]);
  const final = await until(() => runJson(run.id), (r) => r.status === 'failed' || (r.status === 'completed' && ended(r.exports)), 'the run and its exports');
  assert.equal(final.status, 'completed', final.error);
  const [merged, gguf, peft] = final.exports!;
  assert.equal(merged!.status, 'done', merged!.error);
  for (const f of ['config.json', 'model.safetensors']) assert.ok(existsSync(join(merged!.out, f)), `merged ${f}`);
  assert.ok(merged!.files!.includes('model.safetensors'));
  assert.equal(gguf!.status, 'done', gguf!.error);
  const ggufFiles = readdirSync(gguf!.out);
  assert.ok(ggufFiles.some((f) => f.endsWith('.gguf')), ggufFiles.join(' '));
  assert.ok(ggufFiles.includes('Modelfile'), ggufFiles.join(' '));
  assert.equal(JSON.parse(readFileSync(join(gguf!.out, 'anneal-run.json'), 'utf8')).runId, run.id);
  // Someone else's folder is never written over: that export fails, the run stays completed.
  assert.equal(peft!.status, 'failed');
  assert.match(peft!.error!, /already holds files Anneal did not write/);
  assert.deepEqual(readdirSync(join(work, 'foreign')), ['notes.txt']);
  assert.match(final.message!, /Completed 2 steps; .*Exported merged to .*, gguf \(f16\) to .*dist\/gguf\. The peft export failed/);
  const log = readFileSync(join(stateDir, 'runs', run.id, 'log.txt'), 'utf8');
  assert.match(log, /\[anneal\] export merged of .*output to .*exports\/merged/);
  assert.match(log, /\[anneal\] exported merged to .*exports\/merged: .*model\.safetensors/);
  assert.match(log, /\[anneal\] exported gguf \(f16\) to .*dist\/gguf: .*\.gguf.*/);
  assert.match(log, /\[anneal\] export peft failed: /);
});

/** Greedy samples at step 0 and at the end: each stage's answers before and after, and the prompts llama.cpp is asked. */
const SAMPLES = 'samples: {prompts: ["Shout kotaru", "Shout mibelo"], every_steps: 2, max_new_tokens: 6, temperature: 0}';

test('a pipeline exports its result once it completes (checked by llama.cpp), its stages export nothing, and each stage records its answers before and after', async () => {
  const recipe = join(work, 'pipeline.anneal.yaml');
  writeFileSync(recipe, [...SHARED, SAMPLES, 'export: {format: gguf, quant: q8_0}', 'stages:', `  - {stage: sft, data: {train: ${JSON.stringify(SFT)}}, max_steps: 2}`, `  - {stage: sft, name: polish, data: {train: ${JSON.stringify(SFT)}}, max_steps: 2}`, ''].join('\n'));
  const out = spawnSync(process.execPath, [CLI, 'train', '--config', recipe, '--json', '--state-dir', stateDir], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const id = String(out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.pipelineId)!.pipelineId);
  const p = await until(() => pipelineJson(id), (q) => ended(q.exports), 'the pipeline\'s exports');
  assert.equal(p.status, 'completed');
  const [gguf] = p.exports!;
  assert.equal(gguf!.status, 'done', gguf!.error);
  assert.equal(gguf!.out, join(stateDir, 'pipelines', id, 'exports', 'gguf-q8_0'));
  assert.ok(readdirSync(gguf!.out).some((f) => f.endsWith('.gguf')));
  const polish = runJson(p.stages[1]!.runId!);
  assert.equal(JSON.parse(readFileSync(join(gguf!.out, 'anneal-run.json'), 'utf8')).source, polish.outputDir, 'the result: the last stage\'s output');
  for (const s of p.stages) assert.equal(runJson(s.runId!).exports, undefined, s.name);
  assert.match(p.message, /Exported gguf \(q8_0\) to /);
  assert.match(readFileSync(join(stateDir, 'pipelines', id, 'log.txt'), 'utf8'), /exported gguf \(q8_0\) to .*gguf-q8_0: .*\.gguf/);

  // Each stage's answers: its run's step-0 sample beside its last, as the samples file has them.
  const events = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const s of p.stages) {
    const samples = readFileSync(join(stateDir, 'runs', s.runId!, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; prompt: string; completion: string });
    const at = (step: number, prompt: string) => samples.find((r) => r.step === step && r.prompt === prompt)!.completion;
    assert.deepEqual(s.answers, ['Shout kotaru', 'Shout mibelo'].map((prompt) => ({ prompt, before: at(0, prompt), after: at(2, prompt), steps: [0, 2] })), s.name);
    assert.deepEqual(events.find((e) => e.event === 'handover' && e.name === s.name)?.answers, s.answers, 'the CLI hands the answers on');
  }
  // The second stage starts where the first ended: its "before" is the first stage's "after".
  assert.deepEqual(p.stages[1]!.answers!.map((a) => a.before), p.stages[0]!.answers!.map((a) => a.after));

  // llama.cpp ran the GGUF on the sample prompts; Anneal decoded the same file; the final samples were greedy, so they are compared too.
  const check = gguf!.llamaCheck!;
  assert.ok(check, 'the GGUF export carries its llama.cpp check');
  assert.deepEqual(check.prompts!.map((c) => c.prompt), ['Shout kotaru', 'Shout mibelo']);
  for (const c of check.prompts!) {
    assert.equal(c.same, c.anneal === c.llamaCpp, `${c.prompt}: ${JSON.stringify(c)}`);
    assert.equal(typeof c.sameAsTrained, 'boolean', 'compared with the trained model\'s final greedy sample');
  }
  assert.equal(check.status, 'same', check.summary);
  assert.match(check.summary, /^llama\.cpp gives Anneal's answers on 2\/2 prompts \(greedy, up to 6 new tokens/);
  assert.match(check.summary, /The GGUF keeps the trained model's final greedy samples on \d\/2 prompts/);
  assert.deepEqual(events.find((e) => e.event === 'export')?.llamaCheck, check);
});

test('anneal train on a single run waits for its recipe\'s export and says where it went, with llama.cpp\'s check', () => {
  const recipe = join(work, 'single.anneal.yaml');
  writeFileSync(recipe, [...SHARED, SAMPLES, 'stage: sft', `data: {train: ${JSON.stringify(SFT)}}`, 'max_steps: 2', 'export: {format: gguf, quant: q8_0, out: single-gguf}', ''].join('\n'));
  const out = spawnSync(process.execPath, [CLI, 'train', '--config', recipe, '--state-dir', stateDir], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const gguf = join(work, 'single-gguf');
  assert.match(out.stdout, /Run \S+ completed at step 2; output in /);
  assert.match(out.stdout, new RegExp(`Exported gguf \\(q8_0\\) to ${gguf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\S+-q8_0\\.gguf, Modelfile\\n  llama\\.cpp gives Anneal's answers on \\d/2 prompts`));
  // Printed once the export was written, not before.
  assert.ok(readdirSync(gguf).some((f) => f.endsWith('.gguf')));
  singleRun = /Run (\S+) started/.exec(out.stdout)![1]!;
});

test('where node-llama-cpp cannot be loaded (the bundles without node_modules, as a packaged extension has them), the GGUF export says the check was skipped and why', () => {
  // The CLI's bundles alone, outside the repository: nothing resolves node-llama-cpp from there.
  const bare = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-bare-cli-');
  mkdirSync(join(bare, 'dist'));
  for (const f of ['cli.js', 'cliAll.js']) copyFileSync(join(ROOT, 'dist', f), join(bare, 'dist', f));
  const out = spawnSync(process.execPath, [join(bare, 'dist/cli.js'), 'export', join(stateDir, 'runs', singleRun), '--format', 'gguf', '--quant', 'q8_0', '--out', join(bare, 'gguf'), '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.status, 0, out.stdout + out.stderr);
  const events = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; check?: { status: string; summary: string } });
  const check = events.find((e) => e.event === 'llama-check')?.check;
  assert.equal(check?.status, 'skipped');
  assert.match(check!.summary, /^llama\.cpp check skipped: node-llama-cpp is not installed beside Anneal \(a packaged extension leaves it out\); `npm install node-llama-cpp`/);
  assert.ok(events.some((e) => e.event === 'done'), 'the export itself is done');
});
