// `anneal export` end to end on a real daemon: a 3-step LoRA SFT run of the built-in tiny model,
// exported through the `runs/export` request (GGUF q8_0, progress notifications) and through the CLI
// (merged, peft, gguf-lora; the default folder under the run) and q4_k_m, with llama.cpp (node-llama-cpp)
// giving Anneal's greedy tokens on the run's own output and on the q4_k_m file; and the refusals a user meets, each one sentence, up front.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, ExportProgressNotification, ExportRun, GetRun, StartRun, Subscribe, type ExportProgress } from '../../../core/protocol/daemon.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import { useBackend } from '../../unit/engine/helpers.ts';
import { llamaCppRun } from '../../unit/export/llamaCpp.ts';
import { annealReference, PROMPTS } from '../../unit/export/reference.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, waitForStatus, type TestDaemon } from '../daemon/helpers.ts';

const DATA = join(ROOT, 'test/fixtures/export/identity.jsonl');

/** Runs the CLI; returns its exit code and output. */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('anneal export on a daemon run', () => {
  const work = mkdtempSync(join(tmpdir(), 'anneal-export-int-'));
  let daemon: TestDaemon;
  let client: DaemonClient;
  let run: RunInfo;

  before(async () => {
    await useBackend();
    daemon = await startTestDaemon(join(work, 'state'));
    client = await connect(daemon);
    const recipe = join(work, 'lora.anneal.yaml');
    writeFileSync(recipe, ['model: tiny', 'stage: sft', 'data:', `  train: ${JSON.stringify(DATA)}`, 'lora:', '  r: 8', '  alpha: 16', 'max_steps: 3', 'learning_rate: 0.01', 'per_device_train_batch_size: 8', 'max_length: 64', 'logging_steps: 1', ''].join('\n'));
    const started = (await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe })).run;
    const isOver = (r: RunInfo) => r.status === 'completed' || r.status === 'failed';
    const ended = waitForStatus(client, started.id, isOver);
    const subscribed = (await client.connection.sendRequest(Subscribe.type, { runId: started.id })).run;
    run = isOver(subscribed) ? subscribed : await ended;
    assert.equal(run.status, 'completed', run.error);
  });
  after(async () => {
    client?.close();
    if (daemon) await stopTestDaemon(daemon);
    rmSync(work, { recursive: true, force: true });
  });

  test('runs/export writes a q8_0 GGUF + Modelfile that llama.cpp continues with Anneal\'s greedy tokens', async () => {
    const progress: ExportProgress[] = [];
    client.on(ExportProgressNotification.type, (p) => progress.push(p));
    const out = join(work, 'gguf');
    const result = await client.connection.sendRequest(ExportRun.type, { run: run.id, format: 'gguf', quant: 'q8_0', out, progressToken: 't1' });
    assert.equal(result.runId, run.id);
    assert.equal(result.outDir, out);
    assert.deepEqual(result.files, [`${run.id}-q8_0.gguf`, 'Modelfile']);
    assert.deepEqual(readdirSync(out).sort(), ['Modelfile', `${run.id}-q8_0.gguf`]);
    assert.deepEqual(result.merged, { modules: 28, r: 8, alpha: 16, base: 'tiny' });
    assert.ok(progress.some((p) => p.token === 't1' && p.phase === 'writing' && p.done === p.total), 'progress up to the last tensor');
    // The daemon ran the file in llama.cpp after writing it, and lists the export on the run (the editor's Runs view shows it).
    assert.ok(result.llamaCheck, 'the llama.cpp check came back with the result');
    console.log(`llama.cpp check: ${result.llamaCheck!.status}: ${result.llamaCheck!.summary.split('\n')[0]}`);
    const listed = (await client.connection.sendRequest(GetRun.type, { runId: run.id })).run.exports;
    assert.deepEqual(listed, [{ format: 'gguf', quant: 'q8_0', out, status: 'done', files: result.files, llamaCheck: result.llamaCheck }]);

    const reference = await annealReference(run.outputDir!, run.args.seed);
    const { results } = await llamaCppRun(result.gguf!, PROMPTS.conversations, reference.map((r) => r.text), 8);
    results.forEach((r, i) => {
      assert.deepEqual(r.templateIds, reference[i]!.ids);
      assert.deepEqual(r.greedy, reference[i]!.greedy.slice(0, 8), `conversation ${i} (Anneal's margins ${reference[i]!.margins.slice(0, 8).map((m) => m.toFixed(3))})`);
    });
    console.log(`3-step run ${run.id}: llama.cpp q8_0 greedy = Anneal greedy on ${results.length} prompts x ${results.map((r) => r.greedy.length).join('/')} tokens (smallest top-2 margin ${Math.min(...reference.flatMap((r) => r.margins.slice(0, 8))).toFixed(3)})`);
  });

  test('runs/export q4_k_m: rows of 128 fall back as llama-quantize does, and llama.cpp gives Anneal\'s greedy tokens on the file', async () => {
    const result = await client.connection.sendRequest(ExportRun.type, { run: run.id, format: 'gguf', quant: 'q4_k_m' });
    assert.equal(result.outDir, join(daemon.stateDir, 'runs', run.id, 'exports', 'gguf-q4_k_m'));
    assert.match(result.notes.join(' '), /rows that are not whole q4_k_m blocks, stored as llama-quantize stores them: .*as Q5_0 .*as Q8_0/);
    const onFile = await annealReference(result.gguf!, run.args.seed);
    const { results } = await llamaCppRun(result.gguf!, PROMPTS.conversations, onFile.map((r) => r.text), 8);
    results.forEach((r, i) => assert.deepEqual(r.greedy, onFile[i]!.greedy.slice(0, 8), `conversation ${i} (Anneal's margins ${onFile[i]!.margins.slice(0, 8).map((m) => m.toFixed(3))})`));
  });

  test('the CLI exports the adapter as gguf-lora', () => {
    const r = cli(['export', run.id, '--format', 'gguf-lora', '--state-dir', daemon.stateDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /as a GGUF LoRA adapter \(f16\) to .*exports\/gguf-lora/);
    assert.match(r.stdout, /llama-cli -m BASE.gguf --lora /);
    assert.deepEqual(readdirSync(join(daemon.stateDir, 'runs', run.id, 'exports', 'gguf-lora')), [`${run.id}-lora-f16.gguf`]);
  });

  test('the CLI exports merged and peft into the run\'s exports/ folder, and refuses to write over it', () => {
    const merged = cli(['export', run.id, '--format', 'merged', '--state-dir', daemon.stateDir]);
    assert.equal(merged.status, 0, merged.stderr);
    const dir = join(daemon.stateDir, 'runs', run.id, 'exports', 'merged');
    assert.match(merged.stdout, /Exported run .* as a merged Hugging Face model to .*exports\/merged/);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const again = cli(['export', run.id, '--format', 'merged', '--state-dir', daemon.stateDir]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists and is not empty; name a new or empty folder/);

    const peft = cli(['export', run.id, '--format', 'peft', '--state-dir', daemon.stateDir, '--json']);
    assert.equal(peft.status, 0, peft.stderr);
    const done = peft.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
    assert.deepEqual(done.result.files, ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  });

  test('a run with no output exports its newest checkpoint, and says so', () => {
    // A run folder as a stopped run leaves it: run.json, checkpoints/step-N/ (adapter + optimizer state), no output/.
    const runDir = join(work, 'stopped-run');
    mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
    writeFileSync(join(runDir, 'run.json'), JSON.stringify({ ...run, id: 'sft-stopped', status: 'stopped', outputDir: undefined }));
    for (const step of [1, 2]) {
      mkdirSync(join(runDir, 'checkpoints', `step-${step}`));
      for (const f of ['adapter_config.json', 'adapter_model.safetensors']) cpSync(join(run.outputDir!, f), join(runDir, 'checkpoints', `step-${step}`, f));
      writeFileSync(join(runDir, 'checkpoints', `step-${step}`, 'optimizer.safetensors'), '');
    }
    const r = cli(['export', runDir, '--format', 'peft', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const done = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'done');
    assert.equal(done.result.checkpointStep, 2);
    assert.match(done.result.notes.join(' '), /no final output; exported its newest checkpoint \(step 2\)/);
    assert.deepEqual(readdirSync(done.result.outDir).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json', 'tokenizer_config.json'], 'optimizer state left out, the base\'s tokenizer added');
  });

  test('bad input is refused up front, in one sentence', async () => {
    const empty = join(work, 'failed-run');
    mkdirSync(empty);
    writeFileSync(join(empty, 'run.json'), JSON.stringify({ ...run, id: 'sft-failed', status: 'failed', outputDir: undefined }));
    const refusals: [string[], RegExp][] = [
      [[empty, '--format', 'gguf'], /Run sft-failed has no weights to export: it has no output\/ and no checkpoint \(status failed\)/],
      [[run.id, '--format', 'gguf', '--quant', 'q3_k_m', '--state-dir', daemon.stateDir], /GGUF quantization "q3_k_m" is not supported; choose one of f32, f16, bf16, q8_0, .*q4_k_m/],
      [[run.id, '--format', 'gguf-lora', '--quant', 'q4_k_m', '--state-dir', daemon.stateDir], /--quant q4_k_m is not an encoding of a GGUF adapter; choose f16 or f32/],
      [[run.id, '--format', 'gguf', '--out', join(work, 'gguf'), '--state-dir', daemon.stateDir], /already exists and is not empty/],
      [['sft-nope', '--format', 'merged', '--state-dir', daemon.stateDir], /There is no run sft-nope/],
      [[run.id, '--format', 'safetensors', '--state-dir', daemon.stateDir], /--format safetensors is not an export format; choose peft/],
    ];
    for (const [args, message] of refusals) {
      const r = cli(['export', ...args]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    assert.ok(!existsSync(join(daemon.stateDir, 'runs', run.id, 'exports', 'gguf-q3_k_m')), 'nothing written');

    // The same refusals through the daemon carry ExportFailed; a malformed request InvalidParams.
    await assert.rejects(client.connection.sendRequest(ExportRun.type, { run: empty, format: 'merged' }), (e: ResponseError<unknown>) => e.code === DaemonErrorCodes.ExportFailed && /has no weights to export/.test(e.message));
    await assert.rejects(client.connection.sendRequest(ExportRun.type, { run: 'sft-nope', format: 'merged' }), (e: ResponseError<unknown>) => e.code === DaemonErrorCodes.RunNotFound);
    await assert.rejects(client.connection.sendRequest(ExportRun.type, { run: run.id, format: 'onnx' as 'gguf' }), (e: ResponseError<unknown>) => e.code === DaemonErrorCodes.InvalidParams);
  });
});
