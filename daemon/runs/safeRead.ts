// Reading a file a client named, without letting the name hurt the reader: only a regular file is
// opened for reading its contents (a device such as /dev/zero never ends, a FIFO never answers), it is
// opened non-blocking so a file swapped for a FIFO after the check cannot block either, and no more
// than its size at open time (and never more than a cap) is read.

import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

export type SafeRead = { ok: true; bytes: Buffer } | { ok: false; code: string; reason: string };

/** Why `path` cannot be read as a regular file, as the end of a sentence starting with the path; undefined when it can. */
function notRegular(stat: { isFile(): boolean; isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string | undefined {
  if (stat.isFile()) return undefined;
  if (stat.isDirectory()) return 'is a folder, not a file';
  if (stat.isFIFO()) return 'is a named pipe (FIFO), not a regular file';
  if (stat.isSocket()) return 'is a socket, not a regular file';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'is a device, not a regular file';
  return 'is not a regular file';
}

/** Formats a byte count for a sentence (MB with one decimal above 1 MB). */
export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} bytes`;
}

/**
 * Reads `path` when it is a regular file of at most `maxBytes` (or the first `maxBytes` with
 * `truncate`); otherwise says why not. `reason` completes "The file X ...".
 */
export function readRegularFile(path: string, maxBytes: number, options: { truncate?: boolean } = {}): SafeRead {
  let fd: number | undefined;
  try {
    const problem = notRegular(statSync(path));
    if (problem) return { ok: false, code: 'not-regular', reason: problem };
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
    const stat = fstatSync(fd);
    const swapped = notRegular(stat);
    if (swapped) return { ok: false, code: 'not-regular', reason: swapped };
    if (stat.size > maxBytes && !options.truncate) {
      return { ok: false, code: 'too-large', reason: `is ${formatBytes(stat.size)}; a check reads at most ${formatBytes(maxBytes)}` };
    }
    const want = Math.min(stat.size, maxBytes);
    const bytes = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const n = readSync(fd, bytes, got, want - got, got);
      if (n === 0) break; // the file shrank while being read
      got += n;
    }
    return { ok: true, bytes: got === want ? bytes : bytes.subarray(0, got) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read (${code})`;
    return { ok: false, code, reason };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
