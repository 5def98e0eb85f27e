// One daemon per state dir: `daemon.lock` holds the owner's pid and is created with an atomic link,
// so two daemons starting together cannot both win. A lock whose pid is dead (a daemon killed with -9)
// is taken over.

import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isProcessAlive, lockPath, readDaemonInfo } from '../client/stateDir.ts';

export class DaemonAlreadyRunningError extends Error {}

/** Takes the state dir's lock; throws DaemonAlreadyRunningError when a live daemon holds it. */
export function acquireStateLock(stateDir: string): { release(): void } {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
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
