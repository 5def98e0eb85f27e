// Character spans of tokens in the text they were encoded from. @huggingface/tokenizers returns no
// offsets, so we rebuild them: concatenate each token's bytes and walk them along the text's UTF-8
// bytes. Where that walk fails (normalizers that rewrite text, unknown vocab spellings) a slower
// alignment on decoded token strings takes over.

import { utf8Bytes } from './bytes.ts';

/** Per-token bytes (undefined where unknown) plus a per-token decoder for the fallback path. */
export interface OffsetSource {
  tokenBytes(id: number): number[] | undefined;
  decodeOne(id: number): string;
}

/** [start, end) UTF-16 spans of each token of `ids` in `text`. */
export function tokenOffsets(text: string, ids: number[], source: OffsetSource): [number, number][] {
  return byteWalk(text, ids, source) ?? stringAlign(text, ids, source);
}

function byteWalk(text: string, ids: number[], source: OffsetSource): [number, number][] | undefined {
  const bytes = utf8Bytes(text);
  // charStart[b]: UTF-16 index of the character holding byte b; charEnd[b]: index just after it.
  const charStart = new Int32Array(bytes.length + 1);
  const charEnd = new Int32Array(bytes.length + 1);
  let b = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < n; k++) {
      charStart[b + k] = i;
      charEnd[b + k] = i + units;
    }
    b += n;
    i += units;
  }
  if (b !== bytes.length) return undefined; // lone surrogates: let the slow path cope
  charStart[bytes.length] = text.length;
  charEnd[bytes.length] = text.length;

  const out: [number, number][] = [];
  let pos = 0;
  for (const id of ids) {
    const piece = source.tokenBytes(id);
    if (!piece) return undefined;
    let start = -1;
    for (const byte of piece) {
      if (pos < bytes.length && bytes[pos] === byte) {
        if (start < 0) start = pos;
        pos++;
      } else if (byte !== 0x20) {
        return undefined; // only a space the tokenizer inserted (Metaspace prefix) may be absent
      }
    }
    if (start < 0) out.push([charStart[pos], charStart[pos]]);
    else out.push([charStart[start], charEnd[pos - 1]]);
  }
  return pos === bytes.length ? out : undefined;
}

function stringAlign(text: string, ids: number[], source: OffsetSource): [number, number][] {
  const out: ([number, number] | undefined)[] = [];
  let pos = 0;
  for (const id of ids) {
    const decoded = source.decodeOne(id);
    // Decoders may add or drop a leading space: try the piece as decoded, then trimmed.
    let placed: [number, number] | undefined;
    for (const piece of [decoded, decoded.trim()]) {
      const at = piece && !piece.includes('\uFFFD') ? text.indexOf(piece, pos) : -1;
      // A far-away match means the piece was rewritten (normalised); do not jump over real text.
      if (at >= 0 && at - pos <= 32) {
        placed = [at, at + piece.length];
        break;
      }
    }
    out.push(placed);
    if (placed) pos = placed[1];
  }
  // Unplaced tokens share the gap between their placed neighbours.
  const spans: [number, number][] = [];
  let prevEnd = 0;
  for (let i = 0; i < out.length; i++) {
    const span = out[i];
    if (span) {
      spans.push(span);
      prevEnd = span[1];
      continue;
    }
    let nextStart = text.length;
    for (let j = i + 1; j < out.length; j++) {
      const s = out[j];
      if (s) {
        nextStart = s[0];
        break;
      }
    }
    spans.push([prevEnd, Math.max(prevEnd, nextStart)]);
  }
  return spans;
}
