// Run by wasmThreads.test.ts in a process of its own (the thread count is fixed when the wasm backend
// starts, once per process): starts wasm with ANNEAL_WASM_THREADS from the environment, computes a
// matmul, a batched matmul through AnnealBatchMatMul and three SFT steps of the tiny model, and prints
// them as one JSON line. It never calls process.exit: exiting on its own is part of what is tested.
//
// `broken` mode instead hands setUpWasmThreads a folder whose threaded .wasm is not wasm, and reports
// what the backend became.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { selectBackend, wasmDirectory } from '../../../daemon/engine/backend.ts';
import { bmmRaw } from '../../../daemon/engine/ops.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { hasFastBatchMatMul } from '../../../daemon/engine/wasmKernels.ts';
import { setUpWasmThreads } from '../../../daemon/engine/wasmThreads.ts';
import { randomTensor } from './helpers.ts';

async function normal(): Promise<object> {
  const report = await selectBackend('wasm');
  // Big enough that XNNPACK splits the output between threads.
  const product = tf.matMul(randomTensor([96, 320], 1), randomTensor([320, 200], 2)).dataSync();
  const fast = hasFastBatchMatMul();
  const batched = bmmRaw(randomTensor([3, 40, 64], 3) as tf.Tensor3D, randomTensor([3, 64, 48], 4) as tf.Tensor3D).dataSync();
  const x = randomTensor([8], 5);
  const identityShares = tf.clone(x).dataId === x.dataId;

  const losses: number[] = [];
  const gradNorms: number[] = [];
  const events: TrainEvents = {
    status: () => {},
    metrics: (m) => {
      if ('loss' in m) losses.push(m.loss!);
      if ('grad_norm' in m) gradNorms.push(m.grad_norm!);
    },
    sample: () => {},
    log: () => {},
    checkpoint: () => {},
  };
  const args = { ...defaultTrainingArguments('sft'), max_steps: 3, save_steps: 0, logging_steps: 1, max_length: 64 };
  const runDir = mkdtempSync(join(tmpdir(), 'anneal-run-'));
  const data = { train: join(import.meta.dirname, '../../../examples/sft.jsonl') };
  await train({ stage: 'sft', runDir, model: 'tiny', data, lora: null, backend: 'wasm', args }, events, new AbortController().signal);
  return { device: report.device, threads: getThreadsCount(), product: [...product], fast, batched: [...batched], identityShares, losses, gradNorms };
}

async function broken(): Promise<object> {
  const dir = mkdtempSync(join(tmpdir(), 'anneal-wasm-broken-'));
  copyFileSync(join(wasmDirectory()!, 'tfjs-backend-wasm-simd.wasm'), join(dir, 'tfjs-backend-wasm-simd.wasm'));
  writeFileSync(join(dir, 'tfjs-backend-wasm-threaded-simd.wasm'), 'not a wasm module');
  setWasmPaths(`${dir}/`);
  const note = await setUpWasmThreads(dir, { ANNEAL_WASM_THREADS: '2' });
  await tf.setBackend('wasm');
  rmSync(dir, { recursive: true, force: true });
  const product = tf.matMul(randomTensor([4, 3], 1), randomTensor([3, 2], 2)).dataSync();
  return { note, threads: getThreadsCount(), product: [...product] };
}

(process.argv[2] === 'broken' ? broken() : normal()).then(
  (result) => process.stdout.write(JSON.stringify(result) + '\n'),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 1;
  },
);
