// Exports the daemon writes by itself, each as `anneal export SOURCE --format F [--quant Q] --out DIR`
// writes it (the same code as the CLI and `runs/export`), in a child process so the export never
// blocks the daemon's event loop:
// - `merge: true` before a pipeline stage: the previous stage's adapter folded into its base; the next
//   stage trains a fresh adapter (its recipe's `lora:`) on the merged folder;
// - a recipe's `export:` block, once the run or the pipeline's result is complete (recipeExports.ts).

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { LlamaCheck } from '../../core/protocol/runs.ts';

export interface ExportJob<T> {
  /** Resolves with what was written, rejects with the export's one-sentence reason. */
  done: Promise<T>;
  /** Ends the export now (a stop, a shutdown); `done` rejects. */
  kill(): void;
}

export type MergeJob = ExportJob<string>;

export interface ExportWritten {
  outDir: string;
  files: string[];
  /** A GGUF's check by llama.cpp (the export's `llama-check` event). */
  llamaCheck?: LlamaCheck;
}

/**
 * Writes `source` (a run's output, any adapter or model folder) as `format` into `out` (which must be
 * absent or empty); `progress` hears each new progress message of the export.
 */
export function exportWeights(cliPath: string, source: string, spec: { format: string; quant?: string; out: string }, progress?: (message: string) => void): ExportJob<ExportWritten> {
  const args = [cliPath, 'export', source, '--format', spec.format, ...(spec.quant ? ['--quant', spec.quant] : []), '--out', spec.out, '--json'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let result: ExportWritten | undefined;
  let check: LlamaCheck | undefined;
  let error: string | undefined;
  let stderr = '';
  let last = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const event = JSON.parse(line) as { event?: string; result?: { outDir?: string; files?: string[] }; message?: string; check?: LlamaCheck };
      if (event.event === 'llama-check') check = event.check;
      if (event.event === 'done') result = { outDir: event.result?.outDir ?? spec.out, files: event.result?.files ?? [], ...(check ? { llamaCheck: check } : {}) };
      if (event.event === 'error') error = event.message;
      if (event.event === 'progress' && event.message && event.message !== last) progress?.((last = event.message));
    } catch {
      /* not one of the export's JSON lines */
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
  const done = new Promise<ExportWritten>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`the export could not start: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0 && result) return resolve(result);
      reject(new Error(error ?? (signal ? `the export was stopped (${signal})` : `the export ended with code ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`)));
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

/** Merges the adapter folder `adapter` into its base, writing `out` (replaced if a killed merge left it). */
export function mergeAdapter(cliPath: string, adapter: string, out: string): MergeJob {
  rmSync(out, { recursive: true, force: true });
  const job = exportWeights(cliPath, adapter, { format: 'merged', out });
  return {
    done: job.done.then(
      (r) => r.outDir,
      (err: Error) => {
        throw new Error(err.message.replace(/^the export/, 'the merge'));
      },
    ),
    kill: job.kill,
  };
}
