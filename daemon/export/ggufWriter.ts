// Writes a GGUF file (version 3, as the GGUF specification in ggml's docs/gguf.md lays it out): the
// header (magic, version, tensor count, metadata count), typed metadata key/values, the tensor table
// (name, dimensions innermost first, GGML type, offset into the data section), padding to the
// alignment, then each tensor's bytes at an aligned offset. Tensors are encoded one at a time and
// streamed to the file, so a model is never held twice in memory.
import { closeSync, openSync, writeSync } from 'node:fs';

/** GGUF metadata value types (gguf_type). */
export const GGUF_VALUE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export type GgufScalarType = Exclude<(typeof GGUF_VALUE)[keyof typeof GGUF_VALUE], typeof GGUF_VALUE.ARRAY>;

/** One metadata value with its GGUF type; arrays hold scalars of one type. */
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: typeof GGUF_VALUE.ARRAY; itemType: GgufScalarType; values: readonly (number | bigint | boolean | string)[] };

export const gv = {
  u32: (value: number): GgufValue => ({ type: GGUF_VALUE.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GGUF_VALUE.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GGUF_VALUE.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GGUF_VALUE.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GGUF_VALUE.STRING, value }),
  strings: (values: readonly string[]): GgufValue => ({ type: GGUF_VALUE.ARRAY, itemType: GGUF_VALUE.STRING, values }),
  i32s: (values: readonly number[]): GgufValue => ({ type: GGUF_VALUE.ARRAY, itemType: GGUF_VALUE.INT32, values }),
  f32s: (values: readonly number[]): GgufValue => ({ type: GGUF_VALUE.ARRAY, itemType: GGUF_VALUE.FLOAT32, values }),
};

/** A tensor to write: its GGML name, shape outermost first (row-major, as Hugging Face's), type and encoded size. */
export interface GgufTensorSpec {
  name: string;
  shape: number[];
  /** GGML type id (dequantize.ts's GGML). */
  type: number;
  byteLength: number;
  /** The tensor's bytes in `type`'s encoding; called once, in table order, while the data section is written. */
  encode(): Uint8Array;
}

export const GGUF_ALIGNMENT = 32;

/** Grows a byte buffer for the header part (metadata and the tensor table). */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number | bigint): void {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  /** GGUF string: u64 byte length, then UTF-8 without a terminator. */
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string, key: string): void {
    const need = (ok: boolean) => {
      if (!ok) throw new Error(`GGUF metadata ${key}: ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)} is not a valid value of type ${type}`);
    };
    switch (type) {
      case GGUF_VALUE.STRING:
        need(typeof v === 'string');
        return this.string(v as string);
      case GGUF_VALUE.BOOL:
        need(typeof v === 'boolean');
        return this.u8(v ? 1 : 0);
      case GGUF_VALUE.FLOAT32:
      case GGUF_VALUE.FLOAT64: {
        need(typeof v === 'number');
        const n = type === GGUF_VALUE.FLOAT32 ? 4 : 8;
        this.room(n);
        if (n === 4) this.view.setFloat32(this.length, v as number, true);
        else this.view.setFloat64(this.length, v as number, true);
        this.length += n;
        return;
      }
      case GGUF_VALUE.UINT64:
      case GGUF_VALUE.INT64:
        need(typeof v === 'number' || typeof v === 'bigint');
        this.room(8);
        if (type === GGUF_VALUE.UINT64) this.view.setBigUint64(this.length, BigInt(v as number), true);
        else this.view.setBigInt64(this.length, BigInt(v as number), true);
        this.length += 8;
        return;
      default: {
        need(typeof v === 'number' && Number.isInteger(v));
        const n = v as number;
        const size = type === GGUF_VALUE.UINT8 || type === GGUF_VALUE.INT8 ? 1 : type === GGUF_VALUE.UINT16 || type === GGUF_VALUE.INT16 ? 2 : 4;
        this.room(size);
        if (type === GGUF_VALUE.UINT8) this.view.setUint8(this.length, n);
        else if (type === GGUF_VALUE.INT8) this.view.setInt8(this.length, n);
        else if (type === GGUF_VALUE.UINT16) this.view.setUint16(this.length, n, true);
        else if (type === GGUF_VALUE.INT16) this.view.setInt16(this.length, n, true);
        else if (type === GGUF_VALUE.UINT32) this.view.setUint32(this.length, n, true);
        else this.view.setInt32(this.length, n, true);
        this.length += size;
      }
    }
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** The header part (everything before the data section), padded to the alignment, and each tensor's data offset. */
export function encodeGgufHeader(metadata: Map<string, GgufValue>, tensors: readonly GgufTensorSpec[], alignment = GGUF_ALIGNMENT): { header: Uint8Array; offsets: number[] } {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`GGUF tensor ${t.name} is listed twice`);
    seen.add(t.name);
  }
  const out = new ByteSink();
  out.bytes(Buffer.from('GGUF', 'ascii'));
  out.u32(3);
  out.u64(tensors.length);
  out.u64(metadata.size);
  for (const [key, value] of metadata) {
    out.string(key);
    out.u32(value.type);
    if (value.type === GGUF_VALUE.ARRAY) {
      out.u32(value.itemType);
      out.u64(value.values.length);
      for (const v of value.values) out.scalar(value.itemType, v, key);
    } else out.scalar(value.type, value.value, key);
  }
  const offsets: number[] = [];
  let at = 0;
  for (const t of tensors) {
    out.string(t.name);
    out.u32(t.shape.length);
    // GGML lists dimensions innermost first.
    for (const d of [...t.shape].reverse()) out.u64(d);
    out.u32(t.type);
    out.u64(at);
    offsets.push(at);
    at = align(at + t.byteLength, alignment);
  }
  const padded = align(out.length, alignment);
  out.bytes(new Uint8Array(padded - out.length));
  return { header: out.result(), offsets };
}

/**
 * Writes `path`: metadata, then the tensors in the order given (each encoded when its turn comes).
 * `onTensor` reports progress. `general.alignment`, when present in `metadata`, must be a u32.
 */
export function writeGguf(path: string, metadata: Map<string, GgufValue>, tensors: readonly GgufTensorSpec[], onTensor?: (done: number, total: number) => void): void {
  const given = metadata.get('general.alignment');
  const alignment = given && given.type === GGUF_VALUE.UINT32 ? Number(given.value) : GGUF_ALIGNMENT;
  const { header, offsets } = encodeGgufHeader(metadata, tensors, alignment);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, header);
    let at = 0;
    tensors.forEach((t, i) => {
      const start = offsets[i]!;
      if (start > at) writeAll(fd, new Uint8Array(start - at));
      const bytes = t.encode();
      if (bytes.length !== t.byteLength) throw new Error(`GGUF tensor ${t.name} encoded to ${bytes.length} bytes, ${t.byteLength} announced`);
      writeAll(fd, bytes);
      at = start + bytes.length;
      onTensor?.(i + 1, tensors.length);
    });
    // The data section ends on an alignment boundary too, as the reference writer leaves it.
    const end = align(at, alignment);
    if (end > at) writeAll(fd, new Uint8Array(end - at));
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}
