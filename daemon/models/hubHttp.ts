// The Hugging Face Hub's HTTP side, as huggingface_hub speaks it: the model info endpoint, a HEAD on
// `resolve/{commit}/{file}` for the file's etag and size (a CDN redirect is not followed, so the
// etag is the Hub's, not the CDN's), and a GET of the file that resumes with a Range request after
// a cut connection. Errors are one sentence saying what to do.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ANNEAL_VERSION } from '../../core/version.ts';

/** Where and how to reach the Hub; `token` goes only to the endpoint's own origin, never to a CDN. */
export interface HubEndpoint {
  url: string;
  token?: string;
  /** Where the token came from (`HF_TOKEN`, a token file), for the message when it is refused. */
  tokenSource?: string;
  /** The model being fetched (`org/name`) and the cache, for messages. */
  id: string;
  revision: string;
  cache: string;
  signal?: AbortSignal;
}

/** A file's identity on the Hub: the blob name (sha256 for LFS files, git sha1 otherwise), its size and where to GET it. */
export interface FileMeta {
  etag: string;
  size: number;
  url: string;
}

/** Bytes of the file being written since the last report (called once per received chunk). */
export type OnBytes = (bytes: number) => void;

/** Consecutive failed attempts (no byte received) before a download gives up. */
const MAX_ATTEMPTS_WITHOUT_PROGRESS = 3;

function headers(endpoint: HubEndpoint, url: string, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { 'User-Agent': `anneal/${ANNEAL_VERSION}`, 'Accept-Encoding': 'identity', ...extra };
  if (endpoint.token && new URL(url).origin === new URL(endpoint.url).origin) out.Authorization = `Bearer ${endpoint.token}`;
  return out;
}

function download(endpoint: HubEndpoint): string {
  const revision = endpoint.revision === 'main' ? '' : ` --revision ${endpoint.revision}`;
  return `\`huggingface-cli download ${endpoint.id}${revision}\``;
}

/** The one-sentence error for a fetch that threw (no answer) — unreachable host, abort, cut connection. */
export function networkError(endpoint: HubEndpoint, err: unknown): Error {
  if (endpoint.signal?.aborted) return new Error(`The download of ${endpoint.id} was stopped; start the run again to finish it (the files already downloaded stay in the cache).`);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  return new Error(`Cannot reach ${endpoint.url} (${why}); download the model elsewhere with ${download(endpoint)} into the Hugging Face cache (${endpoint.cache}), or set HF_ENDPOINT to a mirror.`);
}

/** The one-sentence error for a Hub answer that is not a success. */
export function statusError(endpoint: HubEndpoint, res: Response, file?: string): Error {
  const code = res.headers.get('x-error-code');
  const page = `${endpoint.url}/${endpoint.id}`;
  if (code === 'RevisionNotFound') {
    return new Error(`${endpoint.id} has no revision "${endpoint.revision}"; use a branch, tag or full commit hash listed on ${page}.`);
  }
  if (code === 'EntryNotFound' && file) {
    return new Error(`${endpoint.id} lists ${file} but the Hub does not serve it; try again later or pin another revision with \`${endpoint.id}@REVISION\`.`);
  }
  const token = endpoint.token ? `the token from ${endpoint.tokenSource} was refused` : 'no token is set';
  if (code === 'RepoNotFound' && res.status === 401) {
    // The Hub does not say whether a private repository exists to someone without access.
    return new Error(`There is no model ${endpoint.id} on ${endpoint.url}, or it is private and ${token}; check the id (org/name), or set HF_TOKEN to a token with access.`);
  }
  if (code === 'GatedRepo' || res.status === 401 || res.status === 403) {
    return new Error(`${endpoint.id} is gated or private and ${token}: set HF_TOKEN to a token with access (and accept the model's terms on ${page}).`);
  }
  if (code === 'RepoNotFound' || res.status === 404) {
    return new Error(`There is no model ${endpoint.id}${endpoint.revision === 'main' ? '' : ` at revision "${endpoint.revision}"`} on ${endpoint.url}; check the id (org/name) and revision.`);
  }
  return new Error(`${endpoint.url} answered ${res.status} ${res.statusText}${file ? ` for ${file}` : ''}; try again later.`);
}

async function request(endpoint: HubEndpoint, url: string, init: RequestInit & { headers?: Record<string, string> }): Promise<Response> {
  try {
    return await fetch(url, { ...init, headers: headers(endpoint, url, init.headers), signal: endpoint.signal });
  } catch (err) {
    throw networkError(endpoint, err);
  }
}

/** The model info of `revision`: its commit and the repository's file names. */
export async function modelInfo(endpoint: HubEndpoint): Promise<{ commit: string; files: string[] }> {
  const res = await request(endpoint, `${endpoint.url}/api/models/${endpoint.id}/revision/${encodeURIComponent(endpoint.revision)}`, {});
  if (!res.ok) throw statusError(endpoint, res);
  let body: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch (err) {
    throw new Error(`${endpoint.url} did not answer with model info for ${endpoint.id} (${(err as Error).message}); check HF_ENDPOINT.`);
  }
  if (typeof body.sha !== 'string' || !Array.isArray(body.siblings)) throw new Error(`${endpoint.url} did not answer with model info for ${endpoint.id}; check HF_ENDPOINT.`);
  return { commit: body.sha, files: body.siblings.map((s) => s.rfilename).filter((f): f is string => typeof f === 'string') };
}

/** The URL of a file at a commit. */
export function fileUrl(endpoint: HubEndpoint, commit: string, file: string): string {
  return `${endpoint.url}/${endpoint.id}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * HEAD `resolve/{commit}/{file}`: same-site redirects (a renamed repository) are followed, a redirect
 * to another site (the CDN) is where the bytes are; the etag and size come from the Hub's answer.
 */
export async function fileMeta(endpoint: HubEndpoint, commit: string, file: string): Promise<FileMeta> {
  let url = fileUrl(endpoint, commit, file);
  for (let hops = 0; ; hops++) {
    const res = await request(endpoint, url, { method: 'HEAD', redirect: 'manual' });
    const location = res.headers.get('location');
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    if (redirect && location.startsWith('/') && !location.startsWith('//') && hops < 5) {
      url = new URL(location, url).href;
      continue;
    }
    if (!redirect && !res.ok) throw statusError(endpoint, res, file);
    const etag = (res.headers.get('x-linked-etag') ?? res.headers.get('etag'))?.replace(/^W\//, '').replace(/"/g, '');
    const size = Number(res.headers.get('x-linked-size') ?? res.headers.get('content-length'));
    if (!etag || !/^[\w.-]+$/.test(etag) || !Number.isSafeInteger(size) || size < 0) {
      throw new Error(`${endpoint.url} gave no etag or size for ${endpoint.id}/${file}; check HF_ENDPOINT, or download the model with ${download(endpoint)}.`);
    }
    return { etag, size, url: redirect ? new URL(location, url).href : url };
  }
}

/**
 * Takes the cache's download lock for a blob: a file holding our pid. A lock left by a process that
 * is gone is taken over; one held by a live process is an error, since two writers would interleave.
 */
function lock(path: string, endpoint: HubEndpoint): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let tries = 0; ; tries++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw err;
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`Another process (pid ${pid}) is downloading ${endpoint.id} into ${endpoint.cache}; wait for it to finish and start again.`);
      }
      unlinkSync(path);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/**
 * Downloads `meta` to `blob` through `blob.incomplete`: a partial file left by an earlier attempt (or
 * a cut connection now) is continued with `Range: bytes=N-`. An LFS blob (etag = sha256) is checked
 * against its hash before it is renamed into place, so a resumed file is byte-identical or refused.
 */
export async function downloadBlob(endpoint: HubEndpoint, meta: FileMeta, blob: string, file: string, lockPath: string, onBytes: OnBytes): Promise<void> {
  const release = lock(lockPath, endpoint);
  try {
    const partial = `${blob}.incomplete`;
    const sha256 = /^[0-9a-f]{64}$/.test(meta.etag);
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > meta.size) {
      truncateSync(partial, 0);
      have = 0;
    }
    let hash = sha256 ? createHash('sha256') : undefined;
    if (hash && have > 0) await hashFile(partial, hash);
    if (have > 0) onBytes(have);
    let failures = 0;
    while (have < meta.size || !existsSync(partial)) {
      const res = await request(endpoint, meta.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
      if (res.status !== 200 && res.status !== 206) throw statusError(endpoint, res, file);
      if (res.status === 206 && !res.headers.get('content-range')?.startsWith(`bytes ${have}-`)) {
        // Not the rest of our file: drop the partial and fetch it whole.
        await res.body?.cancel();
        truncateSync(partial, 0);
        onBytes(-have);
        have = 0;
        hash = sha256 ? createHash('sha256') : undefined;
        continue;
      }
      const out = await open(partial, res.status === 206 ? 'a' : 'w');
      if (res.status === 200 && have > 0) {
        // The server ignored the Range: start over rather than append a second copy.
        onBytes(-have);
        have = 0;
        hash = sha256 ? createHash('sha256') : undefined;
      }
      const before = have;
      try {
        const reader = res.body?.getReader();
        for (let chunk = await reader?.read(); chunk && !chunk.done; chunk = await reader!.read()) {
          await out.write(chunk.value);
          hash?.update(chunk.value);
          have += chunk.value.length;
          onBytes(chunk.value.length);
        }
      } catch (err) {
        if (endpoint.signal?.aborted) throw networkError(endpoint, err);
        failures = have > before ? 0 : failures + 1;
        if (failures >= MAX_ATTEMPTS_WITHOUT_PROGRESS) throw networkError(endpoint, err);
        continue; // the connection was cut: ask for the rest
      } finally {
        await out.close();
      }
      if (have < meta.size && have === before) throw networkError(endpoint, new Error(`the download of ${file} ended at ${have} of ${meta.size} bytes`));
    }
    if (have !== meta.size || (hash && hash.digest('hex') !== meta.etag)) {
      unlinkSync(partial);
      throw new Error(`The download of ${endpoint.id}/${file} did not match the Hub's ${have !== meta.size ? 'size' : 'sha256'}; start the run again to download it afresh.`);
    }
    renameSync(partial, blob);
  } finally {
    release();
  }
}
