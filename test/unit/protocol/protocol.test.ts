// The daemon protocol's pure pieces: frame encode/decode, the version handshake, run id validation,
// and one round trip of the typed declarations over a real WebSocket pair.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, WebSocket } from 'ws';
import * as protocol from '../../../core/protocol/daemon.ts';
import { decodeFrame, encodeFrame } from '../../../core/protocol/frames.ts';
import { checkProtocolVersion } from '../../../core/protocol/handshake.ts';
import { isValidRunId, invalidRunIdMessage } from '../../../core/protocol/runId.ts';
import { isWorkerMessage } from '../../../core/protocol/worker.ts';
import { connectionOverSocket } from '../../../daemon/client/wsTransport.ts';

test('a message survives encode then decode unchanged', () => {
  const msg = { jsonrpc: '2.0', id: 7, method: 'runs/get', params: { runId: 'sft-1', extra: { unknown: [1, 'two'] } } };
  const decoded = decodeFrame(encodeFrame(msg as never));
  assert.equal(decoded.ok, true);
  assert.deepEqual(decoded.ok && decoded.message, msg);
});

test('garbage frames decode to JSON-RPC errors with the right codes', () => {
  const cases: [string, number][] = [
    ['{not json', -32700],
    ['', -32700],
    ['42', -32600],
    ['null', -32600],
    ['[{"jsonrpc":"2.0","id":1,"method":"x"}]', -32600],
    ['{"jsonrpc":"1.0","id":1,"method":"x"}', -32600],
    ['{"jsonrpc":"2.0","id":3}', -32600],
    ['{"jsonrpc":"2.0","id":{"a":1},"method":"x"}', -32600],
  ];
  for (const [text, code] of cases) {
    const d = decodeFrame(text);
    assert.equal(d.ok, false, text);
    if (!d.ok) {
      assert.equal(d.error.error?.code, code, text);
      assert.equal(d.error.jsonrpc, '2.0');
      assert.ok(d.error.error!.message.length > 10);
    }
  }
  // The id of an invalid request is echoed so the sender can match the error.
  const withId = decodeFrame('{"jsonrpc":"1.0","id":9,"method":"x"}');
  assert.equal(!withId.ok && withId.error.id, 9);
});

test('responses and notifications are valid frames', () => {
  assert.equal(decodeFrame('{"jsonrpc":"2.0","id":1,"result":null}').ok, true);
  assert.equal(decodeFrame('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}').ok, true);
  assert.equal(decodeFrame('{"jsonrpc":"2.0","method":"run/log","params":{"runId":"a","line":"x"}}').ok, true);
});

test('the matching protocol version passes; any other is a clear mismatch error', () => {
  assert.equal(checkProtocolVersion(protocol.PROTOCOL_VERSION, '0.1.0'), undefined);
  for (const other of [protocol.PROTOCOL_VERSION + 1, 0, '1', undefined, null]) {
    const err = checkProtocolVersion(other, '0.1.0');
    assert.ok(err, String(other));
    assert.equal(err.code, protocol.DaemonErrorCodes.ProtocolMismatch);
    assert.match(err.message, /Protocol version mismatch/);
    assert.equal(err.data.daemonProtocolVersion, protocol.PROTOCOL_VERSION);
    assert.equal(err.data.clientProtocolVersion, other);
  }
});

test('run ids: only 1-64 lowercase letters, digits and dashes', () => {
  for (const ok of ['a', 'sft-20261121-173344-9f2c', '0', 'a'.repeat(64)]) assert.equal(isValidRunId(ok), true, ok);
  for (const bad of ['', 'A', '../etc', '..', 'a/b', 'a\\b', 'a.b', 'a b', 'a'.repeat(65), 'ü', 'a\n', 42, null, undefined, {}]) {
    assert.equal(isValidRunId(bad), false, String(bad));
  }
  assert.match(invalidRunIdMessage('../x'), /Invalid run id "\.\.\/x"/);
});

test('every method is declared once, with a unique literal', () => {
  const methods = (Object.values(protocol) as unknown[])
    .filter((v): v is { method: string; type: { method: string } } => typeof v === 'object' && v !== null && 'method' in v && 'type' in v)
    .map((ns) => {
      assert.equal(ns.type.method, ns.method);
      return ns.method;
    });
  assert.equal(new Set(methods).size, methods.length);
  for (const m of ['initialize', 'runs/start', 'runs/stop', 'runs/resume', 'runs/list', 'runs/get', 'runs/subscribe', 'runs/delete', 'run/status', 'run/metrics', 'run/sample', 'run/log']) {
    assert.ok(methods.includes(m), m);
  }
});

test('worker IPC messages are recognised by type', () => {
  assert.equal(isWorkerMessage({ type: 'metrics', record: { step: 1, loss: 2 } }), true);
  assert.equal(isWorkerMessage({ type: 'nope' }), false);
  assert.equal(isWorkerMessage('metrics'), false);
  assert.equal(isWorkerMessage(null), false);
});

test('typed requests and notifications round-trip over a real WebSocket; garbage gets an error reply', async (t) => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  t.after(() => wss.close());
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const port = (wss.address() as { port: number }).port;
  wss.on('connection', (socket) => {
    const server = connectionOverSocket(socket);
    server.onRequest(protocol.GetRun.type, (p) => {
      void server.sendNotification(protocol.RunLogNotification.type, { runId: p.runId, line: 'hello' });
      return { run: { id: p.runId } as never };
    });
    server.listen();
  });
  const socket = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((r) => socket.once('open', r));
  const client = connectionOverSocket(socket);
  const logs: string[] = [];
  client.onNotification(protocol.RunLogNotification.type, (p) => void logs.push(p.line));
  client.listen();
  const result = await client.sendRequest(protocol.GetRun.type, { runId: 'abc' });
  assert.equal(result.run.id, 'abc');
  assert.deepEqual(logs, ['hello']); // the notification was sent before the response, and arrives first

  // A raw garbage frame on the same socket is answered with a parse error, and the connection lives on.
  const raw = new Promise<string>((r) => socket.once('message', (d) => r(String(d))));
  socket.send('{oops');
  const reply = JSON.parse(await raw);
  assert.equal(reply.error.code, -32700);
  assert.equal((await client.sendRequest(protocol.GetRun.type, { runId: 'def' })).run.id, 'def');
  client.dispose();
  socket.close();
});
