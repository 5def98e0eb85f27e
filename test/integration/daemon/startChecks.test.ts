// runs/start checks its data in a worker thread: while a big dataset is being checked for one client,
// the daemon keeps answering everyone else, and bad data is still refused (with its line numbers)
// before any run exists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, ListRuns, StartRun, type InvalidInputData } from '../../../core/protocol/daemon.ts';
import { connect, startTestDaemon, stopTestDaemon, tempDir } from './helpers.ts';

/** Writes ~`bytes` of distinct SFT records, with a broken line at `badLine` (0-based) and at the end. */
function writeBigDataset(path: string, bytes: number, badLine: number): number {
  const fd = openSync(path, 'w');
  let size = 0;
  let line = 0;
  let chunk: string[] = [];
  const flush = () => {
    writeSync(fd, chunk.join(''));
    chunk = [];
  };
  while (size < bytes) {
    const text = line === badLine
      ? '{"messages": [{"role": "user", "content": "cut short"}\n'
      : JSON.stringify({ messages: [{ role: 'user', content: `question ${line} about ${(line * 7919) % 10007} things` }, { role: 'assistant', content: `answer ${line} is ${(line * 31337) % 99991}, said plainly` }] }) + '\n';
    chunk.push(text);
    size += text.length;
    line++;
    if (chunk.length >= 10_000) flush();
  }
  chunk.push('not json\n');
  flush();
  closeSync(fd);
  return line; // the 0-based index of the final bad line
}

test('while a 50 MB dataset is checked for one runs/start, another connection is answered first', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'big.jsonl');
  const lastLine = writeBigDataset(data, 50 * 1024 * 1024, 1234);
  assert.ok(statSync(data).size >= 50 * 1024 * 1024);

  const daemon = await startTestDaemon(tempDir(t));
  try {
    const a = await connect(daemon);
    const b = await connect(daemon);
    const order: string[] = [];
    const started = a.connection.sendRequest(StartRun.type, { stage: 'sft', data: { train: data } }).then(
      () => assert.fail('data with broken lines was accepted'),
      (err: ResponseError<InvalidInputData>) => {
        order.push('start');
        return err;
      },
    );
    // Requests on one socket are read in order: once A's list is answered, the daemon has begun A's start.
    await a.connection.sendRequest(ListRuns.type, {});
    order.push('list on A');
    const listed = await b.connection.sendRequest(ListRuns.type, {});
    order.push('list on B');
    assert.deepEqual(listed.runs, []);
    const err = await started;
    assert.deepEqual(order, ['list on A', 'list on B', 'start'], 'the check held up other requests');

    // The same refusal as a check in place: InvalidInput, the offending lines, no run created.
    assert.equal(err.code, DaemonErrorCodes.InvalidInput);
    assert.equal(err.data!.files[0].file, data);
    const lines = err.data!.files[0].diagnostics.map((d) => d.range.start.line);
    assert.deepEqual(lines, [1234, lastLine]);
    assert.match(err.message, /2 error\(s\)/);
    assert.equal((await b.connection.sendRequest(ListRuns.type, {})).runs.length, 0);
    a.close();
    b.close();
  } finally {
    await stopTestDaemon(daemon);
  }
});
