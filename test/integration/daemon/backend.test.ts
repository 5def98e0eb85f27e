// The backend report in `initialize`, from the first connection on: the daemon probes the ladder in a
// child process when it starts (it never loads tfjs itself), and a forced backend is respected.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BACKEND_NAMES } from '../../../daemon/engine/backend.ts';
import { KNOWN_BACKENDS } from '../../../daemon/runs/backendProbe.ts';
import { CLI, connect, startTestDaemon, stopTestDaemon, tempDir } from './helpers.ts';

/** Whether tfjs-node (from `npm run setup:native`) is installed and loads, asked the way a user would. */
const nativeInstalled = spawnSync(process.execPath, ['scripts/setup-native.mjs', '--check'], { encoding: 'utf8' }).stdout.includes('installed and loads');
const hasNvidiaGpu = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).status === 0;

describe('backend report in initialize', () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((fn) => fn()));
  const scratch = () => tempDir({ after: (fn) => cleanups.push(fn) });

  test('a fresh daemon reports the first backend that works, with the ones above it skipped and why', async () => {
    const daemon = await startTestDaemon(scratch());
    try {
      // The very first connection: no run has reported a backend yet.
      const client = await connect(daemon);
      const info = client.info;
      assert.equal(info.backendProbe, 'done', `probe: ${info.backendProbe} ${info.backendError ?? ''}`);
      const skipped = new Map(info.backend!.skipped.map((s) => [s.name, s.reason]));
      // `npm run setup:native` (which `npm test` runs) installs the native CPU backend; without it, wasm.
      if (nativeInstalled) {
        assert.equal(info.backend?.name, 'tensorflow');
        assert.match(info.backend!.device, /TensorFlow C library/);
        assert.deepEqual([...skipped.keys()], ['tensorflow-gpu']);
      } else {
        assert.equal(info.backend?.name, 'wasm');
        assert.match(info.backend!.device, /wasm/);
        assert.deepEqual([...skipped.keys()], ['tensorflow-gpu', 'tensorflow', 'webgpu']);
        assert.match(skipped.get('tensorflow')!, /not installed; run `npm run setup:native`/);
      }
      assert.match(skipped.get('tensorflow-gpu')!, /setup:native -- --gpu|no CUDA GPU/);
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

    // No CUDA GPU on the test machines: tensorflow-gpu is unavailable whether or not it is installed.
    if (hasNvidiaGpu) return;
    const unavailable = await startTestDaemon(scratch(), [], { ...process.env, ANNEAL_BACKEND: 'tensorflow-gpu' });
    try {
      const client = await connect(unavailable);
      assert.equal(client.info.backendForced, 'tensorflow-gpu');
      assert.equal(client.info.backendProbe, 'failed');
      assert.equal(client.info.backend, null);
      assert.match(client.info.backendError ?? '', /tensorflow-gpu backend was requested but is unavailable: (not installed|installed, but)/);
      client.close();
    } finally {
      await stopTestDaemon(unavailable);
    }
  });

  test('an unknown backend name is refused at startup with the names to use', () => {
    const r = spawnSync(process.execPath, [CLI, 'daemon', '--port', '0', '--state-dir', scratch(), '--backend', 'cuda'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Unknown backend "cuda" \(from --backend\); use one of tensorflow-gpu, tensorflow, webgpu, wasm, cpu/);
  });

  test("the daemon's list of backend names is the engine's ladder", () => {
    assert.deepEqual([...KNOWN_BACKENDS], [...BACKEND_NAMES]);
  });
});
