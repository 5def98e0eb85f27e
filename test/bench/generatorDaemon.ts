// A real daemon whose run worker is a bench's load generator: a Train function given as source,
// bundled on the fly and handed to the daemon through ANNEAL_WORKER, so the engine is not what is
// measured. Shared by the daemon and dashboard benches (not a bench itself: no `.bench.ts`).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import * as esbuild from 'esbuild';
import { connectDaemon, type DaemonClient } from '../../daemon/client/connect.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface GeneratorDaemon {
  /** A scratch folder for recipes, removed by stop(). */
  work: string;
  port: number;
  token: string;
  client: DaemonClient;
  /** Closes the client, stops the daemon and removes the scratch folder. */
  stop(): Promise<void>;
}

/** Bundles `source` (a module calling runWorker from daemon/runs/workerMain.ts) and starts a daemon that runs it for every run. */
export async function startGeneratorDaemon(prefix: string, source: string): Promise<GeneratorDaemon> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(work, 'generator.ts'), source);
  await esbuild.build({ entryPoints: [join(work, 'generator.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: join(work, 'generator.js'), logLevel: 'warning', nodePaths: [join(ROOT, 'node_modules')] });
  const stateDir = join(work, 'state');
  const daemon = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'daemon', '--port', '0', '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, ANNEAL_WORKER: join(work, 'generator.js') },
  });
  const listening = await new Promise<{ url: string; port: number }>((r) => createInterface({ input: daemon.stdout! }).once('line', (l) => r(JSON.parse(l))));
  const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
  const client = await connectDaemon(listening.url, token);
  return {
    work,
    port: listening.port,
    token,
    client,
    async stop() {
      client.close();
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon.once('exit', r));
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Writes an SFT recipe on the tiny model and examples/sft.jsonl; the generator reads max_steps and logging_steps. */
export function writeRecipe(path: string, maxSteps: number, loggingSteps: number): void {
  writeFileSync(path, `model: tiny\nstage: sft\ndata:\n  train: ${JSON.stringify(join(ROOT, 'examples/sft.jsonl'))}\nmax_steps: ${maxSteps}\nlogging_steps: ${loggingSteps}\n`);
}
