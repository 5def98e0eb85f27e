// The state dir and its lock: a dir that already exists open to others is made private before the
// daemon writes into it, and a daemon killed but left a zombie (its parent never reaped it) does not
// keep the next daemon out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ListRuns } from '../../../core/protocol/daemon.ts';
import { CLI, connect, killOnExit, startTestDaemon, stopTestDaemon, tempDir } from './helpers.ts';

test('an existing state dir with mode 755 is tightened to 700, and the daemon says so', async (t) => {
  const stateDir = join(tempDir(t), 'state');
  mkdirSync(stateDir, { mode: 0o755 });
  chmodSync(stateDir, 0o755);
  const daemon = await startTestDaemon(stateDir);
  try {
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);
    assert.match(daemon.stderr(), /readable by other users \(mode 755\); its mode is now 700/);
    assert.equal(statSync(join(stateDir, 'token')).mode & 0o777, 0o600);
  } finally {
    await stopTestDaemon(daemon);
  }
});

/** The state letter of /proc/<pid>/stat (R, S, Z, ...), or undefined once the pid is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

test('a daemon killed with -9 and left a zombie by its parent does not hold the lock', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const stateDir = tempDir(t);
  // `exec sleep` makes sleep the daemon's parent, and sleep never reaps a child: the killed daemon stays a zombie.
  const parent = spawn('sh', ['-c', `"${process.execPath}" "${CLI}" daemon --port 0 --state-dir "${stateDir}" 2>/dev/null & exec sleep 600`], { stdio: ['ignore', 'pipe', 'ignore'] });
  killOnExit(parent.pid!);
  t.after(() => parent.kill('SIGKILL'));
  const line = await new Promise<string>((resolve) => createInterface({ input: parent.stdout! }).once('line', resolve));
  const first = JSON.parse(line) as { event: string; pid: number };
  assert.equal(first.event, 'listening');
  killOnExit(first.pid);
  process.kill(first.pid, 'SIGKILL');
  // Wait on the kernel's word, not a sleep: the state turns Z once the kill has landed.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (procState(first.pid) === 'Z') {
        clearInterval(poll);
        resolve();
      }
    }, 10);
  });

  const second = await startTestDaemon(stateDir);
  try {
    assert.equal(procState(first.pid), 'Z', 'the first daemon is still a zombie');
    const client = await connect(second);
    assert.deepEqual((await client.connection.sendRequest(ListRuns.type, {})).runs, []);
    client.close();
  } finally {
    await stopTestDaemon(second);
  }
});
