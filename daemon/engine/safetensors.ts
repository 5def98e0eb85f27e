// The safetensors format (8-byte little-endian header length, a JSON header of
// {name: {dtype, shape, data_offsets}}, then raw little-endian data). Small enough to own: we write
// float32 and read float32/float16/bfloat16, converting to float32 (tfjs computes in float32).
import { readFileSync, writeFileSync } from 'node:fs';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Serializes float32 tensors (sorted by name, as the Python library does) with optional metadata. */
export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`${name}: shape [${t.shape}] does not match ${t.data.length} values`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + size * 4] };
    offset += size * 4;
  }
  let json = JSON.stringify(header);
  // Pad so the data starts 8-byte aligned, as the reference implementation does.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    out.set(bytes, at); // float32 arrays are little-endian on every platform Node runs on
    at += bytes.length;
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

/** Parses a safetensors buffer into float32 tensors plus its metadata. */
export function decodeSafetensors(buf: Uint8Array): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (buf.length < 8) throw new Error('not a safetensors file (too short)');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > buf.length - 8) throw new Error('not a safetensors file (header length past the end)');
  const header = JSON.parse(Buffer.from(buf.subarray(8, 8 + n)).toString('utf8')) as Record<string, unknown>;
  const base = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = data_offsets;
    const bytes = buf.subarray(base + begin, base + end);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const data = new Float32Array(size);
    if (dtype === 'F32') for (let i = 0; i < size; i++) data[i] = dv.getFloat32(i * 4, true);
    else if (dtype === 'F16') for (let i = 0; i < size; i++) data[i] = f16ToF32(dv.getUint16(i * 2, true));
    else if (dtype === 'BF16') {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < size; i++) bits[i] = dv.getUint16(i * 2, true) << 16;
    } else if (dtype === 'F64') for (let i = 0; i < size; i++) data[i] = dv.getFloat64(i * 8, true);
    else throw new Error(`${name}: dtype ${dtype} is not supported (use F32, F16, BF16 or F64)`);
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}

export function writeSafetensors(path: string, tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  return decodeSafetensors(readFileSync(path));
}
