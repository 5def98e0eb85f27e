// Hugging Face Hub ids as models: `org/name[@revision]` resolves to its snapshot folder in the cache
// the Python tools share (core/hubCache.ts), downloaded there first when missing, in huggingface_hub's
// layout (blobs named by etag, snapshot symlinks, refs/{revision}) so transformers finds it afterwards.
// The result is a plain model folder: the engine's folder loader reads it unchanged. This is I/O, not
// tensors, so it lives beside the engine rather than in it; the run's worker process calls it, so a
// download never blocks the daemon.

import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { cachedSnapshot, hubCacheDir, hubRepoDir, isCommitHash, parseHubRef, snapshotMissing, type HubRef } from '../../core/hubCache.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { downloadBlob, fileMeta, modelInfo, type FileMeta, type HubEndpoint } from './hubHttp.ts';

/** Download progress in bytes: of the file being written and of all files this resolution fetches. */
export interface DownloadProgress {
  id: string;
  file: string;
  fileDone: number;
  fileTotal: number;
  done: number;
  total: number;
}

export interface ResolveOptions {
  /** Called as bytes arrive, at most every `progressIntervalMs` (and when a file completes). */
  onProgress?: (p: DownloadProgress) => void;
  progressIntervalMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** The environment to read HF_* from (default process.env) and the home folder (default os.homedir()). */
  env?: Record<string, string | undefined>;
  home?: string;
}

/** A model as a folder: `tiny`, a folder path, or the snapshot of a Hub id (with its commit). */
export interface ResolvedModel {
  dir: string;
  hub?: HubRef & { commit: string };
}

// Files a model needs besides its weights: what the engine reads (config, tokenizer, chat template,
// generation config) and the rest of the tokenizer, so Python tools find the snapshot complete too.
const MODEL_FILES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
  'chat_template.json',
  'model.safetensors.index.json',
]);

/**
 * `tiny` and existing paths come back as they are; a Hub id becomes its snapshot folder in the Hugging
 * Face cache, downloaded first (config, tokenizer, safetensors weights) when the cache lacks it or
 * part of it. Throws one-sentence errors (gated model, no such model, Hub unreachable).
 */
export async function resolveModel(model: string, options: ResolveOptions = {}): Promise<ResolvedModel> {
  const ref = model === 'tiny' || existsSync(model) ? undefined : parseHubRef(model);
  if (!ref) return { dir: model };
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const cache = hubCacheDir(env, home);
  const cached = cachedSnapshot(cache, ref, nodeFiles);
  if (cached && snapshotMissing(cached.dir, nodeFiles).length === 0) return { dir: cached.dir, hub: { ...ref, commit: cached.commit } };
  if (/^(1|on|yes|true)$/i.test(env.HF_HUB_OFFLINE ?? '')) {
    throw new Error(`${model} is not${cached ? ' completely' : ''} in the Hugging Face cache (${cache}) and HF_HUB_OFFLINE is set; unset it, or download the model with \`huggingface-cli download ${ref.id}\` where the Hub is reachable.`);
  }
  return downloadSnapshot(ref, cache, endpointFor(ref, cache, env, home, options.signal), options);
}

function endpointFor(ref: HubRef, cache: string, env: Record<string, string | undefined>, home: string, signal?: AbortSignal): HubEndpoint {
  const url = (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
  const token = hubToken(env, home);
  return { url, ...token, id: ref.id, revision: ref.revision, cache, signal };
}

/**
 * The token huggingface_hub would send: HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the file
 * `huggingface-cli login` writes (HF_TOKEN_PATH, default $HF_HOME/token), so a daemon started before
 * the login still finds it.
 */
function hubToken(env: Record<string, string | undefined>, home: string): { token?: string; tokenSource?: string } {
  for (const name of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN']) {
    const value = env[name]?.trim();
    if (value) return { token: value, tokenSource: name };
  }
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(home, '.cache'), 'huggingface');
  const path = env.HF_TOKEN_PATH || join(hfHome, 'token');
  try {
    const value = readFileSync(path, 'utf8').trim();
    return value ? { token: value, tokenSource: path } : {};
  } catch {
    return {};
  }
}

/** Which of the repository's files a training run needs, and whether weights come from an index. */
function selectFiles(endpoint: HubEndpoint, files: string[]): { small: string[]; weightsIndex?: string } {
  const present = new Set(files);
  if (!present.has('config.json')) {
    throw new Error(`${endpoint.id} has no config.json, so it is not a transformers model; check the id.`);
  }
  const small = files.filter((f) => MODEL_FILES.has(f));
  if (present.has('model.safetensors.index.json')) return { small, weightsIndex: 'model.safetensors.index.json' };
  if (present.has('model.safetensors')) return { small: [...small, 'model.safetensors'] };
  const others = files.filter((f) => /\.(bin|pt|pth|ckpt|gguf|h5|msgpack|onnx)$/.test(f));
  throw new Error(`${endpoint.id} has no safetensors weights${others.length ? ` (only ${others.slice(0, 3).join(', ')})` : ''}; this engine reads model.safetensors, so pick a repository that ships it.`);
}

function shardsOf(indexPath: string, id: string): string[] {
  try {
    const map = (JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    const shards = [...new Set(Object.values(map))];
    if (shards.every((s): s is string => typeof s === 'string' && !s.includes('..'))) return shards;
  } catch {
    /* reported below */
  }
  throw new Error(`${id}'s model.safetensors.index.json does not list its shards; delete ${indexPath} and start again.`);
}

/** Points `snapshot/file` at the blob (relative, as huggingface_hub does); copies where symlinks are not allowed. */
function linkIntoSnapshot(snapshot: string, file: string, blob: string): void {
  const link = join(snapshot, file);
  mkdirSync(dirname(link), { recursive: true });
  try {
    lstatSync(link);
    unlinkSync(link); // a link to a blob that is gone
  } catch {
    /* absent */
  }
  try {
    symlinkSync(relative(dirname(link), blob), link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    copyFileSync(blob, link); // Windows without the symlink privilege, as huggingface_hub does
  }
}

/** Marks the cache folder for backup tools (the Cache Directory Tagging convention), as huggingface_hub does. */
function tagCache(cache: string): void {
  const tag = join(cache, 'CACHEDIR.TAG');
  if (existsSync(tag)) return;
  mkdirSync(cache, { recursive: true });
  writeFileSync(tag, 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by Anneal (Hugging Face cache layout).\n');
}

/** Downloads what the snapshot of `ref` lacks into the cache and returns its folder. */
async function downloadSnapshot(ref: HubRef, cache: string, endpoint: HubEndpoint, options: ResolveOptions): Promise<ResolvedModel> {
  const started = Date.now();
  const { commit, files } = await modelInfo(endpoint);
  if (!isCommitHash(commit)) throw new Error(`${endpoint.url} answered commit "${commit}" for ${ref.id}; check HF_ENDPOINT.`);
  const repo = hubRepoDir(cache, ref.id);
  const snapshot = join(repo, 'snapshots', commit);
  tagCache(cache);
  // The ref first: an interrupted download is then found, partly, by the next lookup and resumed.
  if (ref.revision !== commit) {
    const refPath = join(repo, 'refs', ...ref.revision.split('/'));
    mkdirSync(dirname(refPath), { recursive: true });
    writeFileSync(refPath, commit);
  }
  const have = (file: string) => existsSync(join(snapshot, file));
  const progress = reporter(ref.id, options);
  const fetchAll = async (names: string[]) => {
    const metas: [string, FileMeta][] = [];
    for (const file of names.filter((f) => !have(f))) metas.push([file, await fileMeta(endpoint, commit, file)]);
    progress.add(metas.reduce((n, [, m]) => n + (existsSync(join(repo, 'blobs', m.etag)) ? 0 : m.size), 0));
    for (const [file, meta] of metas) {
      const blob = join(repo, 'blobs', meta.etag);
      if (!existsSync(blob)) {
        mkdirSync(dirname(blob), { recursive: true });
        const lockPath = join(cache, '.locks', `models--${ref.id.replace('/', '--')}`, `${meta.etag}.anneal.lock`);
        await downloadBlob(endpoint, meta, blob, file, lockPath, progress.bytes(file, meta.size));
        progress.fileDone();
      }
      linkIntoSnapshot(snapshot, file, blob);
    }
    return metas.length;
  };

  const { small, weightsIndex } = selectFiles(endpoint, files);
  options.log?.(`[anneal] ${ref.id}${ref.revision === 'main' ? '' : `@${ref.revision}`} (commit ${commit.slice(0, 8)}) is not complete in ${cache}; downloading it from ${endpoint.url}`);
  let count = await fetchAll(small);
  if (weightsIndex) count += await fetchAll(shardsOf(join(snapshot, weightsIndex), ref.id));
  const missing = snapshotMissing(snapshot, nodeFiles);
  if (missing.length > 0) throw new Error(`${ref.id} at commit ${commit.slice(0, 8)} lacks ${missing.join(', ')}; this engine needs them, so pick a repository that ships them.`);
  options.log?.(`[anneal] ${ref.id}: ${count} file(s), ${formatBytes(progress.total())} downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s into ${snapshot}`);
  return { dir: snapshot, hub: { ...ref, commit } };
}

/** Sums bytes across files and calls onProgress at most every progressIntervalMs. */
function reporter(id: string, options: ResolveOptions) {
  const interval = options.progressIntervalMs ?? 500;
  let total = 0;
  let done = 0;
  let current = { file: '', fileDone: 0, fileTotal: 0 };
  let last = 0;
  const report = (force: boolean) => {
    const now = Date.now();
    if (!options.onProgress || (!force && now - last < interval)) return;
    last = now;
    options.onProgress({ id, ...current, done, total });
  };
  return {
    add: (bytes: number) => void (total += bytes),
    total: () => total,
    bytes: (file: string, size: number) => {
      current = { file, fileDone: 0, fileTotal: size };
      return (n: number) => {
        current.fileDone += n;
        done += n;
        report(false);
      };
    },
    fileDone: () => report(true),
  };
}

/** `269.1 MB` */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The status line of a download: `downloading org/name: model.safetensors, 120.5 MB of 269.1 MB (45%)`. */
export function describeDownload(p: DownloadProgress): string {
  const percent = p.total > 0 ? ` (${Math.floor((100 * p.done) / p.total)}%)` : '';
  return `downloading ${p.id}: ${p.file}, ${formatBytes(p.done)} of ${formatBytes(p.total)}${percent}`;
}
