// The GGUF tensor encodings an export writes, float32 in: F32, F16, BF16, the 32-element block formats
// Q8_0, Q4_0 (and Q5_0 / Q5_1 where a k-quant row does not split into super-blocks), and the k-quant
// super-blocks Q4_K, Q5_K, Q6_K (ggufKQuants.ts). Which quantization a user may ask for
// (core/recipe/exportBlock.ts GGUF_QUANTS), and what each tensor of a model becomes under it: for the
// k-quant mixes, the per-tensor choices llama.cpp's llama-quantize makes for its file type of that name.
import { GGUF_QUANTS, type GgufQuantName } from '../../core/recipe/exportBlock.ts';
import { byteSize, floatToHalf, GGML, ggmlTypeName, quantizeQ4_0 } from '../engine/dequantize.ts';
import { QK_K, quantizeQ4_K, quantizeQ5_0, quantizeQ5_1, quantizeQ5_K, quantizeQ6_K } from './ggufKQuants.ts';

/** An export's `--quant` choice: the GGML type of its matrices and the file's general.file_type. */
export interface QuantType {
  name: GgufQuantName;
  /** GGML type of 2-D weights (before a mix's per-tensor choices). */
  ggml: number;
  /** llama.cpp's llama_ftype ("MOSTLY_…") recorded as general.file_type. */
  fileType: number;
  describe: string;
}

/** GGML type and llama_ftype of each quantization (the names and descriptions are core's). */
const ENCODINGS: Record<GgufQuantName, { ggml: number; fileType: number }> = {
  f32: { ggml: GGML.F32, fileType: 0 },
  f16: { ggml: GGML.F16, fileType: 1 },
  bf16: { ggml: GGML.BF16, fileType: 32 },
  q8_0: { ggml: GGML.Q8_0, fileType: 7 },
  q4_0: { ggml: GGML.Q4_0, fileType: 2 },
  q4_k_s: { ggml: GGML.Q4_K, fileType: 14 },
  q4_k_m: { ggml: GGML.Q4_K, fileType: 15 },
  q5_k_m: { ggml: GGML.Q5_K, fileType: 17 },
  q6_k: { ggml: GGML.Q6_K, fileType: 18 },
};

export const QUANT_TYPES: readonly QuantType[] = GGUF_QUANTS.map((q) => ({ name: q.name, describe: q.describe, ...ENCODINGS[q.name] }));

/** The quant type named `name` (case-insensitive), or a one-sentence error listing the supported ones. */
export function quantType(name: string): QuantType {
  const found = QUANT_TYPES.find((q) => q.name === name.toLowerCase());
  if (found) return found;
  throw new Error(`GGUF quantization "${name}" is not supported; choose one of ${QUANT_TYPES.map((q) => q.name).join(', ')}.`);
}

/** Elements per block of a GGML type this file writes. */
const blockOf = (type: number) => (type === GGML.Q4_K || type === GGML.Q5_K || type === GGML.Q6_K ? QK_K : type === GGML.F32 || type === GGML.F16 || type === GGML.BF16 ? 1 : 32);

/** llama.cpp's stand-in for a k-quant a row cannot hold (its length is not a multiple of 256). */
const FALLBACK: Record<number, number> = { [GGML.Q4_K]: GGML.Q5_0, [GGML.Q5_K]: GGML.Q5_1, [GGML.Q6_K]: GGML.Q8_0 };

/** The layers llama.cpp's _M mixes give more bits: the first and last eighth, and every third between. */
export function useMoreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/** A GGUF tensor to place: its llama.cpp name and shape (outermost first). */
export interface TensorToPlace {
  name: string;
  shape: readonly number[];
}

/** What a tensor is stored as, and whether that is a stand-in because its rows do not split into blocks. */
export interface Placement {
  type: number;
  fellBack: boolean;
}

/**
 * The GGML type of each tensor of a model under `quant`: vectors (norms, biases) stay F32, as llama.cpp
 * expects; a matrix takes the quant type, or for a k-quant mix what llama.cpp's mix of that name picks
 * (the head, or a tied embedding, Q6_K, Q8_0 when its rows are not whole super-blocks; Q6_K (_M) or
 * Q5_K (q4_k_s) for some layers' attn_v and ffn_down); then a type whose blocks the row length does not
 * divide falls back as llama.cpp's does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, else F16).
 */
export function placeTensors(tensors: readonly TensorToPlace[], quant: QuantType): Map<string, Placement> {
  const out = new Map<string, Placement>();
  const kMix = blockOf(quant.ggml) === QK_K;
  const tied = !tensors.some((t) => t.name === 'output.weight');
  const layersOf = (kind: string) => tensors.filter((t) => t.name.endsWith(`.${kind}.weight`)).length;
  const attnV = layersOf('attn_v');
  const ffnDown = layersOf('ffn_down');
  for (const t of tensors) {
    if (t.shape.length < 2) {
      out.set(t.name, { type: GGML.F32, fellBack: false });
      continue;
    }
    const cols = t.shape[t.shape.length - 1]!;
    let type = quant.ggml;
    if (kMix) {
      const layer = Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1);
      if (t.name === 'output.weight' || (tied && t.name === 'token_embd.weight')) type = cols % QK_K !== 0 ? GGML.Q8_0 : GGML.Q6_K;
      else if (t.name.endsWith('.attn_v.weight')) {
        if ((quant.name === 'q4_k_m' || quant.name === 'q5_k_m') && useMoreBits(layer, attnV)) type = GGML.Q6_K;
        else if (quant.name === 'q4_k_s' && layer < 4) type = GGML.Q5_K;
      } else if (t.name.endsWith('.ffn_down.weight')) {
        if ((quant.name === 'q4_k_m' || quant.name === 'q5_k_m') && useMoreBits(layer, ffnDown)) type = GGML.Q6_K;
        else if (quant.name === 'q4_k_s' && layer < Math.floor(ffnDown / 8)) type = GGML.Q5_K;
      }
    }
    let fellBack = false;
    if (cols % blockOf(type) !== 0) {
      fellBack = true;
      type = FALLBACK[type] ?? GGML.F16;
      if (cols % blockOf(type) !== 0) type = GGML.F16;
    }
    out.set(t.name, { type, fellBack });
  }
  return out;
}

/** Bytes `count` elements take in `type` (one of the types this file writes). */
export function encodedSize(type: number, count: number): number {
  if (!(type in ENCODERS)) throw new Error(`the export does not write GGML type ${ggmlTypeName(type)}`);
  return byteSize(type, count);
}

const ENCODERS: Record<number, (data: Float32Array) => Uint8Array> = {
  [GGML.F32]: (data) => new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  [GGML.F16]: (data) => encodeF16(data),
  [GGML.BF16]: (data) => encodeBF16(data),
  [GGML.Q8_0]: (data) => quantizeQ8_0(data),
  [GGML.Q4_0]: quantizeQ4_0,
  [GGML.Q5_0]: quantizeQ5_0,
  [GGML.Q5_1]: quantizeQ5_1,
  [GGML.Q4_K]: quantizeQ4_K,
  [GGML.Q5_K]: quantizeQ5_K,
  [GGML.Q6_K]: quantizeQ6_K,
};

/** `data` in GGML `type`'s encoding (little-endian). */
export function encodeTensor(data: Float32Array, type: number): Uint8Array {
  const encode = ENCODERS[type];
  if (!encode) throw new Error(`the export does not write GGML type ${ggmlTypeName(type)}`);
  return encode(data);
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
