// TensorFlow ops run directly on the native backend (tfjs-node), below tfjs-core's op layer: for the
// per-token work of decode.ts, where the tensors are a few hundred numbers and dispatch is the cost.
//
// Why (measured on SmolLM2's shapes, tfjs-node 4.22 on TensorFlow 2.21, CPU time per call): tfjs-core's
// concat costs ~75 us, split ~50 us and mean ~45 us, of which TensorFlow's own ConcatV2/SplitV/Mean
// take 14/13/9 us; the rest is tfjs-core's checks and the axis/size tensors every call uploads. And
// tfjs-node runs every product as BatchMatMulV2, which TensorFlow hands to oneDNN: ~80-120 us for any
// attention-sized product, and [1, 576] x [960, 576]^T and its kin about twice as slow as they need be
// (SmolLM2's 30 layers: ~40 ms). BatchMatMulV3, which oneDNN leaves to Eigen, takes ~13 us for the
// small ones and ~18 ms for the 30 layers. Here each op is one `executeOp` of the backend, with its
// attributes built once and its constant inputs (axes, shapes, split sizes) uploaded once and kept.
//
// It uses tfjs-node's backend methods `executeSingleOutput`/`executeMultipleOutputs` and its binding's
// attribute constants (pinned to 4.22); `nativeOps()` returns null where they are missing, and callers
// use tfjs-core's ops instead. The outputs are ordinary tracked tensors (tf.tidy disposes them). No
// gradients: inference only.
import * as tf from '@tensorflow/tfjs-core';
import type { Kernels } from './kernels.ts';

interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_BOOL: number; TF_ATTR_INT: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], outputs: number): tf.Tensor[];
}

/** TensorFlow ops on float32 tensors, each one kernel; `dispose` frees the kept constants. */
export class NativeOps implements Kernels {
  private readonly consts = new Map<string, tf.Tensor>();
  private readonly T: OpAttr;
  private readonly Tidx: OpAttr;
  /** Attributes of [MatMul, MatMul with b transposed, batched, batched with b transposed]. */
  private readonly flags: OpAttr[][];
  /** Whether this TensorFlow has BatchMatMulV3 (2.10+); else BatchMatMulV2 batches. */
  private readonly v3: boolean;
  /** MatMul's attributes for [a as is, a transposed] x [b as is, b transposed]. */
  private readonly plain: OpAttr[][];

  /**
   * keepConstants: whether axis, shape and scalar constants are uploaded once and kept until `dispose`
   * (decode.ts: one instance per generation, a few shapes) or made per call in the caller's scope, so
   * nothing outlives it (the shared instance used by training's ops, whose shapes vary per batch).
   */
  constructor(
    private readonly be: NodeBackend,
    private readonly keepConstants = true,
  ) {
    const b = be.binding;
    this.T = { name: 'T', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
    this.Tidx = { name: 'Tidx', type: b.TF_ATTR_TYPE, value: b.TF_INT32 };
    const bool = (name: string, value: boolean): OpAttr => ({ name, type: b.TF_ATTR_BOOL, value });
    const type = (name: string): OpAttr => ({ name, type: b.TF_ATTR_TYPE, value: b.TF_FLOAT });
    const v3 = [false, true].map((tb) => [type('Ta'), type('Tb'), type('Tout'), bool('adj_x', false), bool('adj_y', tb)]);
    this.v3 = tf.tidy(() => {
      try {
        be.executeSingleOutput('BatchMatMulV3', v3[0]!, [tf.zeros([1, 1]), tf.zeros([1, 1])]);
        return true;
      } catch {
        return false;
      }
    });
    const mm = [false, true].map((tb) => [this.T, bool('transpose_a', false), bool('transpose_b', tb)]);
    const bmm = this.v3 ? v3 : [false, true].map((tb) => [this.T, bool('adj_x', false), bool('adj_y', tb)]);
    this.flags = [...mm, ...bmm];
    this.plain = [false, true].flatMap((ta) => [false, true].map((tb) => [this.T, bool('transpose_a', ta), bool('transpose_b', tb)]));
  }

  /** An int32 constant (shapes, axes, split sizes), kept for the life of these ops if they keep constants. */
  private int32(values: number[], scalar = false): tf.Tensor {
    if (!this.keepConstants) return scalar ? tf.scalar(values[0]!, 'int32') : tf.tensor1d(values, 'int32');
    const key = `${scalar ? 's' : 'v'}${values.join(',')}`;
    let t = this.consts.get(key);
    if (!t) {
      t = tf.keep(scalar ? tf.scalar(values[0]!, 'int32') : tf.tensor1d(values, 'int32'));
      this.consts.set(key, t);
    }
    return t;
  }

  private unary<T extends tf.Tensor>(op: string, x: T): T {
    return this.be.executeSingleOutput(op, [this.T], [x]) as T;
  }

  /**
   * 2-D a @ b, b transposed if asked. One row (a token's product with a weight) goes to BatchMatMulV3,
   * which Eigen runs as a matrix-vector product; more rows to MatMul, since with adj_y BatchMatMulV3
   * copies b transposed first (SmolLM2's 30 layers at 8 rows: ~240 ms against ~55).
   */
  matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
    const vector = this.v3 && a.shape[0] === 1;
    return this.be.executeSingleOutput(vector ? 'BatchMatMulV3' : 'MatMul', this.flags[(vector ? 2 : 0) + (transposeB ? 1 : 0)]!, [a, b]) as tf.Tensor2D;
  }

  /**
   * 2-D op(a) @ op(b) as TensorFlow's MatMul, for training's products: tfjs-node sends every product to
   * BatchMatMulV2, which TensorFlow hands to oneDNN at a fixed cost that dominates small products.
   * Measured on SmolLM2's LoRA shapes at 2 x 128 tokens (2 threads): [256, 576] x [16, 576]^T 188 us
   * against 85, [256, 16] x [576, 16]^T 319 against 92, dy^T x for A's gradient 145 against 61; the
   * model's own [256, 576] x [1536, 576]^T about the same either way (2.3-2.5 ms).
   */
  matMul2(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
    return this.be.executeSingleOutput('MatMul', this.plain[(transposeA ? 2 : 0) + (transposeB ? 1 : 0)]!, [a, b]) as tf.Tensor2D;
  }

  /** Batched product with broadcast batch dimensions, b transposed if asked. */
  batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor {
    return this.be.executeSingleOutput(this.v3 ? 'BatchMatMulV3' : 'BatchMatMulV2', this.flags[transposeB ? 3 : 2]!, [a, b]);
  }

  /**
   * Batched op(a) @ op(b) (rank 3, same batch), for training's attention: BatchMatMulV2 (oneDNN), as
   * tfjs-node's own matMul runs it, with TensorFlow's transpose flags instead of transposed copies.
   */
  batchMatMulAdj(a: tf.Tensor3D, b: tf.Tensor3D, adjA: boolean, adjB: boolean): tf.Tensor3D {
    const key = (adjA ? 2 : 0) + (adjB ? 1 : 0);
    this.adj[key] ??= [this.T, { name: 'adj_x', type: this.be.binding.TF_ATTR_BOOL, value: adjA }, { name: 'adj_y', type: this.be.binding.TF_ATTR_BOOL, value: adjB }];
    return this.be.executeSingleOutput('BatchMatMulV2', this.adj[key]!, [a, b]) as tf.Tensor3D;
  }
  private readonly adj: OpAttr[][] = [];

  /** A float32 scalar (eps, constant factors), kept for the life of these ops if they keep constants. */
  scalar(value: number): tf.Tensor {
    if (!this.keepConstants) return tf.scalar(value, 'float32');
    const key = `f${value}`;
    let t = this.consts.get(key);
    if (!t) {
      t = tf.keep(tf.scalar(value, 'float32'));
      this.consts.set(key, t);
    }
    return t;
  }

  sub<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.be.executeSingleOutput('Sub', [this.T], [a, b]) as T;
  }

  /** Sum over `axis`, kept as an axis of 1 if asked. */
  sum<T extends tf.Tensor>(x: tf.Tensor, axis: number, keepDims: boolean): T {
    const attrs = [{ name: 'keep_dims', type: this.be.binding.TF_ATTR_BOOL, value: keepDims }, this.T, this.Tidx];
    return this.be.executeSingleOutput('Sum', attrs, [x, this.int32([axis], true)]) as T;
  }

  transpose(x: tf.Tensor, perm: number[]): tf.Tensor {
    const attrs = [this.T, { name: 'Tperm', type: this.be.binding.TF_ATTR_TYPE, value: this.be.binding.TF_INT32 }];
    return this.be.executeSingleOutput('Transpose', attrs, [x, this.int32(perm)]);
  }

  add<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.be.executeSingleOutput('AddV2', [this.T], [a, b]) as T;
  }

  mul<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
    return this.be.executeSingleOutput('Mul', [this.T], [a, b]) as T;
  }

  square<T extends tf.Tensor>(x: T): T {
    return this.unary('Square', x);
  }

  rsqrt<T extends tf.Tensor>(x: T): T {
    return this.unary('Rsqrt', x);
  }

  sigmoid<T extends tf.Tensor>(x: T): T {
    return this.unary('Sigmoid', x);
  }

  /** Softmax over the last axis. */
  softmax<T extends tf.Tensor>(x: T): T {
    return this.unary('Softmax', x);
  }

  /** Mean over the last axis, kept as an axis of 1. */
  meanLast<T extends tf.Tensor>(x: T): T {
    const attrs = [{ name: 'keep_dims', type: this.be.binding.TF_ATTR_BOOL, value: true }, this.T, this.Tidx];
    return this.be.executeSingleOutput('Mean', attrs, [x, this.int32([-1], true)]) as T;
  }

  reshape(x: tf.Tensor, shape: number[]): tf.Tensor {
    const s = this.int32(shape);
    return this.be.executeSingleOutput('Reshape', [this.T, { name: 'Tshape', type: this.be.binding.TF_ATTR_TYPE, value: this.be.binding.TF_INT32 }], [x, s]);
  }

  /** Pieces of the given sizes along `axis`. */
  split(x: tf.Tensor, sizes: number[], axis: number): tf.Tensor[] {
    const b = this.be.binding;
    const attrs = [this.T, { name: 'num_split', type: b.TF_ATTR_INT, value: sizes.length }, { name: 'Tlen', type: b.TF_ATTR_TYPE, value: b.TF_INT32 }];
    return this.be.executeMultipleOutputs('SplitV', attrs, [x, this.int32(sizes), this.int32([axis], true)], sizes.length);
  }

  concat(xs: tf.Tensor[], axis: number): tf.Tensor {
    const attrs = [this.T, { name: 'N', type: this.be.binding.TF_ATTR_INT, value: xs.length }, this.Tidx];
    return this.be.executeSingleOutput('ConcatV2', attrs, [...xs, this.int32([axis], true)]);
  }

  /** Rows of `table` [V, D] at `ids` (int32 [N]) -> [N, D]. */
  gather(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
    const b = this.be.binding;
    const attrs = [
      { name: 'batch_dims', type: b.TF_ATTR_INT, value: 0 },
      { name: 'Tparams', type: b.TF_ATTR_TYPE, value: b.TF_FLOAT },
      { name: 'Tindices', type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
      { name: 'Taxis', type: b.TF_ATTR_TYPE, value: b.TF_INT32 },
    ];
    return this.be.executeSingleOutput('GatherV2', attrs, [table, ids, this.int32([0], true)]) as tf.Tensor2D;
  }

  dispose(): void {
    for (const t of this.consts.values()) t.dispose();
    this.consts.clear();
  }
}

let shared: { backend: tf.KernelBackend; ops: NativeOps | null } | null = null;

/** One NativeOps per active backend, made on first use and kept; it keeps no constants. */
export function sharedNativeOps(): NativeOps | null {
  const backend = tf.backend();
  if (shared?.backend !== backend) shared = { backend, ops: tf.getBackend() === 'tensorflow' ? nativeOps(false) : null };
  return shared.ops;
}

/** Direct ops for the active backend, or null unless it is tfjs-node's (with the methods used here). */
export function nativeOps(keepConstants = true): NativeOps | null {
  if (tf.getBackend() !== 'tensorflow') return null;
  const be = tf.backend() as unknown as Partial<NodeBackend>;
  if (typeof be.executeSingleOutput !== 'function' || typeof be.executeMultipleOutputs !== 'function' || typeof be.binding?.TF_ATTR_TYPE !== 'number') return null;
  return new NativeOps(be as NodeBackend, keepConstants);
}
