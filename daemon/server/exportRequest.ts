// `runs/export` for one connection: check the params, then run `anneal export … --json` (the same
// command the CLI runs) in a child process, so the merge and the file writing never block the daemon's
// event loop; its progress lines go to the asking client, its last line is the result or the one
// sentence of why not. Cancelling the request (or closing the connection) kills the child.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ResponseError, type CancellationToken } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes, type ExportProgress, type ExportRunParams, type ExportRunResult } from '../../core/protocol/daemon.ts';
import { invalidRunIdMessage, isValidRunId } from '../../core/protocol/runId.ts';
import type { LlamaCheck } from '../../core/protocol/runs.ts';
import { RECIPE_EXPORT_FORMATS } from '../../core/recipe/exportBlock.ts';
import { isAbsolutePath } from '../../core/protocol/scorePairs.ts';

export interface ExportDeps {
  /** dist/cli.js (the daemon's own binary). */
  cliPath: string;
  stateDir: string;
  /** Throws the daemon's ResponseError (RunNotFound) for an unknown run id. */
  getRun(id: string): unknown;
  log(line: string): void;
  /** A run's export was written: record it on the run (the Runs view lists it beside the recipe's). */
  recorded?(runId: string, result: ExportRunResult): void;
}

const FORMATS: readonly string[] = RECIPE_EXPORT_FORMATS;

/** The params as sent, checked: the typed params, or a ResponseError saying what is wrong. */
export function checkExportParams(raw: unknown): ExportRunParams {
  const fail = (message: string) => new ResponseError(DaemonErrorCodes.InvalidParams, `Invalid params: ${message}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('expected an object with named fields.');
  const p = raw as Record<string, unknown>;
  if (typeof p.run !== 'string' || p.run === '') throw fail('run must be a run id or the absolute path of a folder.');
  if (!isAbsolutePath(p.run) && !isValidRunId(p.run)) throw fail(invalidRunIdMessage(p.run));
  if (typeof p.format !== 'string' || !FORMATS.includes(p.format)) throw fail(`format must be one of ${FORMATS.join(', ')}.`);
  if (p.quant !== undefined && typeof p.quant !== 'string') throw fail('quant must be a string such as "q4_k_m".');
  if (p.out !== undefined && (typeof p.out !== 'string' || !isAbsolutePath(p.out))) throw fail('out must be an absolute folder on the daemon\'s machine.');
  if (p.progressToken !== undefined && typeof p.progressToken !== 'string') throw fail('progressToken must be a string.');
  return {
    run: p.run,
    format: p.format as ExportRunParams['format'],
    ...(p.quant !== undefined ? { quant: p.quant as string } : {}),
    ...(p.out !== undefined ? { out: p.out as string } : {}),
    ...(p.progressToken !== undefined ? { progressToken: p.progressToken as string } : {}),
  };
}

/** Runs the export child; resolves with its result, rejects with a ResponseError. */
export async function handleExport(raw: unknown, token: CancellationToken, deps: ExportDeps, progress: (p: ExportProgress) => void): Promise<ExportRunResult> {
  const params = checkExportParams(raw);
  if (!isAbsolutePath(params.run)) deps.getRun(params.run);
  const args = [deps.cliPath, 'export', params.run, '--format', params.format, '--state-dir', deps.stateDir, '--json'];
  if (params.quant !== undefined) args.push('--quant', params.quant);
  if (params.out !== undefined) args.push('--out', params.out);
  return new Promise<ExportRunResult>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let settled = false;
    let stderr = '';
    let llamaCheck: LlamaCheck | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      cancel.dispose();
      fn();
    };
    const cancel = token.onCancellationRequested(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
      settle(() => reject(new ResponseError(DaemonErrorCodes.RequestCancelled, 'The export was cancelled.')));
    });
    child.stderr.on('data', (d) => (stderr = (stderr + String(d)).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (event.event === 'progress' && params.progressToken !== undefined && !settled) {
        const { event: _, ...p } = event;
        progress({ ...(p as Omit<ExportProgress, 'token'>), token: params.progressToken });
      } else if (event.event === 'llama-check') llamaCheck = event.check as LlamaCheck;
      else if (event.event === 'done') {
        const result: ExportRunResult = { ...(event.result as ExportRunResult), ...(llamaCheck ? { llamaCheck } : {}) };
        if (!isAbsolutePath(params.run)) deps.recorded?.(params.run, result);
        settle(() => resolve(result));
      }
      else if (event.event === 'error') settle(() => reject(new ResponseError(DaemonErrorCodes.ExportFailed, String(event.message))));
    });
    child.on('error', (err) => settle(() => reject(new ResponseError(DaemonErrorCodes.ExportFailed, `The export process could not start (${err.message}); check that ${deps.cliPath} exists.`))));
    child.on('close', (code, signal) => {
      if (!settled) deps.log(`[anneal] runs/export child ${signal ?? `exit ${code}`}: ${stderr.trim()}`);
      const oom = /heap out of memory|ENOMEM|Cannot allocate/i.test(stderr);
      settle(() => reject(new ResponseError(DaemonErrorCodes.ExportFailed, `The export process ${signal ? `was killed by ${signal}` : `exited with code ${code}`} without an answer${oom ? ', most likely out of memory' : ''}; the daemon log has its output.`)));
    });
  });
}
