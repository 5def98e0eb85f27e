// `anneal daemon`: run the training daemon in the foreground. It prints one JSON line
// `{"event":"listening",...}` on stdout when ready; everything else goes to stderr.

import { join, dirname } from 'node:path';
import type { Command } from 'commander';
import { resolveStateDir } from '../client/stateDir.ts';
import { isLoopback, startDaemon } from '../server/daemon.ts';
import { DaemonAlreadyRunningError, StateDirPermissionsError } from '../server/stateLock.ts';
import { KNOWN_BACKENDS, resolveForcedBackend } from '../runs/backendProbe.ts';

function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    return n;
  };
}

/** The worker bundle sits next to the CLI bundle (dist/worker.js); ANNEAL_WORKER overrides it. */
export function workerBundlePath(): string {
  return process.env.ANNEAL_WORKER ?? join(dirname(process.argv[1] ?? '.'), 'worker.js');
}

/** The runs/start check process's bundle, next to the CLI bundle (dist/checkWorker.js). */
export function checkWorkerBundlePath(): string {
  return join(dirname(process.argv[1] ?? '.'), 'checkWorker.js');
}

/** A positive integer from the environment, or undefined (the default applies). */
function envInt(name: string): number | undefined {
  const n = Number(process.env[name]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('Run the training daemon (JSON-RPC over WebSocket) in the foreground.')
    .option('--host <host>', 'address to bind; anything but loopback exposes the daemon to the network', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free one', parseIntOption('--port', 0, 65535), 0)
    .option('--state-dir <dir>', 'where runs, the token and daemon.json live (default $ANNEAL_HOME or ~/.anneal)')
    .option('--max-concurrent-runs <n>', 'runs that may train at the same time', parseIntOption('--max-concurrent-runs', 1, 64), 1)
    .option('--backend <name>', `force a tensor backend for every run (${KNOWN_BACKENDS.join(', ')}, or auto; default $ANNEAL_BACKEND or auto)`)
    .action(async (opts: { host: string; port: number; stateDir?: string; maxConcurrentRuns: number; backend?: string }) => {
      const stateDir = resolveStateDir(opts.stateDir);
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      let backend: string | undefined;
      try {
        backend = resolveForcedBackend(opts.backend);
      } catch (err) {
        process.stderr.write(`anneal daemon: ${(err as Error).message}\n`);
        process.exit(2);
      }
      if (!isLoopback(opts.host)) {
        log(`warning: binding ${opts.host} makes the daemon reachable from other machines; anyone with the token can train and read runs. Prefer an SSH tunnel to 127.0.0.1.`);
      }
      let daemon;
      try {
        daemon = await startDaemon({ host: opts.host, port: opts.port, stateDir, maxConcurrentRuns: opts.maxConcurrentRuns, workerPath: workerBundlePath(), checkWorkerPath: checkWorkerBundlePath(), checkTimeoutMs: envInt('ANNEAL_CHECK_TIMEOUT_MS'), maxClientBufferBytes: envInt('ANNEAL_MAX_CLIENT_BUFFER_BYTES'), backend, log });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const message = err instanceof DaemonAlreadyRunningError || err instanceof StateDirPermissionsError ? e.message
          : e.code === 'EADDRINUSE' ? `Port ${opts.port} is in use; pick another with --port, or --port 0 for a free one.`
          : e.code === 'EACCES' ? `Cannot use ${opts.stateDir ?? stateDir} or port ${opts.port}: permission denied (${e.message}).`
          : e.message;
        process.stderr.write(`anneal daemon: ${message}\n`);
        process.exit(1);
      }
      process.stdout.write(JSON.stringify({ event: 'listening', url: daemon.info.url, port: daemon.info.port, stateDir, pid: process.pid }) + '\n');
      log(`listening on ${daemon.info.url} (state dir ${stateDir})`);
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          log(`${signal} again: exiting now without waiting for runs to checkpoint.`);
          process.exit(1);
        }
        log(`${signal}: checkpointing and stopping running runs, then exiting.`);
        daemon.shutdown().then(() => process.exit(0), () => process.exit(1));
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // The daemon must outlive any one bad request or client.
      process.on('uncaughtException', (err) => log(`internal error (the daemon keeps running): ${err.stack ?? err.message}`));
      process.on('unhandledRejection', (err) => log(`internal error (the daemon keeps running): ${err instanceof Error ? err.stack : String(err)}`));
    });
}
