// Kernels the wasm backend lacks or runs slowly, registered under our own names.
//
// Why: tfjs-backend-wasm 4.22 only reaches XNNPACK for a matmul with batch 1 and no transpose flags;
// a batched product (attention: one per head) falls to a scalar loop (~1 GFLOP/s), and slicing the
// batch apart costs a copy of the whole input per slice (its Slice kernel reads the full tensor out
// of the heap). `AnnealBatchMatMul` instead registers zero-copy views of each batch slice inside the
// wasm heap and calls the backend's own BatchMatMul on each with batch 1, which takes the XNNPACK
// path. It relies on the backend's internal layout (pinned to tfjs 4.22: `dataIdMap`,
// `wasm.tfjs.registerTensor`, `cwrap('BatchMatMul')`); `hasFastBatchMatMul()` says whether it is
// usable, and callers fall back to tf.matMul otherwise.
import * as tf from '@tensorflow/tfjs-core';

export const ANNEAL_BATCH_MATMUL = 'AnnealBatchMatMul';

// Internal shapes of the wasm backend we touch (tfjs-backend-wasm 4.22).
interface WasmModule {
  cwrap(name: string, ret: null, args: string[]): (...a: unknown[]) => void;
  tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
}
interface WasmBackendInternals {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: string): { dataId: object; shape: number[]; dtype: string };
}

let registered = false;
let wasmBmm: ((...a: unknown[]) => void) | null = null;
let wasmBmmOwner: unknown = null; // the backend instance wasmBmm was bound to

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** out[i] = a[i] @ b[i] for a [N,M,K], b [N,K,P] (float32), one XNNPACK call per slice, no copies. */
function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WasmBackendInternals;
  const a = args.inputs.a!;
  const b = args.inputs.b!;
  const [n, m, k] = a.shape;
  const [nb, kb, p] = b.shape;
  if (n !== nb || k !== kb || a.shape.length !== 3 || b.shape.length !== 3) {
    throw new Error(`AnnealBatchMatMul: shapes ${a.shape} and ${b.shape} do not chain`);
  }
  if (wasmBmm === null || wasmBmmOwner !== backend) {
    wasmBmmOwner = backend;
    wasmBmm = backend.wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
  }
  const out = backend.makeOutput([n, m, p], 'float32');
  const aOff = backend.dataIdMap.get(a.dataId)!.memoryOffset;
  const bOff = backend.dataIdMap.get(b.dataId)!.memoryOffset;
  const oOff = backend.dataIdMap.get(out.dataId)!.memoryOffset;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, p]);
  const reg = backend.wasm.tfjs;
  for (let i = 0; i < n; i++) {
    const ids = [backend.dataIdNextNumber++, backend.dataIdNextNumber++, backend.dataIdNextNumber++];
    reg.registerTensor(ids[0]!, m * k, aOff + i * m * k * 4);
    reg.registerTensor(ids[1]!, k * p, bOff + i * k * p * 4);
    reg.registerTensor(ids[2]!, m * p, oOff + i * m * p * 4);
    wasmBmm(ids[0], aShape, 3, ids[1], bShape, 3, false, false, ids[2]);
    // Unregistering (without freeing: the memory belongs to a, b and out) also drops the XNNPACK
    // operator cached on the b view.
    for (const id of ids) reg.disposeData(id);
  }
  return out as tf.TensorInfo;
}

/** Registers our wasm kernels once; returns whether the fast batched matmul can be used now. */
export function hasFastBatchMatMul(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  if (!registered) {
    const be = tf.backend() as unknown as Partial<WasmBackendInternals>;
    if (!be.wasm?.tfjs?.registerTensor || !be.dataIdMap || typeof be.makeOutput !== 'function') return false;
    tf.registerKernel({ kernelName: ANNEAL_BATCH_MATMUL, backendName: 'wasm', kernelFunc: batchMatMulKernel as unknown as tf.KernelFunc });
    registered = true;
  }
  return true;
}

/**
 * Makes wasm's Identity (what tf.clone and every gradient's saved tensor go through) share its input's
 * memory by reference count, as the cpu backend does, instead of copying it: tfjs clones every tensor
 * a gradient keeps, so each training step copied every saved activation and weight once more (the
 * 1.7 GB of Identity copies ENGINE.md measured on SmolLM2). Tensors are immutable, and the wasm
 * backend already shares memory this way for Reshape.
 */
export function shareWasmIdentity(): void {
  if (identityShared || tf.getBackend() !== 'wasm') return;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: { incRef(dataId: object): void } }) => {
      const x = inputs.x!;
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as unknown as tf.KernelFunc,
  });
  identityShared = true;
}
let identityShared = false;
