// The WebGPU start-up order: tfjs's WebGPU backend registers itself at import time only if
// navigator.gpu exists, so Dawn's GPU object must be installed before that module is imported.
// The two packages are optional and absent here; real loader functions stand in for them.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { startWebGpu } from '../../../daemon/engine/backend.ts';

const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
afterEach(() => {
  if (original) Object.defineProperty(globalThis, 'navigator', original);
  else delete (globalThis as { navigator?: unknown }).navigator;
});

/** A Dawn-like module whose GPU offers `adapter`, recording each step into `calls`. */
function dawn(calls: string[], adapter: { info: { description: string } } | null) {
  return async () => {
    calls.push('dawn');
    return { create: () => ({ requestAdapter: async () => (calls.push('requestAdapter'), adapter) }) };
  };
}

const gpuNow = () => (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;

test('navigator.gpu exists before the tfjs WebGPU backend module is imported', async () => {
  const calls: string[] = [];
  let gpuAtImport: unknown;
  const device = await startWebGpu({
    dawn: dawn(calls, { info: { description: 'Test GPU' } }),
    backend: async () => {
      calls.push('backend');
      gpuAtImport = gpuNow();
    },
  });
  assert.deepEqual(calls, ['dawn', 'requestAdapter', 'backend']);
  assert.ok(gpuAtImport && typeof (gpuAtImport as { requestAdapter?: unknown }).requestAdapter === 'function', 'the backend module saw navigator.gpu');
  assert.equal(device, 'Test GPU');
});

test('a missing package is named in the "not installed" reason; no adapter stops before the backend import', async () => {
  const missing = (name: string) => () => import(name); // a real import of a package that is not installed
  await assert.rejects(
    startWebGpu({ dawn: missing('anneal-test-absent-webgpu'), backend: async () => assert.fail('imported without Dawn') }),
    /^Error: not installed \(`webgpu` is missing; WebGPU needs the optional `webgpu` and `@tensorflow\/tfjs-backend-webgpu` packages/,
  );
  const calls: string[] = [];
  await assert.rejects(
    startWebGpu({ dawn: dawn(calls, { info: { description: 'x' } }), backend: missing('anneal-test-absent-tfjs-backend-webgpu') }),
    /^Error: not installed \(`@tensorflow\/tfjs-backend-webgpu` is missing;/,
  );
  const none: string[] = [];
  await assert.rejects(startWebGpu({ dawn: dawn(none, null), backend: async () => void none.push('backend') }), /no GPU adapter found/);
  assert.deepEqual(none, ['dawn', 'requestAdapter']);
});
