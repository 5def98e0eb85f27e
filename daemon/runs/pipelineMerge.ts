// `merge: true` before a pipeline stage: the previous stage's adapter folded into its base, as
// `anneal export ADAPTER --format merged` writes it (the same code as the CLI and `runs/export`), in a
// child process so the merge never blocks the daemon's event loop. The next stage trains a fresh
// adapter (its recipe's `lora:`) on the merged folder.

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface MergeJob {
  /** Resolves with the merged folder, rejects with the export's one-sentence reason. */
  done: Promise<string>;
  /** Ends the export now (a stop, a shutdown); `done` rejects. */
  kill(): void;
}

/** Merges the adapter folder `adapter` into its base, writing `out` (replaced if a killed merge left it). */
export function mergeAdapter(cliPath: string, adapter: string, out: string): MergeJob {
  rmSync(out, { recursive: true, force: true });
  const child = spawn(process.execPath, [cliPath, 'export', adapter, '--format', 'merged', '--out', out, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let result: string | undefined;
  let error: string | undefined;
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const event = JSON.parse(line) as { event?: string; result?: { outDir?: string }; message?: string };
      if (event.event === 'done') result = event.result?.outDir ?? out;
      if (event.event === 'error') error = event.message;
    } catch {
      /* not one of the export's JSON lines */
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`the merge could not start: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0 && result) return resolve(result);
      reject(new Error(error ?? (signal ? `the merge was stopped (${signal})` : `the merge ended with code ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`)));
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}
