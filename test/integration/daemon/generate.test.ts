// `models/generate` on a real daemon with the real engine: a short tiny SFT run is trained through
// the CLI, then the same prompt is answered by the run's output, by its base model and by `tiny`,
// over a real socket. The run's base and `tiny` (drawn from the same seed) answer alike; the run's
// answer comes from its adapter. Bad requests get one sentence each; cancelling ends the child.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, StartRun, StopRun } from '../../../core/protocol/daemon.ts';
import { GenerateFailedCode, GenerateText, type GenerateParams } from '../../../core/protocol/generate.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Pids of the daemon's `--job` children (Linux /proc). */
function jobChildren(daemonPid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === daemonPid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('--job')) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

async function noJobChildren(daemonPid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (jobChildren(daemonPid).length > 0) {
    if (Date.now() > deadline) throw new Error(`generate children still alive: ${jobChildren(daemonPid).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rejection(promise: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `a ResponseError, got ${String(err)}`);
    return err;
  }
  throw new Error('the request succeeded; a refusal was expected');
}

const ask = (model: string, extra: Partial<GenerateParams> = {}): GenerateParams => ({
  model,
  messages: [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: 'What is the capital of France?' }],
  maxNewTokens: 12,
  ...extra,
});

describe('models/generate on a real daemon (tiny SFT run)', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const dir = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-generate-');
  const stateDir = join(dir, 'state');
  let daemon: TestDaemon;
  let runId: string;

  before(async () => {
    daemon = await startTestDaemon(stateDir);
    const started = Date.now();
    const r = await cli(['train', 'sft', '--data', DATA, '--model', 'tiny', '--max-steps', '8', '--json', '--state-dir', stateDir]);
    assert.equal(r.code, 0, `anneal train exited ${r.code}: ${r.stderr}`);
    runId = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'status')?.runId;
    assert.match(runId, /^sft-/);
    console.log(`trained ${runId} in ${Date.now() - started} ms`);
  });
  after(() => stopTestDaemon(daemon));

  test('a run, its base and tiny answer the same chat; the base and tiny agree', async () => {
    const client = await connect(daemon);
    const started = Date.now();
    const [trained, base, tiny] = await Promise.all([
      client.connection.sendRequest(GenerateText.type, ask(runId)),
      client.connection.sendRequest(GenerateText.type, ask(runId, { base: true })),
    ]).then(async (two) => [...two, await client.connection.sendRequest(GenerateText.type, ask('tiny'))]);
    console.log(`three answers in ${Date.now() - started} ms (${trained.ms}, ${base.ms}, ${tiny.ms} ms each)`);
    client.close();
    assert.equal(trained.runId, runId);
    assert.equal(trained.modelRef, join(stateDir, 'runs', runId, 'output'));
    assert.match(trained.description, new RegExp(`^run ${runId} \\(SFT on tiny\\)$`));
    assert.equal(base.runId, runId);
    assert.equal(base.modelRef, 'tiny');
    assert.match(base.description, new RegExp(`^base of run ${runId} \\(tiny\\)$`));
    for (const a of [trained, base, tiny]) {
      assert.equal(typeof a.completion, 'string');
      assert.ok(a.tokens >= 1 && a.tokens <= 12, `at most maxNewTokens: ${a.tokens}`);
      if (!a.stopped) assert.equal(a.tokens, 12, 'an answer that did not stop was cut at maxNewTokens');
    }
    // The run trained with seed 42, the default the built-in tiny base is drawn from.
    assert.equal(base.completion, tiny.completion, 'greedy answers of the same weights agree');
    assert.equal(base.tokens, tiny.tokens);
    await noJobChildren(daemon.proc.pid!);
  });

  test('bad requests are refused with one sentence each', async () => {
    const client = await connect(daemon);
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ model: 'tiny', messages: [] }, DaemonErrorCodes.InvalidParams, /messages must be a non-empty list/],
      [{ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 0 }, DaemonErrorCodes.InvalidParams, /maxNewTokens must be an integer from 1/],
      [{ model: 'tiny', messages: [{ role: 'assistant', content: 'hi' }] }, DaemonErrorCodes.InvalidParams, /the last message must be the user's/],
      [{ model: 'Not A Model', messages: [{ role: 'user', content: 'hi' }] }, DaemonErrorCodes.InvalidParams, /model must be `tiny`, a run id/],
      [{ model: 'tiny', base: true, messages: [{ role: 'user', content: 'hi' }] }, DaemonErrorCodes.InvalidParams, /base needs a run id/],
      [{ model: 'sft-19990101-000000-0000', messages: [{ role: 'user', content: 'hi' }] }, DaemonErrorCodes.RunNotFound, /No run sft-19990101-000000-0000/],
      [{ model: join(dir, 'missing'), messages: [{ role: 'user', content: 'hi' }] }, GenerateFailedCode, /missing does not exist on the daemon's machine/],
      [{ model: dir, messages: [{ role: 'user', content: 'hi' }] }, GenerateFailedCode, /is not a model folder/],
      [{ model: DATA, messages: [{ role: 'user', content: 'hi' }] }, GenerateFailedCode, /sft\.jsonl is a file but not a \.gguf model/],
    ];
    for (const [params, code, message] of cases) {
      const err = await rejection(client.connection.sendRequest(GenerateText.type, params as never));
      assert.equal(err.code, code, `${JSON.stringify(params)}: ${err.message}`);
      assert.match(err.message, message);
      assert.doesNotMatch(err.message, /\n|at .*\(.*:\d+:\d+\)/, 'one sentence, no stack');
    }
    // A run still going has no output yet: its base can answer, its output cannot.
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: DATA }, model: 'tiny', args: { max_steps: 100_000 } });
    const err = await rejection(client.connection.sendRequest(GenerateText.type, ask(run.id)));
    assert.equal(err.code, DaemonErrorCodes.InvalidState);
    assert.match(err.message, new RegExp(`Run ${run.id} cannot answer: it is (queued|running) and has no output yet; pick its base model`));
    await client.connection.sendRequest(StopRun.type, { runId: run.id, force: true });
    client.close();
  });

  test('cancelling the request, or closing the connection, ends the child', async () => {
    const client = await connect(daemon);
    const cancel = new CancellationTokenSource();
    const request = client.connection.sendRequest(GenerateText.type, ask('tiny', { maxNewTokens: 2048 }), cancel.token);
    const deadline = Date.now() + 10_000;
    while (jobChildren(daemon.proc.pid!).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(jobChildren(daemon.proc.pid!).length, 1, 'one generate child runs');
    cancel.cancel();
    const err = await rejection(request);
    assert.equal(err.code, DaemonErrorCodes.RequestCancelled);
    await noJobChildren(daemon.proc.pid!);

    const other = await connect(daemon);
    other.connection.sendRequest(GenerateText.type, ask('tiny', { maxNewTokens: 2048 })).catch(() => undefined);
    while (jobChildren(daemon.proc.pid!).length === 0 && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 20));
    other.close();
    await noJobChildren(daemon.proc.pid!);
    const again = await client.connection.sendRequest(GenerateText.type, ask('tiny'));
    assert.ok(again.tokens >= 1);
    client.close();
  });
});
