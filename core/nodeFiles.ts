// FileAccess over the real disk, for the processes that run on Node (CLI, daemon, language server).
// Synchronous on purpose: callers are short checks over a handful of small files.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import type { FileAccess } from './fileAccess.ts';
import { hubCacheDir } from './hubCache.ts';
import { ollamaStoreDir } from './ollamaStore.ts';

export const nodeFiles: FileAccess = {
  readText(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: (path) => existsSync(path),
  isDirectory(path) {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  },
  listDir(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  // Read on each call: the environment of this process decides, as it does for the Python tools.
  hubCache: () => hubCacheDir(process.env, homedir()),
  ollamaStore: () => ollamaStoreDir(process.env, homedir()),
};
