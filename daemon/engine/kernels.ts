// The kernels hand-written passes are built from (decode.ts's decoding step, layerOps.ts's fused
// layer ops): on native TensorFlow its own ops called directly (nativeOps.ts, below tfjs-core's op
// layer, where dispatch is the cost at these sizes), tfjs-core's ops everywhere else. No gradients:
// callers that need one wrap these in a custom op.
import * as tf from '@tensorflow/tfjs-core';
import { sharedNativeOps } from './nativeOps.ts';
import { bmmRaw, flagsAreFree } from './ops.ts';

export interface Kernels {
  /** 2-D a @ b, or a @ b^T. */
  matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeB?: boolean): tf.Tensor2D;
  /** Batched product, batch dimensions broadcast. */
  batchMatMul(a: tf.Tensor, b: tf.Tensor, transposeB?: boolean): tf.Tensor;
  /** Batched op(a) @ op(b) for rank-3 tensors of the same batch. */
  batchMatMulAdj(a: tf.Tensor3D, b: tf.Tensor3D, adjA: boolean, adjB: boolean): tf.Tensor3D;
  add<T extends tf.Tensor>(a: T, b: tf.Tensor): T;
  sub<T extends tf.Tensor>(a: T, b: tf.Tensor): T;
  mul<T extends tf.Tensor>(a: T, b: tf.Tensor): T;
  square<T extends tf.Tensor>(x: T): T;
  rsqrt<T extends tf.Tensor>(x: T): T;
  sigmoid<T extends tf.Tensor>(x: T): T;
  softmax<T extends tf.Tensor>(x: T): T;
  /** Mean over the last axis, kept as an axis of 1. */
  meanLast<T extends tf.Tensor>(x: T): T;
  /** Sum over `axis`, kept as an axis of 1 if asked. */
  sum<T extends tf.Tensor>(x: tf.Tensor, axis: number, keepDims: boolean): T;
  /** A float32 scalar. */
  scalar(value: number): tf.Tensor;
  reshape(x: tf.Tensor, shape: number[]): tf.Tensor;
  transpose(x: tf.Tensor, perm: number[]): tf.Tensor;
  split(x: tf.Tensor, sizes: number[], axis: number): tf.Tensor[];
  concat(xs: tf.Tensor[], axis: number): tf.Tensor;
  gather(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D;
  dispose(): void;
}

const t3 = (x: tf.Tensor3D): tf.Tensor3D => tf.transpose(x, [0, 2, 1]);

export const coreKernels: Kernels = {
  matMul: (a, b, transposeB = false) => tf.matMul(a, b, false, transposeB),
  batchMatMul: (a, b, transposeB = false) => {
    // tfjs's kernels flatten the batch dimensions and pair batches by index modulo the smaller count,
    // which pairs [B, n, ...] with [B, 1, ...] wrongly for B > 1: fold n into a's rows instead.
    if (a.rank === 4 && b.rank === 4 && b.shape[1] === 1 && a.shape[1] !== 1) {
      const [b0, n, m, kk] = a.shape as number[];
      const y = tf.matMul(tf.reshape(a, [b0!, n! * m!, kk!]), tf.squeeze(b, [1]) as tf.Tensor3D, false, transposeB);
      return tf.reshape(y, [b0!, n!, m!, y.shape[2]!]);
    }
    return tf.matMul(a, b, false, transposeB);
  },
  // wasm multiplies fast only without transpose flags (ops.ts): there the operands are transposed first.
  batchMatMulAdj: (a, b, adjA, adjB) => (flagsAreFree() ? tf.matMul(a, b, adjA, adjB) : bmmRaw(adjA ? t3(a) : a, adjB ? t3(b) : b)),
  add: (a, b) => tf.add(a, b),
  sub: (a, b) => tf.sub(a, b),
  mul: (a, b) => tf.mul(a, b),
  square: (x) => tf.square(x),
  rsqrt: (x) => tf.rsqrt(x),
  sigmoid: (x) => tf.sigmoid(x),
  softmax: (x) => tf.softmax(x),
  meanLast: (x) => tf.mean(x, -1, true),
  sum: (x, axis, keepDims) => tf.sum(x, axis, keepDims),
  scalar: (v) => tf.scalar(v),
  reshape: (x, shape) => tf.reshape(x, shape),
  transpose: (x, perm) => tf.transpose(x, perm),
  split: (x, sizes, axis) => tf.split(x, sizes, axis),
  concat: (xs, axis) => tf.concat(xs, axis),
  gather: (table, ids) => tf.gather(table, ids),
  dispose: () => {},
};

/** The active backend's kernels, made once per backend; they keep no tensors between calls. */
export function kernels(): Kernels {
  return sharedNativeOps() ?? coreKernels;
}
