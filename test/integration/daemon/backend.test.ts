// The backend report in `initialize`, from the first connection on: the daemon probes the ladder in a
// child process when it starts (it never loads tfjs itself), and a forced backend is respected.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BACKEND_NAMES } from '../../../daemon/engine/backend.ts';
import { KNOWN_BACKENDS } from '../../../daemon/runs/backendProbe.ts';
import { CLI, connect, startTestDaemon, stopTestDaemon, tempDir } from './helpers.ts';

describe('backend report in initialize', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const scratch = () => tempDir({ after: (fn) => cleanups.push(fn) });

  test('a fresh daemon reports wasm, with the native and GPU backends skipped and why', async () => {
    const daemon = await startTestDaemon(scratch());
    try {
      // The very first connection: no run has reported a backend yet.
      const client = await connect(daemon);
      const info = client.info;
      assert.equal(info.backendProbe, 'done', `probe: ${info.backendProbe} ${info.backendError ?? ''}`);
      assert.equal(info.backend?.name, 'wasm');
      assert.match(info.backend!.device, /wasm/);
      const skipped = new Map(info.backend!.skipped.map((s) => [s.name, s.reason]));
      assert.deepEqual([...skipped.keys()], ['tensorflow-gpu', 'webgpu', 'tensorflow']);
      assert.match(skipped.get('tensorflow-gpu')!, /not installed.*CUDA/);
      assert.match(skipped.get('tensorflow')!, /not installed/);
      assert.equal(info.backendForced, undefined);
      client.close();
    } finally {
      await stopTestDaemon(daemon);
    }
  });

  test('--backend forces one backend; ANNEAL_BACKEND naming an unavailable one reports why', async () => {
    const forced = await startTestDaemon(scratch(), ['--backend', 'cpu']);
    try {
      const client = await connect(forced);
      assert.equal(client.info.backendForced, 'cpu');
      assert.deepEqual(client.info.backend, { name: 'cpu', device: 'pure JavaScript', skipped: [] });
      client.close();
    } finally {
      await stopTestDaemon(forced);
    }

    const unavailable = await startTestDaemon(scratch(), [], { ...process.env, ANNEAL_BACKEND: 'tensorflow' });
    try {
      const client = await connect(unavailable);
      assert.equal(client.info.backendForced, 'tensorflow');
      assert.equal(client.info.backendProbe, 'failed');
      assert.equal(client.info.backend, null);
      assert.match(client.info.backendError ?? '', /tensorflow backend was requested but is unavailable: not installed/);
      client.close();
    } finally {
      await stopTestDaemon(unavailable);
    }
  });

  test('an unknown backend name is refused at startup with the names to use', () => {
    const r = spawnSync(process.execPath, [CLI, 'daemon', '--port', '0', '--state-dir', scratch(), '--backend', 'cuda'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Unknown backend "cuda" \(from --backend\); use one of tensorflow-gpu, webgpu, tensorflow, wasm, cpu/);
  });

  test("the daemon's list of backend names is the engine's ladder", () => {
    assert.deepEqual([...KNOWN_BACKENDS], [...BACKEND_NAMES]);
  });
});
