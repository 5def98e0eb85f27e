// Hugging Face Hub model ids (`org/name[@revision]`) and the cache layout the Python tools share
// (huggingface_hub): `models--{org}--{name}/refs/{revision}` holds a commit hash, and
// `snapshots/{commit}/` holds the repository's files (symlinks into `blobs/`). Pure: the folder
// comes from the caller's environment and the files through FileAccess, so the recipe checks and
// the downloader agree on what "in the cache" means.

import { join } from 'node:path';
import type { FileAccess } from './fileAccess.ts';

/** A model on the Hub: `id` is `org/name`; `revision` a branch, tag or commit (default `main`). */
export interface HubRef {
  id: string;
  revision: string;
}

// Hub ids: two segments of word characters, dots and dashes, each starting and ending with a word
// character (so `.`, `..` and `./x` are never ids), at most 96 characters; no `--` or `..` inside.
const ID = /^(\w(?:[\w.-]*\w)?)\/(\w(?:[\w.-]*\w)?)$/;
const REVISION = /^[\w.-]+(?:\/[\w.-]+)*$/;
const COMMIT = /^[0-9a-f]{40}$/;

/** The Hub reference `model` spells (`org/name` or `org/name@revision`), or undefined when it cannot be one. */
export function parseHubRef(model: string): HubRef | undefined {
  const at = model.indexOf('@');
  const id = at < 0 ? model : model.slice(0, at);
  const revision = at < 0 ? 'main' : model.slice(at + 1);
  if (id.length > 96 || !ID.test(id) || id.includes('--') || id.includes('..')) return undefined;
  if (!REVISION.test(revision) || revision.split('/').some((part) => part === '.' || part === '..')) return undefined;
  return { id, revision };
}

/** True for a full commit hash, which names a snapshot without a refs/ file. */
export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

/**
 * The Hub reference a recipe's or the CLI's `model` means, or undefined when it is `tiny` or a path:
 * an id that is an existing path (`path`, already resolved against the recipe or working folder)
 * stays a folder.
 */
export function hubRefOf(model: string, path: string, files: FileAccess): HubRef | undefined {
  if (model === 'tiny') return undefined;
  const ref = parseHubRef(model);
  return ref && !files.exists(path) ? ref : undefined;
}

/**
 * The hub cache folder, as huggingface_hub finds it: HF_HUB_CACHE (or the older
 * HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub.
 */
export function hubCacheDir(env: Record<string, string | undefined>, home: string): string {
  const expand = (p: string) => (p === '~' || p.startsWith('~/') ? join(home, p.slice(1)) : p);
  const cache = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (cache) return expand(cache);
  if (env.HF_HOME) return join(expand(env.HF_HOME), 'hub');
  return join(env.XDG_CACHE_HOME ? expand(env.XDG_CACHE_HOME) : join(home, '.cache'), 'huggingface', 'hub');
}

/** `models--{org}--{name}` inside the cache. */
export function hubRepoDir(cache: string, id: string): string {
  return join(cache, `models--${id.replace('/', '--')}`);
}

/** The cached snapshot of `ref`: its commit and folder, or undefined when the cache has none. */
export function cachedSnapshot(cache: string, ref: HubRef, files: FileAccess): { commit: string; dir: string } | undefined {
  const repo = hubRepoDir(cache, ref.id);
  const commit = isCommitHash(ref.revision) ? ref.revision : files.readText(join(repo, 'refs', ...ref.revision.split('/')))?.trim();
  if (!commit || !isCommitHash(commit)) return undefined;
  const dir = join(repo, 'snapshots', commit);
  return files.isDirectory(dir) ? { commit, dir } : undefined;
}

/**
 * What a snapshot lacks for training (config.json, tokenizer.json, the safetensors weights: every
 * shard its index names); empty when it is complete. A symlink whose blob is gone counts as missing.
 */
export function snapshotMissing(dir: string, files: FileAccess): string[] {
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !files.exists(join(dir, f)));
  const indexText = files.readText(join(dir, 'model.safetensors.index.json'));
  if (indexText !== undefined) {
    let shards: string[] = [];
    try {
      shards = [...new Set(Object.values((JSON.parse(indexText) as { weight_map?: Record<string, string> }).weight_map ?? {}))];
    } catch {
      missing.push('a model.safetensors.index.json that parses');
    }
    missing.push(...shards.filter((s) => !files.exists(join(dir, s))));
  } else if (!files.exists(join(dir, 'model.safetensors'))) {
    missing.push('model.safetensors');
  }
  return missing;
}
