// Reading a dataset file in chunks of whole lines, the same way on the CLI's main thread and in its
// validation workers: each chunk is cut after its last line break and the rest carried into the next.

import { readSync } from 'node:fs';
import { decodeLines, type DecodedLines } from '../../core/datasets/bytes.ts';

/** A byte range of a file, cut at line breaks. */
export interface LineRange {
  start: number;
  end: number;
  /** Whether this range ends the file (keeps the final, unterminated line). */
  last: boolean;
}

/**
 * Yields the decoded whole lines of `fd` in chunks of up to `chunkBytes`: of `range`, or without one
 * from the current position to the end (so pipes work too). The text after the last line break comes
 * last, unless the range is a middle one (which ends right after a line break).
 */
export function* lineChunks(fd: number, chunkBytes: number, range?: LineRange): Generator<DecodedLines> {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  let pending: Buffer | undefined;
  let position = range?.start;
  for (;;) {
    const want = range ? Math.min(chunkBytes, range.end - position!) : chunkBytes;
    if (want <= 0) break;
    const n = readSync(fd, buffer, 0, want, position ?? null);
    if (n === 0) break;
    if (position !== undefined) position += n;
    const data = pending ? Buffer.concat([pending, buffer.subarray(0, n)]) : buffer.subarray(0, n);
    const lastNewline = data.lastIndexOf(10);
    if (lastNewline < 0) {
      pending = Buffer.from(data);
      continue;
    }
    // Decoded before the next read reuses the buffer.
    yield decodeLines(data.subarray(0, lastNewline));
    pending = Buffer.from(data.subarray(lastNewline + 1));
  }
  if (!range || range.last) yield decodeLines(pending ?? Buffer.alloc(0));
}
