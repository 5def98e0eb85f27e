// A stand-in for the Hugging Face Hub on 127.0.0.1, answering what a download uses the way the Hub
// does: model info at /api/models/{id}/revision/{rev}; HEAD/GET /{id}/resolve/{commit}/{file} with
// an ETag (git sha1) for small files and, for *.safetensors, a redirect to a "CDN" URL carrying
// X-Linked-Etag (sha256) and X-Linked-Size; Range requests; X-Error-Code on errors. It records every
// request and can cut a connection halfway through a file, once.

import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  /** commit -> file name -> content */
  commits: Map<string, Map<string, Uint8Array>>;
  /** branch or tag -> commit */
  refs: Map<string, string>;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeHub {
  url: string;
  repos: Map<string, FakeRepo>;
  requests: RecordedRequest[];
  /**
   * The next GET of this file (by name) sends half of it, waits until the returned promise of the
   * function settles (the client has the bytes: otherwise they may be lost with the connection,
   * and the cut would test nothing), then drops the connection.
   */
  cutOnce: Map<string, (sent: number) => Promise<void>>;
  close(): Promise<void>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/**
 * Starts the fake Hub on a free port of 127.0.0.1. `cdnHost`: the host name its CDN redirects name
 * (`localhost` makes it another site, as the real CDN is, for clients that follow same-site redirects).
 */
export async function startFakeHub(repos: Map<string, FakeRepo>, cdnHost = '127.0.0.1'): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const cutOnce = new Map<string, (sent: number) => Promise<void>>();
  let url = '';
  let cdn = '';
  const server: Server = createServer((req, res) => {
    const path = decodeURI(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    const fail = (status: number, code?: string) => {
      res.writeHead(status, code ? { 'X-Error-Code': code, 'Content-Type': 'application/json' } : {});
      res.end(JSON.stringify({ error: code ?? String(status) }));
    };
    const sendBytes = (content: Uint8Array, name: string, head: Record<string, string | number>) => {
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range ? Number(range[1]) : 0;
      if (start > content.length) return fail(416);
      const body = content.subarray(start);
      const headers = { ...head, 'Content-Length': body.length, 'Accept-Ranges': 'bytes', ...(range ? { 'Content-Range': `bytes ${start}-${content.length - 1}/${content.length}` } : {}) };
      res.writeHead(range ? 206 : 200, headers);
      if (req.method === 'HEAD') return res.end();
      const cut = cutOnce.get(name);
      if (cut) {
        cutOnce.delete(name);
        const half = Math.floor(body.length / 2);
        res.write(body.subarray(0, half), () => void cut(start + half).finally(() => res.destroy()));
        return;
      }
      res.end(body);
    };

    // The CDN: content addressed by sha256, no authentication.
    const blob = /^\/cdn\/([0-9a-f]{64})\/(.+)$/.exec(path);
    if (blob) {
      for (const repo of repos.values()) {
        for (const files of repo.commits.values()) {
          for (const [name, content] of files) if (name === blob[2] && sha256(content) === blob[1]) return sendBytes(content, name, {});
        }
      }
      return fail(404);
    }

    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const id = api?.[1] ?? resolve?.[1];
    const repo = id ? repos.get(id) : undefined;
    if (!id) return fail(404);
    // Like the Hub: an unknown repository and a refused token look alike (401) to the client.
    if (!repo) return fail(401, 'RepoNotFound');
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return fail(401, req.headers.authorization ? undefined : 'GatedRepo');
    const revision = decodeURIComponent(api ? api[2]! : resolve![2]!);
    const commit = repo.commits.has(revision) ? revision : repo.refs.get(revision);
    const files = commit ? repo.commits.get(commit) : undefined;
    if (!commit || !files) return fail(404, 'RevisionNotFound');
    if (api) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ id, sha: commit, siblings: [...files.keys()].map((rfilename) => ({ rfilename })) }));
    }
    const name = resolve![3]!;
    const content = files.get(name);
    if (!content) return fail(404, 'EntryNotFound');
    if (name.endsWith('.safetensors')) {
      res.writeHead(302, {
        Location: `${cdn}/cdn/${sha256(content)}/${name}`,
        'X-Linked-Etag': `"${sha256(content)}"`,
        'X-Linked-Size': content.length,
        'X-Repo-Commit': commit,
        'Content-Length': 0,
      });
      return res.end();
    }
    sendBytes(content, name, { ETag: `"${gitSha1(content)}"`, 'X-Repo-Commit': commit });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cdn = `http://${cdnHost}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    repos,
    requests,
    cutOnce,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** The blob name the Hub gives a file: sha256 for LFS files (*.safetensors here), git sha1 otherwise. */
export function blobName(name: string, content: Uint8Array): string {
  return name.endsWith('.safetensors') ? sha256(content) : gitSha1(content);
}
