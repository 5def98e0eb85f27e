// Where a daemon keeps its state and how clients find it: `<stateDir>/daemon.json` (port, pid,
// version, url) and `<stateDir>/token`. The state dir is `--state-dir`, else `ANNEAL_HOME`, else ~/.anneal.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** What a running daemon writes to `<stateDir>/daemon.json` once it listens. */
export interface DaemonInfo {
  pid: number;
  port: number;
  host: string;
  url: string;
  version: string;
  protocolVersion: number;
  startedAt: string;
}

/** The state dir a command should use. */
export function resolveStateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.ANNEAL_HOME) return resolve(env.ANNEAL_HOME);
  return join(homedir(), '.anneal');
}

export const daemonInfoPath = (stateDir: string) => join(stateDir, 'daemon.json');
export const tokenPath = (stateDir: string) => join(stateDir, 'token');
export const lockPath = (stateDir: string) => join(stateDir, 'daemon.lock');
export const daemonLogPath = (stateDir: string) => join(stateDir, 'daemon.log');
export const runsDir = (stateDir: string) => join(stateDir, 'runs');

/** The daemon.json of the state dir, or undefined when absent or unreadable. */
export function readDaemonInfo(stateDir: string): DaemonInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(daemonInfoPath(stateDir), 'utf8')) as DaemonInfo;
    return typeof info.port === 'number' && typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** The daemon's token, or undefined when there is none. */
export function readToken(stateDir: string): string | undefined {
  try {
    return readFileSync(tokenPath(stateDir), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when a process with this pid runs (EPERM means it exists but is someone else's). A zombie (a
 * killed process its parent has not reaped yet) still answers kill 0 but is not alive: it holds no
 * lock, serves nothing and will never write again.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

/** True when /proc says `pid` is a zombie (or dead); false where there is no /proc (macOS). */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat');
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}
