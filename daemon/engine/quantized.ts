// A frozen base weight kept in its compact GGML encoding (4-8 bits a value instead of 32) and turned into
// a float32 tensor only while a layer uses it: QLoRA's idea (seed 000's `load_in_4bit`) for this engine.
// Host memory holds the blocks; the backend holds one layer's float weights at a time, because
// ops.linearQuantized dequantizes again in the backward pass rather than keeping the floats.
import * as tf from '@tensorflow/tfjs-core';
import { dequantize, GGML, quantizeQ4_0 } from './dequantize.ts';

export class QuantizedWeight {
  constructor(
    readonly shape: [number, number],
    readonly type: number,
    readonly bytes: Uint8Array,
  ) {}

  /** A float32 weight quantized to Q4_0 (what load_in_4bit does to a float checkpoint). */
  static fromFloats(shape: [number, number], data: Float32Array): QuantizedWeight {
    return new QuantizedWeight(shape, GGML.Q4_0, quantizeQ4_0(data));
  }

  /** The weight as a new float32 tensor [out, in]; the caller (or the enclosing tidy) disposes it. */
  materialize(): tf.Tensor2D {
    return tf.tensor2d(dequantize(this.bytes, this.type, this.shape[0] * this.shape[1]), this.shape, 'float32');
  }
}

/** The decoder layers' linear weights: what load_in_4bit keeps quantized (embeddings, norms and the head stay float). */
export function isFrozenLinear(name: string): boolean {
  return /^model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$/.test(name);
}

/** Moves a float checkpoint's decoder linear weights into Q4_0 blocks (load_in_4bit on a Hugging Face folder). */
export function quantizeFrozenLinears(weights: Map<string, { shape: number[]; data: Float32Array }>): Map<string, QuantizedWeight> {
  const out = new Map<string, QuantizedWeight>();
  for (const [name, t] of weights) {
    if (!isFrozenLinear(name) || t.shape.length !== 2 || t.shape[1]! % 32 !== 0) continue;
    out.set(name, QuantizedWeight.fromFloats([t.shape[0]!, t.shape[1]!], t.data));
    weights.delete(name);
  }
  return out;
}

/** Bytes the quantized weights take on the host, and what they would take as float32. */
export function quantizedFootprint(quantized: Map<string, QuantizedWeight>): { bytes: number; floatBytes: number } {
  let bytes = 0;
  let floatBytes = 0;
  for (const q of quantized.values()) {
    bytes += q.bytes.byteLength;
    floatBytes += q.shape[0] * q.shape[1] * 4;
  }
  return { bytes, floatBytes };
}
