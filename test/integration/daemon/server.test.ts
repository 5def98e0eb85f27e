// The daemon as a server, over real sockets: who may connect, what bad input gets back, and that
// nothing a client sends can crash it. No training happens here (runs are refused before a worker).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, statSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { ResponseError } from 'vscode-jsonrpc/node';
import {
  DaemonErrorCodes, GetRun, Initialize, ListRuns, StartRun, Subscribe, DeleteRun, MAX_FRAME_BYTES,
  type InvalidInputData,
} from '../../../core/protocol/daemon.ts';
import { connectionOverSocket } from '../../../daemon/client/wsTransport.ts';
import { CLI, connect, startTestDaemon, stopTestDaemon, tempDir, type TestDaemon } from './helpers.ts';

/** Opens a raw socket; resolves with the socket or the HTTP status of the refusal. */
function rawOpen(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<{ socket?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, protocols, options);
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      socket.terminate();
    });
    socket.once('error', () => resolve({}));
  });
}

/** The next frame on a raw socket, parsed. */
function nextFrame(socket: WebSocket): Promise<any> {
  return new Promise((resolve) => socket.once('message', (d) => resolve(JSON.parse(String(d)))));
}

describe('daemon server', () => {
  let daemon: TestDaemon;
  let stateDir: string;

  const cleanups: (() => void)[] = [];
  const scratch = () => tempDir({ after: (fn) => cleanups.push(fn) });

  before(async () => {
    stateDir = scratch();
    daemon = await startTestDaemon(stateDir);
  });
  after(async () => {
    await stopTestDaemon(daemon);
    for (const fn of cleanups) fn();
  });

  test('announces itself: listening line, daemon.json, token with mode 0600', () => {
    assert.match(daemon.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(daemon.port > 0);
    const info = JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8'));
    assert.equal(info.port, daemon.port);
    assert.equal(info.pid, daemon.proc.pid);
    assert.equal(typeof info.version, 'string');
    assert.match(daemon.token, /^[0-9a-f]{64}$/);
    assert.equal(statSync(join(stateDir, 'token')).mode & 0o777, 0o600);
  });

  test('refuses a socket without a token, with a wrong token, or from a foreign origin', async () => {
    assert.equal((await rawOpen(daemon.url)).status, 401);
    assert.equal((await rawOpen(daemon.url, { headers: { Authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await rawOpen(`${daemon.url}?token=${'0'.repeat(64)}`)).status, 401);
    const foreign = await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` }, origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    // A rebinding page on another name for 127.0.0.1 is still a foreign origin.
    const rebound = await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` }, origin: `http://attacker.test:${daemon.port}` });
    assert.equal(rebound.status, 403);
  });

  test('accepts the token as a header, a query parameter, or a browser subprotocol from its own origin', async () => {
    const forms = [
      await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } }),
      await rawOpen(`${daemon.url}?token=${daemon.token}`, { origin: `http://127.0.0.1:${daemon.port}` }),
      await rawOpen(daemon.url, { origin: `http://localhost:${daemon.port}` }, ['anneal.v1', `anneal.token.${daemon.token}`]),
    ];
    for (const f of forms) {
      assert.ok(f.socket, `refused with ${f.status}`);
      f.socket.close();
    }
    assert.equal(forms[2].socket!.protocol, 'anneal.v1'); // the token is never echoed back
  });

  test('serves a page at / and 404 elsewhere', async () => {
    const page = await fetch(`http://127.0.0.1:${daemon.port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Anneal daemon/);
    assert.equal((await fetch(`http://127.0.0.1:${daemon.port}/runs/../token`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${daemon.port}/token`)).status, 404);
  });

  test('garbage frames, unknown methods and early requests get errors; the daemon keeps answering', async () => {
    const { socket } = await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } });
    assert.ok(socket);
    const frames: [string | Buffer, number][] = [
      ['{"jsonrpc": "2.0", "id": 1, "method"', -32700],
      ['[1,2,3]', -32600],
      ['"just a string"', -32600],
      [Buffer.from([0xff, 0xfe, 0x00, 0x01]), -32700],
      ['{"jsonrpc":"2.0","id":2,"method":"runs/list","params":{}}', DaemonErrorCodes.NotInitialized],
      ['{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":999,"clientName":"old"}}', DaemonErrorCodes.ProtocolMismatch],
      ['{"jsonrpc":"2.0","id":4,"method":"initialize","params":[1]}', DaemonErrorCodes.InvalidParams],
      ['{"jsonrpc":"2.0","id":5,"method":"no/such/method","params":{}}', -32601],
    ];
    for (const [frame, code] of frames) {
      const reply = nextFrame(socket);
      socket.send(frame);
      const r = await reply;
      assert.equal(r.error?.code, code, `frame ${String(frame)} -> ${JSON.stringify(r)}`);
    }
    // Protocol mismatch names both versions.
    const mismatch = nextFrame(socket);
    socket.send('{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":0,"clientName":"x","futureField":true}}');
    assert.match((await mismatch).error.message, /Protocol version mismatch: this client speaks 0, the daemon .* speaks 1/);
    // The same socket still works once it initializes properly (unknown fields tolerated).
    const conn = connectionOverSocket(socket);
    conn.listen();
    const init = await conn.sendRequest(Initialize.type, { protocolVersion: 1, clientName: 'raw', unknown: { x: 1 } } as never);
    // Every stage the engine trains.
    assert.deepEqual(init.capabilities.stages, ['sft', 'cpt', 'dpo', 'kto', 'orpo', 'cpo', 'simpo', 'reward', 'grpo', 'ppo']);
    assert.equal((await conn.sendRequest(ListRuns.type, {})).runs.length, 0);
    conn.dispose();
    socket.close();
  });

  test('a frame above maxPayload closes only that socket', async () => {
    const { socket } = await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } });
    assert.ok(socket);
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    socket.on('error', () => {});
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { pad: 'x'.repeat(MAX_FRAME_BYTES + 10) } }));
    assert.equal(await closed, 1009);
    const client = await connect(daemon);
    assert.ok(Array.isArray((await client.connection.sendRequest(ListRuns.type, {})).runs));
    client.close();
  });

  test('malformed run ids and unknown runs are refused without touching the disk', async () => {
    const client = await connect(daemon);
    for (const runId of ['../../etc', '..', 'A', '', 'x'.repeat(65), 'a/b']) {
      for (const type of [GetRun.type, Subscribe.type, DeleteRun.type]) {
        await assert.rejects(client.connection.sendRequest(type as typeof GetRun.type, { runId }), (err: ResponseError<unknown>) => err.code === DaemonErrorCodes.InvalidRunId);
      }
    }
    await assert.rejects(client.connection.sendRequest(GetRun.type, { runId: 'no-such-run' }), (err: ResponseError<unknown>) => err.code === DaemonErrorCodes.RunNotFound);
    await assert.rejects(client.connection.sendRequest(GetRun.type, { runId: 42 } as never), (err: ResponseError<unknown>) => err.code === DaemonErrorCodes.InvalidRunId);
    client.close();
  });

  test('bad data is refused with the offending lines; missing files and relative paths with a clear error', async () => {
    const dir = scratch();
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(
      bad,
      [
        '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}',
        '{"messages":[{"role":"user","content":"broken"}, ',
        '{"messages":[{"role":"user","content":"hi again"},{"role":"assistant","content":"hello again"}]}',
        'not json at all',
      ].join('\n') + '\n',
    );
    const client = await connect(daemon);
    const err = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: bad } }).then(
      () => assert.fail('bad data was accepted'),
      (e: ResponseError<InvalidInputData>) => e,
    );
    assert.equal(err.code, DaemonErrorCodes.InvalidInput);
    const lines = err.data!.files[0].diagnostics.map((d) => d.range.start.line);
    assert.equal(err.data!.files[0].file, bad);
    assert.ok(lines.includes(1) && lines.includes(3), `diagnostic lines ${lines}`);
    for (const d of err.data!.files[0].diagnostics) assert.ok(d.code && d.message);

    const missing = join(dir, 'missing.jsonl');
    const e2 = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: missing } }).catch((e) => e);
    assert.equal(e2.code, DaemonErrorCodes.InvalidInput);
    assert.match(JSON.stringify(e2.data) + e2.message, /missing\.jsonl/);

    const e3 = await client.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: 'relative.jsonl' } }).catch((e) => e);
    assert.equal(e3.code, DaemonErrorCodes.InvalidParams);
    assert.match(e3.message, /absolute path/);

    const e4 = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe: join(dir, 'nope.anneal.yaml') }).catch((e) => e);
    assert.equal(e4.code, DaemonErrorCodes.InvalidInput);
    assert.match(e4.message, /nope\.anneal\.yaml/);
    // A recipe naming a missing data file: the recipe's own diagnostic, at the `train:` line.
    const recipe = join(dir, 'r.anneal.yaml');
    writeFileSync(recipe, 'model: tiny\nstage: sft\ndata:\n  train: gone.jsonl\n');
    const e5 = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe }).catch((e) => e);
    assert.equal(e5.code, DaemonErrorCodes.InvalidInput);
    assert.equal(e5.data.files[0].file, recipe);
    assert.equal(e5.data.files[0].diagnostics[0].range.start.line, 3);
    assert.match(e5.data.files[0].diagnostics[0].message, /gone\.jsonl/);
    assert.equal((await client.connection.sendRequest(ListRuns.type, {})).runs.length, 0, 'no run was created');
    client.close();

    // The CLI prints the same diagnostics, 1-based, and exits non-zero.
    const cli = spawnSync(process.execPath, [CLI, 'train', 'sft', '--data', bad, '--state-dir', stateDir], { encoding: 'utf8' });
    assert.equal(cli.status, 1, cli.stderr);
    assert.match(cli.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: error`));
    assert.match(cli.stderr, /:4:\d+: error/);
  });

  test('a second daemon for the same state dir is refused while the first lives', async () => {
    const second = spawnSync(process.execPath, [CLI, 'daemon', '--port', '0', '--state-dir', stateDir], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(second.status, 1);
    assert.match(second.stderr, /already serves/);
    assert.ok(existsSync(join(stateDir, 'daemon.json')));
    const client = await connect(daemon); // the first one is untouched
    client.close();
  });

  test('a client that vanishes mid-stream does not disturb the daemon', async () => {
    const { socket } = await rawOpen(daemon.url, { headers: { Authorization: `Bearer ${daemon.token}` } });
    assert.ok(socket);
    socket.send('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientName":"x"}}');
    socket.send('{"jsonrpc":"2.0","id":2,"method":"runs/list","params":{}}');
    socket.terminate();
    const client = await connect(daemon);
    assert.equal(client.info.pid, daemon.proc.pid);
    client.close();
    assert.equal(daemon.proc.exitCode, null);
  });
});
