// Find the daemon serving a state dir, or start one detached: the CLI and the extension call this
// before any request. A daemon.json whose daemon does not answer is treated as absent.

import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { connectDaemon, DaemonRefusedError, type DaemonClient, type ConnectOptions } from './connect.ts';
import { daemonLogPath, isProcessAlive, readDaemonInfo, readToken } from './stateDir.ts';

export interface EnsureOptions extends ConnectOptions {
  /** Path of dist/cli.js, used to start a daemon when none answers. */
  cliPath: string;
  /** Milliseconds to wait for a started daemon to answer. */
  startTimeoutMs?: number;
  /** Environment of the started daemon (the extension adds ELECTRON_RUN_AS_NODE=1 for VS Code's Electron). */
  env?: NodeJS.ProcessEnv;
}

/** Connects to the state dir's daemon if one is running and answers; undefined otherwise. */
export async function connectExisting(stateDir: string, options: ConnectOptions = {}): Promise<DaemonClient | undefined> {
  const info = readDaemonInfo(stateDir);
  const token = readToken(stateDir);
  if (!info || !token || !isProcessAlive(info.pid)) return undefined;
  try {
    return await connectDaemon(info.url, token, options);
  } catch (err) {
    // A refusal from a live daemon is a real error (wrong token file); anything else means "not there".
    if (err instanceof DaemonRefusedError) throw err;
    return undefined;
  }
}

/** Starts `anneal daemon` detached, its output appended to `<stateDir>/daemon.log`. */
export function spawnDetachedDaemon(stateDir: string, cliPath: string, env: NodeJS.ProcessEnv = process.env): { exited: () => boolean } {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const log = openSync(daemonLogPath(stateDir), 'a');
  try {
    const child = spawn(process.execPath, [cliPath, 'daemon', '--port', '0', '--state-dir', stateDir], {
      detached: true,
      stdio: ['ignore', log, log],
      env,
    });
    // Tracked by event, not pid: an exited child stays a zombie (and "alive" to kill 0) until we exit.
    let exited = false;
    child.on('error', () => (exited = true));
    child.on('exit', () => (exited = true));
    child.unref();
    return { exited: () => exited };
  } finally {
    closeSync(log);
  }
}

/** The state dir's daemon, started if none answers. Throws with the daemon log's path on failure. */
export async function ensureDaemon(stateDir: string, options: EnsureOptions): Promise<DaemonClient> {
  const existing = await connectExisting(stateDir, options);
  if (existing) return existing;
  const started = spawnDetachedDaemon(stateDir, options.cliPath, options.env);
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  // Poll: the daemon writes daemon.json (atomically) once it listens; a watcher would add little.
  while (Date.now() < deadline) {
    const info = readDaemonInfo(stateDir);
    if (info && isProcessAlive(info.pid)) {
      const client = await connectExisting(stateDir, options);
      if (client) return client;
    }
    if (started.exited() && !(info && isProcessAlive(info.pid))) break;
    await delay(100);
  }
  throw new Error(`Could not start the daemon for ${stateDir}; see ${daemonLogPath(stateDir)}.`);
}
