// What every daemon-facing CLI command shares: find or start the daemon for the state dir, and turn a
// daemon error into the sentence (and, for bad data, the diagnostics) the user reads.

import { ErrorCodes, ResponseError } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, type InvalidInputData } from '../../core/protocol/daemon.ts';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { ensureDaemon, connectExisting } from './ensure.ts';
import type { DaemonClient } from './connect.ts';
import { resolveStateDir } from './stateDir.ts';

/** Connects to the daemon of `--state-dir`/ANNEAL_HOME/~/.anneal; starts one when `start` is set. */
export async function clientFor(stateDirFlag: string | undefined, start: boolean): Promise<DaemonClient> {
  const stateDir = resolveStateDir(stateDirFlag);
  if (start) return ensureDaemon(stateDir, { cliPath: process.argv[1] ?? 'anneal' });
  const client = await connectExisting(stateDir);
  if (!client) throw new CliError(`No daemon is running for ${stateDir}; \`anneal daemon\` starts one (\`anneal train\` starts one by itself).`, 2);
  return client;
}

/** An error the CLI prints as one line and exits with `exitCode`. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** One diagnostic as `anneal validate --json` prints it (1-based lines and columns). */
export function diagnosticJson(file: string, d: Diagnostic) {
  return {
    file,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
    endLine: d.range.end.line + 1,
    endColumn: d.range.end.character + 1,
    severity: d.severity,
    code: d.code,
    message: d.message,
  };
}

/** Prints a daemon error; bad data comes with its diagnostics. Returns the exit code to use. */
export function reportError(err: unknown, json: boolean): number {
  if (err instanceof ResponseError && err.code === DaemonErrorCodes.InvalidInput) {
    const data = err.data as InvalidInputData | undefined;
    for (const f of data?.files ?? []) {
      for (const d of f.diagnostics) {
        const j = diagnosticJson(f.file, d);
        if (json) process.stdout.write(JSON.stringify({ event: 'diagnostic', ...j }) + '\n');
        else process.stderr.write(`${j.file}:${j.line}:${j.column}: ${j.severity} ${j.code}: ${j.message}\n`);
      }
    }
    emitError(err.message, json);
    return 1;
  }
  const message = err instanceof ResponseError && err.code === ErrorCodes.PendingResponseRejected
    ? 'The daemon stopped (crashed or was killed) before it answered; its log is <stateDir>/daemon.log, and `anneal runs` shows what it kept.'
    : err instanceof Error ? err.message : String(err);
  emitError(message, json);
  return err instanceof CliError ? err.exitCode : 1;
}

function emitError(message: string, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ event: 'error', message }) + '\n');
  process.stderr.write(`anneal: ${message}\n`);
}

/** A commander option parser for a positive number (an integer when `integer`), with the flag in its error. */
export function positiveNumber(flag: string, integer: boolean) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${value}".`);
    return n;
  };
}
