// What a token holder can make the daemon do with one request, over a real socket: name a device, a
// FIFO or a secret file as data or recipe, pass arguments the recipe checks would refuse, send a
// message nested 100,000 deep, flood it with checks or with requests it never reads the answers of.
// Every time: a clear refusal, and the daemon goes on answering everyone else.

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, ListRuns, StartRun, PROTOCOL_VERSION, type InvalidInputData, type StartRunParams } from '../../../core/protocol/daemon.ts';
import { ANNEAL_VERSION } from '../../../core/version.ts';
import { CLI, ROOT, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

const DATA = join(ROOT, 'examples/sft.jsonl');

/** The ResponseError a request is refused with (fails the test when it is accepted). */
async function refusal(promise: Promise<unknown>): Promise<ResponseError<InvalidInputData>> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${err}`);
    return err as ResponseError<InvalidInputData>;
  }
  assert.fail('the request was accepted');
}

/** Writes ~`bytes` of distinct, valid SFT records. */
function writeDataset(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  let size = 0;
  for (let line = 0; size < bytes; ) {
    const chunk: string[] = [];
    for (let k = 0; k < 5000; k++, line++) {
      chunk.push(JSON.stringify({ messages: [{ role: 'user', content: `question ${line} about ${(line * 7919) % 10007}` }, { role: 'assistant', content: `answer ${line} is ${(line * 31337) % 99991}` }] }) + '\n');
    }
    const text = chunk.join('');
    writeSync(fd, text);
    size += text.length;
  }
  closeSync(fd);
}

/** The pids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('runs/start refuses what cannot be a dataset or a recipe', () => {
  let daemon: TestDaemon;
  let dir: string;
  const cleanups: (() => void)[] = [];

  before(async () => {
    dir = tempDir({ after: (fn) => cleanups.push(fn) });
    daemon = await startTestDaemon(tempDir({ after: (fn) => cleanups.push(fn) }));
  });
  after(async () => {
    await stopTestDaemon(daemon);
    for (const fn of cleanups) fn();
  });

  test('/dev/zero behind a dataset name, as data and in a recipe: refused as a device, the daemon unharmed', async () => {
    const zero = join(dir, 'zero.jsonl');
    symlinkSync('/dev/zero', zero);
    const recipe = join(dir, 'zero.anneal.yaml');
    writeFileSync(recipe, `model: tiny\nstage: sft\ndata:\n  train: zero.jsonl\nmax_steps: 2\n`);
    const client = await connect(daemon);
    try {
      const direct = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: zero } }));
      assert.equal(direct.code, DaemonErrorCodes.InvalidInput);
      assert.match(direct.message, /is a device, not a regular file/);
      assert.equal(direct.data!.files[0]!.file, zero);
      const viaRecipe = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe }));
      assert.equal(viaRecipe.code, DaemonErrorCodes.InvalidInput);
      assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
      assert.equal(daemon.proc.exitCode, null, 'the daemon died');
    } finally {
      client.close();
    }
  });

  test('a FIFO as data is answered at once (never opened for reading), and SIGTERM still stops the daemon', async (t) => {
    const fifo = join(dir, 'pipe.jsonl');
    execFileSync('mkfifo', [fifo]);
    const own = await startTestDaemon(tempDir(t));
    const client = await connect(own);
    try {
      const refusals = await Promise.all([1, 2, 3].map(() => refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: fifo } }))));
      for (const r of refusals) {
        assert.equal(r.code, DaemonErrorCodes.InvalidInput);
        assert.match(r.message, /named pipe \(FIFO\)/);
      }
      // The same FIFO behind a recipe: the recipe checks read through the same guard.
      const recipe = join(dir, 'pipe.anneal.yaml');
      writeFileSync(recipe, `model: tiny\nstage: sft\ndata:\n  train: pipe.jsonl\n`);
      assert.equal((await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe }))).code, DaemonErrorCodes.InvalidInput);
    } finally {
      client.close();
    }
    own.proc.kill('SIGTERM');
    const { code } = await own.exited;
    assert.equal(code, 0, own.stderr());
  });

  test('a file not named like a dataset or recipe is refused without reading it: nothing of it comes back', async () => {
    const secret = join(dir, 'secret.txt');
    writeFileSync(secret, 'root:TOPSECRET-HASH:19000:0:99999:7:::\nmodel: [unclosed TOPSECRET\n');
    const client = await connect(daemon);
    try {
      const asRecipe = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: secret }));
      assert.equal(asRecipe.code, DaemonErrorCodes.InvalidInput);
      assert.match(asRecipe.message, /not named like a recipe/);
      const asData = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: secret } }));
      assert.match(asData.message, /not named like a dataset/);
      const shadow = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: '/etc/shadow' }));
      assert.match(shadow.message, /not named like a recipe/);
      for (const r of [asRecipe, asData, shadow]) assert.doesNotMatch(JSON.stringify({ m: r.message, d: r.data }), /TOPSECRET|root:/);
    } finally {
      client.close();
    }
  });

  test('runs/start arguments go through the recipe checks: batch 0, negative rate, 1e15 steps, 1e9 accumulation', async () => {
    const recipe = join(dir, 'ok.anneal.yaml');
    writeFileSync(recipe, `model: tiny\nstage: sft\ndata:\n  train: ${DATA}\nmax_steps: 2\n`);
    const client = await connect(daemon);
    try {
      const bad: Record<string, number>[] = [
        { per_device_train_batch_size: 0 },
        { learning_rate: -0.001 },
        { max_steps: 1e15 },
        { gradient_accumulation_steps: 1e9 },
      ];
      for (const args of bad) {
        const key = Object.keys(args)[0]!;
        for (const params of [{ stage: 'sft', data: { train: DATA }, args }, { stage: 'sft', recipe, args }] as StartRunParams[]) {
          const err = await refusal(client.connection.sendRequest(StartRun.type, params));
          assert.equal(err.code, DaemonErrorCodes.InvalidInput, `${key}: ${err.message}`);
          const said = err.message + JSON.stringify(err.data ?? {});
          assert.match(said, new RegExp(key), `${key} is not named in: ${said}`);
        }
      }
      assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
    } finally {
      client.close();
    }
  });

  test('a message nested 100,000 deep gets InvalidParams with a sentence, not a stack overflow', async () => {
    const socket = new WebSocket(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } });
    await new Promise((r) => socket.once('open', r));
    const frames: any[] = [];
    const next = () => new Promise<any>((r) => socket.once('message', (d) => r(JSON.parse(String(d)))));
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, clientName: 'deep', clientVersion: ANNEAL_VERSION } }));
    frames.push(await next());
    const depth = 100_000;
    const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    socket.send(`{"jsonrpc":"2.0","id":2,"method":"runs/start","params":{"stage":"sft","data":{"train":"/x.jsonl"},"args":${deep}}}`);
    const answer = await next();
    assert.equal(answer.id, 2);
    assert.equal(answer.error.code, DaemonErrorCodes.InvalidParams);
    assert.match(answer.error.message, /nests arrays or objects deeper than 64 levels/);
    assert.doesNotMatch(answer.error.message, /call stack/);
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'runs/list', params: {} }));
    assert.deepEqual((await next()).result, { runs: [] });
    socket.close();
  });
});

test('checks have a time limit: a check that outlives it is killed and answered with CheckFailed', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'big.jsonl');
  writeDataset(data, 30 * 1024 * 1024);
  const daemon = await startTestDaemon(tempDir(t), [], { ...process.env, ANNEAL_CHECK_TIMEOUT_MS: '300' });
  try {
    const client = await connect(daemon);
    const err = await refusal(client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: data } }));
    assert.equal(err.code, DaemonErrorCodes.CheckFailed);
    assert.match(err.message, /took longer than 0 s|took longer than/);
    assert.deepEqual(childrenOf(daemon.proc.pid!).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('checkWorker')), []);
    assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
    client.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});

test('50 runs/start at once: a bounded number are checked, the rest refused as Busy, everyone answered', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'mid.jsonl');
  writeDataset(data, 2 * 1024 * 1024);
  // One broken line at the end: every check that runs refuses the data, so no run trains here.
  writeFileSync(data, 'not json\n', { flag: 'a' });
  const daemon = await startTestDaemon(tempDir(t));
  try {
    const client = await connect(daemon);
    let most = 0;
    const watcher = setInterval(() => (most = Math.max(most, childrenOf(daemon.proc.pid!).length)), 20);
    const answers = await Promise.allSettled(Array.from({ length: 50 }, () => client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: data } })));
    clearInterval(watcher);
    const codes = answers.map((a) => (a.status === 'rejected' ? (a.reason as ResponseError<void>).code : 0));
    const busy = codes.filter((c) => c === DaemonErrorCodes.Busy).length;
    const checked = codes.filter((c) => c === DaemonErrorCodes.InvalidInput).length;
    assert.equal(busy + checked, 50, JSON.stringify(codes));
    assert.ok(busy > 0 && checked > 0, `busy ${busy}, checked ${checked}`);
    assert.ok(checked <= 10 + 2, `${checked} checks ran for 50 simultaneous requests`);
    const said = answers.find((a) => a.status === 'rejected' && (a.reason as ResponseError<void>).code === DaemonErrorCodes.Busy) as PromiseRejectedResult;
    assert.match(said.reason.message, /again in a moment/);
    // Two checks at a time (and the backend probe): never fifty processes.
    assert.ok(most <= 3, `${most} child processes at once`);
    assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
    client.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});

/** Writes `n` finished runs into a state dir (as a daemon would have left them), each with a long message. */
function seedRuns(stateDir: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const id = `sft-20260101-000000-${i.toString(16).padStart(4, '0')}`;
    const dir = join(stateDir, 'runs', id);
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    for (const f of ['metrics.jsonl', 'samples.jsonl', 'log.txt']) writeFileSync(join(dir, f), '');
    const run = { id, stage: 'sft', status: 'completed', createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), model: 'tiny', data: { train: DATA }, args: { max_steps: 1 }, lora: null, step: 1, resumes: [], message: 'x'.repeat(2000) };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
  }
}

test('a client that never reads its responses is dropped; the daemon stays small and answers others', { timeout: 120_000 }, async (t) => {
  const stateDir = tempDir(t);
  seedRuns(stateDir, 40); // ~80 KB per runs/list answer: 30,000 unread ones would be 2.4 GB
  const daemon = await startTestDaemon(stateDir, [], { ...process.env, ANNEAL_MAX_CLIENT_BUFFER_BYTES: String(8 * 1024 * 1024) });
  try {
    const socket = new WebSocket(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } });
    await new Promise((r) => socket.once('open', r));
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL_VERSION, clientName: 'slow', clientVersion: ANNEAL_VERSION } }));
    await new Promise((r) => socket.once('message', r));
    // Stop reading at the TCP level, then ask for 30,000 run lists.
    const tcp = (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    for (let i = 1; i <= 30_000; i++) socket.send(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'runs/list', params: {} }));
    // Others are served meanwhile, and the daemon stays small.
    const other = await connect(daemon);
    assert.equal((await other.connection.sendRequest(ListRuns.type, {})).runs.length, 40);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.proc.pid}/status`, 'utf8'))![1]) * 1024;
    assert.ok(rss < 400 * 1024 * 1024, `daemon RSS ${Math.round(rss / 1e6)} MB`);
    let answered = 0;
    const allAnswered = new Promise<'answered'>((r) => socket.on('message', () => ++answered === 30_000 && r('answered')));
    tcp.resume();
    // Dropped (the usual case), or — when the kernel's socket buffers took the answers as fast as they
    // came, so nothing queued in the daemon — every answer delivered: either way the daemon stayed small.
    const outcome = await Promise.race([closed, allAnswered]);
    if (outcome !== 'answered') {
      assert.ok(answered < 30_000, `all ${answered} answers were queued for a client that did not read`);
      assert.ok([1008, 1006].includes(outcome), `closed with ${outcome}`);
    } else socket.terminate();
    assert.equal((await other.connection.sendRequest(ListRuns.type, {})).runs.length, 40);
    other.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});

test('`anneal train` exits 1 saying so when the daemon vanishes before answering', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'big.jsonl');
  writeDataset(data, 30 * 1024 * 1024);
  const stateDir = tempDir(t);
  const daemon = await startTestDaemon(stateDir);
  const cli = spawn(process.execPath, [CLI, 'train', 'sft', '--data', data, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cli.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => cli.once('exit', (code) => r(code)));
  // Once the daemon checks the data (its check process exists), the request is on the daemon: kill it.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      const checking = childrenOf(daemon.proc.pid!).some((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('checkWorker');
        } catch {
          return false;
        }
      });
      if (checking) {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });
  daemon.proc.kill('SIGKILL');
  const code = await exited;
  assert.equal(code, 1, stderr);
  assert.match(stderr, /daemon stopped/);
});
