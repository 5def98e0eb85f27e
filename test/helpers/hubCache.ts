// Builds a Hugging Face cache entry the way huggingface_hub lays it out (blobs named by content hash,
// snapshot files as relative symlinks into blobs/, refs/{revision} holding the commit), so tests can
// check that our lookup reads what the Python tools write.

import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** Writes `files` as the snapshot `commit` of `id` under `cache`; `revision` (when given) points at it. */
export function writeCachedModel(cache: string, id: string, commit: string, files: Map<string, Uint8Array | string>, revision?: string): string {
  const repo = join(cache, `models--${id.replace('/', '--')}`);
  const snapshot = join(repo, 'snapshots', commit);
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  for (const [name, content] of files) {
    const blob = join(repo, 'blobs', createHash('sha256').update(content).digest('hex'));
    writeFileSync(blob, content);
    const link = join(snapshot, name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), blob), link);
  }
  if (revision !== undefined) {
    mkdirSync(dirname(join(repo, 'refs', revision)), { recursive: true });
    writeFileSync(join(repo, 'refs', revision), commit);
  }
  return snapshot;
}
