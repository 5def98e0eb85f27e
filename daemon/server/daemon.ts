// The daemon process: take the state dir's lock, write a fresh token, serve HTTP + WebSocket on one
// port, recover the runs on disk, announce itself (daemon.json and one JSON line on stdout), and shut
// down gracefully on SIGTERM/SIGINT (running runs checkpoint and stop first).

import { createServer, type IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../core/protocol/daemon.ts';
import { ANNEAL_VERSION } from '../../core/version.ts';
import { daemonInfoPath, runsDir, tokenPath, type DaemonInfo } from '../client/stateDir.ts';
import { RunManager } from '../runs/manager.ts';
import { PipelineManager } from '../runs/pipeline.ts';
import { PipelineStore } from '../runs/pipelineStore.ts';
import { probeBackend, type BackendProbeResult } from '../runs/backendProbe.ts';
import { CheckRunner } from '../runs/checkRunner.ts';
import { RunStore, writeFileAtomic } from '../runs/store.ts';
import { ANNEAL_SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, ownOrigins, verifyUpgrade } from './auth.ts';
import { handleHttp } from './page.ts';
import { serveSession } from './session.ts';
import { acquireStateLock, writeTokenFile } from './stateLock.ts';

export interface DaemonOptions {
  host: string;
  port: number;
  stateDir: string;
  maxConcurrentRuns: number;
  /** dist/worker.js */
  workerPath: string;
  /** dist/checkWorker.js (the runs/start checks' process); default: next to workerPath. */
  checkWorkerPath?: string;
  /** How long one runs/start check may take before it is killed (default 120 s). */
  checkTimeoutMs?: number;
  /** Bytes queued to one client (unread responses and notifications) before it is dropped (default 32 MB). */
  maxClientBufferBytes?: number;
  /** A backend every run must use (checked by resolveForcedBackend); unset walks the ladder. */
  backend?: string;
  log: (line: string) => void;
}

/** How long `initialize` waits for the startup backend probe before answering `probing`. */
const PROBE_WAIT_MS = 3000;

export interface RunningDaemon {
  info: DaemonInfo;
  /** Stops accepting connections, checkpoints and stops running runs, removes daemon.json. */
  shutdown(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** True when `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** Starts the daemon; resolves once it listens and daemon.json is written. */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const lock = acquireStateLock(options.stateDir, options.log);
  const token = randomBytes(32).toString('hex');
  writeTokenFile(tokenPath(options.stateDir), token);

  const manager = new RunManager(new RunStore(runsDir(options.stateDir)), {
    workerPath: options.workerPath,
    maxConcurrentRuns: options.maxConcurrentRuns,
    log: options.log,
    backend: options.backend,
    cliPath: join(dirname(options.workerPath), 'cli.js'),
  });
  manager.recover();
  // Pipelines follow their stages' runs, so they recover after the runs do.
  const pipelines = new PipelineManager(manager, new PipelineStore(join(options.stateDir, 'pipelines')), { cliPath: join(dirname(options.workerPath), 'cli.js'), log: options.log });
  pipelines.recover();
  // Which backend runs get, found in a child process so tfjs never loads on this event loop.
  const probe = probeBackend(options.workerPath, options.backend, options.log);
  const backend = (): Promise<BackendProbeResult> => {
    if (probe.current().state !== 'probing') return Promise.resolve(probe.current());
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<BackendProbeResult>((r) => (timer = setTimeout(() => r(probe.current()), PROBE_WAIT_MS)));
    return Promise.race([probe.done, waited]).finally(() => clearTimeout(timer));
  };
  const checkWorkerPath = options.checkWorkerPath ?? join(dirname(options.workerPath), 'checkWorker.js');
  const checks = new CheckRunner({ checkWorkerPath, log: options.log, timeoutMs: options.checkTimeoutMs });
  const prepare = (params: Record<string, unknown>) => checks.prepare(params);

  const scoring = { runs: { get: (id: string) => manager.get(id), dir: (id: string) => manager.store.dir(id) }, workerPath: options.workerPath, backend: options.backend, log: options.log };

  const http = createServer(handleHttp);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    // Browsers that sent their token as a subprotocol need one protocol selected back; never echo the token.
    handleProtocols: (protocols) => (protocols.has(ANNEAL_SUBPROTOCOL) ? ANNEAL_SUBPROTOCOL : [...protocols].find((p) => !p.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) ?? false),
  });
  let origins = new Set<string>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const verdict = verifyUpgrade(req, token, origins);
    if (!verdict.ok) {
      const text = verdict.status === 401 ? 'Unauthorized' : 'Forbidden';
      socket.end(`HTTP/1.1 ${verdict.status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${verdict.reason}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      serveSession(ws, { manager, pipelines, log: options.log, maxClientBufferBytes: options.maxClientBufferBytes, stateDir: options.stateDir, maxConcurrentRuns: options.maxConcurrentRuns, prepare, backend, backendForced: options.backend, scoring });
    });
  });
  http.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  }).catch((err) => {
    probe.kill();
    checks.close();
    lock.release();
    throw err;
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  origins = ownOrigins(options.host, port);
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const info: DaemonInfo = {
    pid: process.pid,
    port,
    host: options.host,
    url: `ws://${urlHost === '0.0.0.0' || urlHost === '[::]' ? '127.0.0.1' : urlHost}:${port}/`,
    version: ANNEAL_VERSION,
    protocolVersion: PROTOCOL_VERSION,
    startedAt: new Date().toISOString(),
  };
  writeFileAtomic(daemonInfoPath(options.stateDir), JSON.stringify(info, null, 2) + '\n');

  let shuttingDown: Promise<void> | undefined;
  const shutdown = () =>
    (shuttingDown ??= (async () => {
      http.close();
      probe.kill();
      checks.close();
      pipelines.shutdown();
      await manager.shutdown();
      for (const client of wss.clients) client.close(1001, 'daemon shutting down');
      wss.close();
      try {
        unlinkSync(daemonInfoPath(options.stateDir));
      } catch {
        /* already gone */
      }
      lock.release();
    })());
  return { info, shutdown };
}
