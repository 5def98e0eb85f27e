// Bytes to lines for callers that read files themselves (the CLI): UTF-8 is validated per chunk with
// a fatal decoder, and only a chunk that fails is split so the bad lines can be reported exactly.

/** Decoded lines plus, for lines with invalid UTF-8, the UTF-16 column of the first bad byte. */
export interface DecodedLines {
  lines: string[];
  invalidUtf8: Map<number, number>;
}

const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Split bytes holding whole lines (the last may lack its line break) into decoded lines. */
export function decodeLines(bytes: Uint8Array): DecodedLines {
  const invalidUtf8 = new Map<number, number>();
  try {
    return { lines: fatal.decode(bytes).split('\n'), invalidUtf8 };
  } catch {
    // Some line is not UTF-8: decode line by line to find which.
  }
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    const line = bytes.subarray(start, end);
    try {
      lines.push(fatal.decode(line));
    } catch {
      const bad = firstInvalidByte(line);
      invalidUtf8.set(lines.length, lenient.decode(line.subarray(0, bad)).length);
      lines.push(lenient.decode(line));
    }
    if (nl < 0) break;
    start = nl + 1;
  }
  return { lines, invalidUtf8 };
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
export function firstInvalidByte(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let n = 0;
    let min = 0;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = n === 0 ? c : c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (n >= 2 && (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)) return i;
    i += n + 1;
  }
  return b.length;
}
