// One daemon per state dir: `daemon.lock` holds the owner's pid and is created with an atomic link,
// so two daemons starting together cannot both win. A lock whose pid is dead (a daemon killed with -9)
// is taken over (a zombie included: killed but not yet reaped by its parent). The state dir is made
// private before anything is written into it.

import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isProcessAlive, lockPath, readDaemonInfo } from '../client/stateDir.ts';

export class DaemonAlreadyRunningError extends Error {}

/** Thrown when the state dir is open to other users and this process cannot close it. */
export class StateDirPermissionsError extends Error {}

/**
 * Makes the state dir private (0700): runs hold data, samples, logs and the token. A dir that already
 * existed keeps whatever mode it was created with, so tighten it when it is ours, and refuse to serve
 * from one that others can read and we cannot fix. Returns a line for the log when it changed the mode.
 */
export function securePrivateDir(dir: string): string | undefined {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) === 0) return undefined;
  const octal = mode.toString(8).padStart(3, '0');
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
    throw new StateDirPermissionsError(`The state dir ${dir} belongs to another user (uid ${stat.uid}) and others can read it (mode ${octal}); use a state dir of your own (--state-dir or ANNEAL_HOME).`);
  }
  try {
    chmodSync(dir, 0o700);
  } catch (err) {
    throw new StateDirPermissionsError(`The state dir ${dir} can be read by other users (mode ${octal}) and its mode cannot be changed (${(err as NodeJS.ErrnoException).code}); run \`chmod 700 ${dir}\` or use another --state-dir.`);
  }
  return `the state dir ${dir} was readable by other users (mode ${octal}); its mode is now 700 (runs hold data, samples, logs and the token)`;
}

/** Takes the state dir's lock; throws DaemonAlreadyRunningError when a live daemon holds it. */
export function acquireStateLock(stateDir: string, log: (line: string) => void = () => {}): { release(): void } {
  const tightened = securePrivateDir(stateDir);
  if (tightened) log(`[anneal] ${tightened}`);
  const lock = lockPath(stateDir);
  const mine = `${lock}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(mine, String(process.pid));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(mine, lock);
        return {
          release() {
            try {
              if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
            } catch {
              /* already gone */
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(readLockPid(lock));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isProcessAlive(holder)) {
        const info = readDaemonInfo(stateDir);
        const where = info ? ` at ${info.url}` : '';
        throw new DaemonAlreadyRunningError(`A daemon (pid ${holder})${where} already serves ${stateDir}; use it, or stop it first.`);
      }
      // Stale: move it aside atomically (only one contender's rename succeeds) and try again.
      try {
        renameSync(lock, `${lock}.stale.${process.pid}`);
        unlinkSync(`${lock}.stale.${process.pid}`);
      } catch {
        /* another daemon took it over first; the next link attempt decides */
      }
    }
    throw new DaemonAlreadyRunningError(`Could not take the lock ${lock}; another daemon is starting for ${stateDir}.`);
  } finally {
    unlinkSync(mine);
  }
}

function readLockPid(lock: string): string {
  try {
    return readFileSync(lock, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Creates a fresh random token file readable only by the owner. */
export function writeTokenFile(path: string, token: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, token + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have widened nothing, but an existing file keeps its mode
  renameSync(tmp, path);
}
