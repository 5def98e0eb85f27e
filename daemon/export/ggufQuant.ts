// The GGUF tensor encodings an export writes, float32 in: F32, F16, BF16, and the block formats Q8_0
// and Q4_0 (per the GGUF specification: a row is a run of 32-element blocks, each an f16 scale then
// its integers). Which quantization a user may ask for, and what each tensor of a model becomes.
import { floatToHalf, GGML, quantizeQ4_0 } from '../engine/dequantize.ts';

/** An export's `--quant` choice: the GGML type of its matrices and the file's general.file_type. */
export interface QuantType {
  name: string;
  /** GGML type of 2-D weights. */
  ggml: number;
  /** llama.cpp's llama_ftype ("MOSTLY_…") recorded as general.file_type. */
  fileType: number;
  /** Elements per block: a matrix whose rows are not a whole number of blocks stays F16. */
  block: number;
  describe: string;
}

export const QUANT_TYPES: readonly QuantType[] = [
  { name: 'f32', ggml: GGML.F32, fileType: 0, block: 1, describe: 'float32, lossless' },
  { name: 'f16', ggml: GGML.F16, fileType: 1, block: 1, describe: 'float16 (half the size, rounding only)' },
  { name: 'bf16', ggml: GGML.BF16, fileType: 32, block: 1, describe: 'bfloat16' },
  { name: 'q8_0', ggml: GGML.Q8_0, fileType: 7, block: 32, describe: '8-bit blocks of 32 with an f16 scale (about a quarter of float32)' },
  { name: 'q4_0', ggml: GGML.Q4_0, fileType: 2, block: 32, describe: '4-bit blocks of 32 with an f16 scale (smallest; visible quality loss on small models)' },
];

/** The quant type named `name` (case-insensitive), or a one-sentence error listing the supported ones. */
export function quantType(name: string): QuantType {
  const found = QUANT_TYPES.find((q) => q.name === name.toLowerCase());
  if (found) return found;
  throw new Error(`GGUF quantization "${name}" is not supported; choose one of ${QUANT_TYPES.map((q) => q.name).join(', ')} (k-quants such as q4_k_m are not written yet: quantize an f16 export with llama.cpp's llama-quantize for those).`);
}

/**
 * The GGML type a tensor of `shape` is stored as under `quant`: vectors (norms, biases) stay F32, as
 * llama.cpp expects; a matrix takes the quant type, or F16 when its rows do not split into blocks.
 */
export function tensorType(shape: readonly number[], quant: QuantType): number {
  if (shape.length < 2) return GGML.F32;
  const cols = shape[shape.length - 1]!;
  return cols % quant.block === 0 ? quant.ggml : GGML.F16;
}

/** Bytes `count` elements take in `type` (one of the types this file writes). */
export function encodedSize(type: number, count: number): number {
  switch (type) {
    case GGML.F32:
      return count * 4;
    case GGML.F16:
    case GGML.BF16:
      return count * 2;
    case GGML.Q8_0:
      return (count / 32) * 34;
    case GGML.Q4_0:
      return (count / 32) * 18;
    default:
      throw new Error(`the export does not write GGML type ${type}`);
  }
}

/** `data` in GGML `type`'s encoding (little-endian). */
export function encodeTensor(data: Float32Array, type: number): Uint8Array {
  switch (type) {
    case GGML.F32:
      return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    case GGML.F16:
      return encodeF16(data);
    case GGML.BF16:
      return encodeBF16(data);
    case GGML.Q8_0:
      return quantizeQ8_0(data);
    case GGML.Q4_0:
      return quantizeQ4_0(data);
    default:
      throw new Error(`the export does not write GGML type ${type}`);
  }
}

function encodeF16(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  return new Uint8Array(out.buffer);
}

/** float32 -> bfloat16, rounding to nearest even on the dropped 16 bits (NaN stays a quiet NaN). */
function encodeBF16(data: Float32Array): Uint8Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = (b >>> 16) | 0x40;
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

/**
 * float32 -> Q8_0 blocks: per block of 32, d = max|x| / 127 (stored as f16) and q = round(x / d), so
 * each value is off by at most d / 2 (plus the scale's f16 rounding).
 */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  if (data.length % 32 !== 0) throw new Error(`${data.length} values are not a whole number of Q8_0 blocks of 32`);
  const out = new Uint8Array((data.length / 32) * 34);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < data.length; b += 32, at += 34) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(data[b + i]!));
    const d = amax / 127;
    const id = d !== 0 ? 1 / d : 0;
    view.setUint16(at, floatToHalf(d), true);
    // Math.round rounds .5 up; C's roundf rounds it away from zero: the same except at negative halves.
    for (let i = 0; i < 32; i++) {
      const x = data[b + i]! * id;
      view.setInt8(at + 2 + i, Math.sign(x) * Math.round(Math.abs(x)));
    }
  }
  return out;
}
