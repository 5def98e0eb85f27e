// float32 -> the GGML block encodings a k-quant export writes (ggml's `block_q*` layouts, which
// engine/dequantize.ts reads): the 256-element super-blocks Q4_K, Q5_K and Q6_K, and Q5_0 / Q5_1, the
// 32-element blocks llama.cpp puts in their place when a row is not a whole number of super-blocks.
//
// K-quants store a super-block scale d (f16) and, per sub-block, a small integer scale (6-bit in
// Q4_K/Q5_K, 8-bit signed in Q6_K), so each sub-block's fit is quantized twice. Each sub-block's
// (scale, min) is chosen by trying a grid of scales around the range's and refitting each candidate's
// rounding by least squares, keeping the one with the smallest squared error (not llama.cpp's exact
// search, which also weights by magnitude; the blocks are the same format).
import { floatToHalf, halfToFloat } from '../engine/dequantize.ts';

export const QK_K = 256;

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
/** C's roundf (halves away from zero), as ggml's nearest_int does up to ties. */
const roundAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/**
 * The (scale, min) with x ≈ scale * q - min, q in 0..nmax, scale >= 0, min >= 0 (a range that
 * includes 0, as ggml's asymmetric k-quants store it) fitting x[at..at+n) best in squared error.
 */
function fitScaleMin(x: Float32Array, at: number, n: number, nmax: number): [number, number] {
  let lo = 0;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    lo = Math.min(lo, x[at + i]!);
    hi = Math.max(hi, x[at + i]!);
  }
  if (hi <= lo) return [0, -lo];
  let bestErr = Infinity;
  let best: [number, number] = [(hi - lo) / nmax, -lo];
  for (let k = -10; k <= 10; k++) {
    const iscale = (nmax + 0.1 * k) / (hi - lo);
    let sq = 0;
    let sx = 0;
    let sqq = 0;
    let sqx = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
      const v = x[at + i]!;
      const q = clamp(Math.round(iscale * (v - lo)), 0, nmax);
      sq += q;
      sx += v;
      sqq += q * q;
      sqx += q * v;
      sxx += v * v;
    }
    // Least squares for v ≈ s q + b; b is kept <= 0 (the min is stored as a magnitude).
    const det = n * sqq - sq * sq;
    let s = det > 0 ? (n * sqx - sq * sx) / det : 0;
    let b = (sx - s * sq) / n;
    if (b > 0 || s <= 0) {
      b = Math.min(0, lo);
      s = sqq > 0 ? Math.max(0, (sqx - b * sq) / sqq) : 0;
    }
    const err = sxx + s * s * sqq + n * b * b - 2 * s * sqx - 2 * b * sx + 2 * s * b * sq;
    if (err < bestErr) {
      bestErr = err;
      best = [s, -b];
    }
  }
  return best;
}

/** The symmetric scale s with x ≈ s * q, q in -nmax..nmax-1, fitting x[at..at+n) best in squared error. */
function fitScale(x: Float32Array, at: number, n: number, nmax: number): number {
  let max = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[at + i]!) > Math.abs(max)) max = x[at + i]!;
  if (max === 0) return 0;
  let bestErr = Infinity;
  let best = -max / nmax;
  // The extreme value maps to -nmax, the side with one more level (as ggml does).
  for (let k = -9; k <= 9; k++) {
    const iscale = -(nmax + 0.1 * k) / max;
    let sqq = 0;
    let sqx = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
      const v = x[at + i]!;
      const q = clamp(roundAway(iscale * v), -nmax, nmax - 1);
      sqq += q * q;
      sqx += q * v;
      sxx += v * v;
    }
    if (sqq === 0) continue;
    const s = sqx / sqq;
    const err = sxx - s * sqx;
    if (err < bestErr) {
      bestErr = err;
      best = s;
    }
  }
  return best;
}

function checkLength(data: Float32Array, block: number, name: string): void {
  if (data.length % block !== 0) throw new Error(`${data.length} values are not a whole number of ${name} blocks of ${block}`);
}

/**
 * Q4_K (144 bytes per 256: d, dmin, 12 bytes of 6-bit sub-block scales and mins, 128 bytes of nibbles)
 * or Q5_K (176 bytes: the same plus 32 bytes of fifth bits before the nibbles). x = d*sc*q - dmin*m.
 */
function quantizeQ45K(data: Float32Array, five: boolean): Uint8Array {
  const nmax = five ? 31 : 15;
  const size = five ? 176 : 144;
  checkLength(data, QK_K, five ? 'Q5_K' : 'Q4_K');
  const out = new Uint8Array((data.length / QK_K) * size);
  const view = new DataView(out.buffer);
  const scales = new Float64Array(8);
  const mins = new Float64Array(8);
  const sc = new Uint8Array(8);
  const mn = new Uint8Array(8);
  for (let b = 0, at = 0; b < data.length; b += QK_K, at += size) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      [scales[j], mins[j]] = fitScaleMin(data, b + 32 * j, 32, nmax);
      maxScale = Math.max(maxScale, scales[j]!);
      maxMin = Math.max(maxMin, mins[j]!);
    }
    const dh = floatToHalf(maxScale / 63);
    const mh = floatToHalf(maxMin / 63);
    const d = halfToFloat(dh);
    const dmin = halfToFloat(mh);
    view.setUint16(at, dh, true);
    view.setUint16(at + 2, mh, true);
    for (let j = 0; j < 8; j++) {
      sc[j] = d > 0 ? clamp(Math.round(scales[j]! / d), 0, 63) : 0;
      mn[j] = dmin > 0 ? clamp(Math.round(mins[j]! / dmin), 0, 63) : 0;
    }
    // Sub-blocks 0-3 keep their 6 bits in bytes 0-3 (scale) and 4-7 (min); 4-7 keep their low 4 bits
    // in bytes 8-11 and their top 2 bits in the top of bytes 0-7.
    const s = at + 4;
    for (let j = 0; j < 4; j++) {
      out[s + j] = (sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6);
      out[s + j + 4] = (mn[j]! & 63) | ((mn[j + 4]! >> 4) << 6);
      out[s + j + 8] = (sc[j + 4]! & 15) | ((mn[j + 4]! & 15) << 4);
    }
    // Element 64c + l is the low nibble of byte 32c + l, 64c + 32 + l its high nibble; in Q5_K bit
    // 2c (and 2c + 1) of byte l of qh holds their fifth bit.
    const qh = at + 16;
    const qs = five ? at + 48 : at + 16;
    for (let j = 0; j < 8; j++) {
      const scale = d * sc[j]!;
      const min = dmin * mn[j]!;
      const inv = scale > 0 ? 1 / scale : 0;
      const c = j >> 1;
      const high = j & 1;
      for (let l = 0; l < 32; l++) {
        const q = clamp(Math.round((data[b + 32 * j + l]! + min) * inv), 0, nmax);
        out[qs + 32 * c + l] |= (q & 15) << (high ? 4 : 0);
        if (five && q > 15) out[qh + l] |= 1 << j;
      }
    }
  }
  return out;
}

export const quantizeQ4_K = (data: Float32Array): Uint8Array => quantizeQ45K(data, false);
export const quantizeQ5_K = (data: Float32Array): Uint8Array => quantizeQ45K(data, true);

/**
 * Q6_K (210 bytes per 256: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed 8-bit
 * sub-block scales, then d). x = d * sc * (q - 32), one scale per 16 elements.
 */
export function quantizeQ6_K(data: Float32Array): Uint8Array {
  checkLength(data, QK_K, 'Q6_K');
  const out = new Uint8Array((data.length / QK_K) * 210);
  const view = new DataView(out.buffer);
  const scales = new Float64Array(16);
  const q = new Uint8Array(QK_K);
  for (let b = 0, at = 0; b < data.length; b += QK_K, at += 210) {
    let maxScale = 0;
    for (let j = 0; j < 16; j++) {
      scales[j] = fitScale(data, b + 16 * j, 16, 32);
      if (Math.abs(scales[j]!) > Math.abs(maxScale)) maxScale = scales[j]!;
    }
    // The largest scale becomes -128, the others within -128..127 of the same step.
    const dh = floatToHalf(maxScale !== 0 ? -maxScale / 128 : 0);
    const d = halfToFloat(dh);
    view.setUint16(at + 208, dh, true);
    for (let j = 0; j < 16; j++) {
      const s = d !== 0 ? clamp(Math.round(scales[j]! / d), -128, 127) : 0;
      view.setInt8(at + 192 + j, s);
      const step = d * s;
      const inv = step !== 0 ? 1 / step : 0;
      for (let i = 0; i < 16; i++) q[16 * j + i] = clamp(roundAway(data[b + 16 * j + i]! * inv), -32, 31) + 32;
    }
    // Per half of 128: element l, l+32, l+64, l+96 share byte l of qh (2 bits each); l and l+64 share
    // byte l of ql (low, high nibble), l+32 and l+96 byte l+32.
    for (let n = 0; n < 2; n++) {
      const ql = at + 64 * n;
      const qh = at + 128 + 32 * n;
      const e = 128 * n;
      for (let l = 0; l < 32; l++) {
        const q1 = q[e + l]!;
        const q2 = q[e + l + 32]!;
        const q3 = q[e + l + 64]!;
        const q4 = q[e + l + 96]!;
        out[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
        out[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
        out[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
  return out;
}

/**
 * Q5_0 (22 bytes per 32: d, 4 bytes of fifth bits, 16 bytes of nibbles; x = d * (q - 16)) as ggml's
 * reference quantizer writes it: the value of largest magnitude maps to q = 0.
 */
export function quantizeQ5_0(data: Float32Array): Uint8Array {
  checkLength(data, 32, 'Q5_0');
  const out = new Uint8Array((data.length / 32) * 22);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < data.length; b += 32, at += 22) {
    let max = 0;
    for (let i = 0; i < 32; i++) if (Math.abs(data[b + i]!) > Math.abs(max)) max = data[b + i]!;
    const d = max / -16;
    view.setUint16(at, floatToHalf(d), true);
    const id = d !== 0 ? 1 / d : 0;
    let qh = 0;
    for (let i = 0; i < 16; i++) {
      const lo = Math.min(31, Math.trunc(data[b + i]! * id + 16.5));
      const hi = Math.min(31, Math.trunc(data[b + i + 16]! * id + 16.5));
      out[at + 6 + i] = (lo & 15) | ((hi & 15) << 4);
      qh |= ((lo >> 4) << i) | ((hi >> 4) << (i + 16));
    }
    view.setUint32(at + 2, qh >>> 0, true);
  }
  return out;
}

/** Q5_1 (24 bytes per 32: d, m, 4 bytes of fifth bits, 16 bytes of nibbles; x = d * q + m), ggml's reference way. */
export function quantizeQ5_1(data: Float32Array): Uint8Array {
  checkLength(data, 32, 'Q5_1');
  const out = new Uint8Array((data.length / 32) * 24);
  const view = new DataView(out.buffer);
  for (let b = 0, at = 0; b < data.length; b += 32, at += 24) {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < 32; i++) {
      min = Math.min(min, data[b + i]!);
      max = Math.max(max, data[b + i]!);
    }
    const d = (max - min) / 31;
    view.setUint16(at, floatToHalf(d), true);
    view.setUint16(at + 2, floatToHalf(min), true);
    const id = d !== 0 ? 1 / d : 0;
    let qh = 0;
    for (let i = 0; i < 16; i++) {
      const lo = Math.min(31, Math.trunc((data[b + i]! - min) * id + 0.5));
      const hi = Math.min(31, Math.trunc((data[b + i + 16]! - min) * id + 0.5));
      out[at + 8 + i] = (lo & 15) | ((hi & 15) << 4);
      qh |= ((lo >> 4) << i) | ((hi >> 4) << (i + 16));
    }
    view.setUint32(at + 4, qh >>> 0, true);
  }
  return out;
}
