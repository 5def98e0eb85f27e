// GGML tensor encodings -> float32, for the types GGUF files on users' disks commonly hold.
// Block layouts follow the GGUF specification (ggml's `block_q*` structs): a quantized row is a run of
// fixed-size blocks, each with its own f16 scale(s) and packed integers. Checked value for value
// against the `gguf` Python package (test/fixtures/gguf/make_gguf_fixtures.py).

/** GGML type ids (ggml.h's `ggml_type`) that `dequantize` reads. */
export const GGML = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
} as const;

const NAMES = new Map<number, string>(Object.entries(GGML).map(([k, v]) => [v, k]));

/** Elements per block and bytes per block of each type. */
const LAYOUT: Record<number, [number, number]> = {
  [GGML.F32]: [1, 4],
  [GGML.F16]: [1, 2],
  [GGML.BF16]: [1, 2],
  [GGML.Q8_0]: [32, 34],
  [GGML.Q4_0]: [32, 18],
  [GGML.Q4_1]: [32, 20],
  [GGML.Q5_0]: [32, 22],
  [GGML.Q5_1]: [32, 24],
  [GGML.Q4_K]: [256, 144],
  [GGML.Q5_K]: [256, 176],
  [GGML.Q6_K]: [256, 210],
};

/** The type's name (e.g. "Q4_K"), or `type N` for one this reader does not know. */
export function ggmlTypeName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

export function isSupportedType(type: number): boolean {
  return LAYOUT[type] !== undefined;
}

/** Bytes that `count` elements of `type` occupy (count must be a whole number of blocks). */
export function byteSize(type: number, count: number): number {
  const layout = LAYOUT[type];
  if (!layout) throw new Error(`GGML ${ggmlTypeName(type)} is not supported`);
  const [block, bytes] = layout;
  if (count % block !== 0) throw new Error(`${count} elements are not a whole number of ${ggmlTypeName(type)} blocks of ${block}`);
  return (count / block) * bytes;
}

const f16Scratch = new DataView(new ArrayBuffer(4));

/** IEEE half -> float (subnormals and infinities included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bf16ToFloat(h: number): number {
  f16Scratch.setUint32(0, h << 16);
  return f16Scratch.getFloat32(0);
}

/** 6-bit scale and min of sub-block j from the 12 packed bytes of a Q4_K/Q5_K super-block. */
function scaleMin(q: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [q[at + j]! & 63, q[at + j + 4]! & 63];
  const d = (q[at + j + 4]! & 0xf) | ((q[at + j - 4]! >> 6) << 4);
  const m = (q[at + j + 4]! >> 4) | ((q[at + j]! >> 6) << 4);
  return [d, m];
}

/** Decodes `count` elements of `type` from `src` into a new Float32Array. */
export function dequantize(src: Uint8Array, type: number, count: number): Float32Array {
  const need = byteSize(type, count);
  if (src.byteLength < need) throw new Error(`${ggmlTypeName(type)} data is ${src.byteLength} bytes, ${need} expected`);
  const out = new Float32Array(count);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const half = (at: number) => halfToFloat(view.getUint16(at, true));
  switch (type) {
    case GGML.F32:
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case GGML.F16:
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    case GGML.BF16:
      for (let i = 0; i < count; i++) out[i] = bf16ToFloat(view.getUint16(i * 2, true));
      return out;
    case GGML.Q8_0:
      // d, then 32 signed bytes: x = d * q
      for (let at = 0, o = 0; o < count; at += 34) {
        const d = half(at);
        for (let i = 0; i < 32; i++) out[o++] = d * view.getInt8(at + 2 + i);
      }
      return out;
    case GGML.Q4_0:
    case GGML.Q4_1: {
      // Q4_0: d, 16 bytes of nibbles, x = d * (q - 8). Q4_1: d, m, nibbles, x = d * q + m.
      // Low nibbles are elements 0..15 of the block, high nibbles 16..31.
      const withMin = type === GGML.Q4_1;
      const size = withMin ? 20 : 18;
      for (let at = 0, o = 0; o < count; at += size, o += 32) {
        const d = half(at);
        const m = withMin ? half(at + 2) : -8 * d;
        const qs = at + (withMin ? 4 : 2);
        for (let i = 0; i < 16; i++) {
          const byte = src[qs + i]!;
          out[o + i] = d * (byte & 0xf) + m;
          out[o + i + 16] = d * (byte >> 4) + m;
        }
      }
      return out;
    }
    case GGML.Q5_0:
    case GGML.Q5_1: {
      // Q5_0: d, 4 bytes of fifth bits, nibbles; x = d * (q - 16). Q5_1: d, m, fifth bits, nibbles;
      // x = d * q + m. Element i's fifth bit is bit i of the little-endian u32.
      const withMin = type === GGML.Q5_1;
      const size = withMin ? 24 : 22;
      for (let at = 0, o = 0; o < count; at += size, o += 32) {
        const d = half(at);
        const m = withMin ? half(at + 2) : -16 * d;
        const qh = view.getUint32(at + (withMin ? 4 : 2), true);
        const qs = at + (withMin ? 8 : 6);
        for (let i = 0; i < 16; i++) {
          const byte = src[qs + i]!;
          out[o + i] = d * ((byte & 0xf) | (((qh >>> i) & 1) << 4)) + m;
          out[o + i + 16] = d * ((byte >> 4) | (((qh >>> (i + 16)) & 1) << 4)) + m;
        }
      }
      return out;
    }
    case GGML.Q4_K:
    case GGML.Q5_K: {
      // Super-block of 256: d, dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks of 32,
      // (Q5_K: 32 bytes of fifth bits), 128 bytes of nibbles. x = d*sc*q - dmin*m.
      const five = type === GGML.Q5_K;
      const size = five ? 176 : 144;
      for (let at = 0, o = 0; o < count; at += size) {
        const d = half(at);
        const dmin = half(at + 2);
        const scales = at + 4;
        const qh = at + 16; // Q5_K only
        let ql = five ? at + 48 : at + 16;
        for (let j = 0, is = 0, bit = 1; j < 256; j += 64, is += 2, ql += 32, bit <<= 2) {
          const [sc1, m1] = scaleMin(src, scales, is);
          const [sc2, m2] = scaleMin(src, scales, is + 1);
          const d1 = d * sc1;
          const d2 = d * sc2;
          const n1 = dmin * m1;
          const n2 = dmin * m2;
          for (let l = 0; l < 32; l++) {
            const high = five && src[qh + l]! & bit ? 16 : 0;
            out[o + l] = d1 * ((src[ql + l]! & 0xf) + high) - n1;
          }
          for (let l = 0; l < 32; l++) {
            const high = five && src[qh + l]! & (bit << 1) ? 16 : 0;
            out[o + 32 + l] = d2 * ((src[ql + l]! >> 4) + high) - n2;
          }
          o += 64;
        }
      }
      return out;
    }
    case GGML.Q6_K: {
      // Super-block of 256: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed 8-bit
      // scales (one per 16 elements), then d. x = d * scale * (q6 - 32).
      for (let at = 0, o = 0; o < count; at += 210) {
        const d = half(at + 208);
        let ql = at;
        let qh = at + 128;
        let sc = at + 192;
        for (let n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const h = src[qh + l]!;
            const q1 = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
            const q2 = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
            out[o + l] = d * view.getInt8(sc + is) * q1;
            out[o + l + 32] = d * view.getInt8(sc + is + 2) * q2;
            out[o + l + 64] = d * view.getInt8(sc + is + 4) * q3;
            out[o + l + 96] = d * view.getInt8(sc + is + 6) * q4;
          }
          o += 128;
        }
      }
      return out;
    }
    default:
      throw new Error(`GGML ${ggmlTypeName(type)} is not supported`);
  }
}

/**
 * float32 -> Q4_0 blocks (the encoding `dequantize` reads), as llama.cpp's reference quantizer does it:
 * per block of 32, d = (the value of largest magnitude) / -8 and q = round(x / d) + 8 clamped to 0..15,
 * so the extreme value maps exactly to q = 0. Used to keep a float model's frozen base in 4 bits.
 */
export function quantizeQ4_0(data: Float32Array): Uint8Array {
  if (data.length % 32 !== 0) throw new Error(`${data.length} values are not a whole number of Q4_0 blocks of 32`);
  const out = new Uint8Array((data.length / 32) * 18);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < data.length; b += 32, at += 18) {
    let max = 0;
    for (let i = 0; i < 32; i++) if (Math.abs(data[b + i]!) > Math.abs(max)) max = data[b + i]!;
    const d = max / -8;
    const dh = floatToHalf(d);
    view.setUint16(at, dh, true);
    const id = d !== 0 ? 1 / d : 0;
    for (let i = 0; i < 16; i++) {
      const lo = Math.min(15, Math.trunc(data[b + i]! * id + 8.5));
      const hi = Math.min(15, Math.trunc(data[b + i + 16]! * id + 8.5));
      out[at + 2 + i] = lo | (hi << 4);
    }
  }
  return out;
}

/** float -> IEEE half (round to nearest even), for the scales of blocks this module writes. */
export function floatToHalf(value: number): number {
  f16Scratch.setFloat32(0, value);
  const x = f16Scratch.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  // Rounding may carry into the exponent; the bit layout makes that the right half.
  let half = (e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}
