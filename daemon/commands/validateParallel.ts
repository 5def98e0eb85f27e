// Large datasets in `anneal validate` are analysed by worker threads, one byte range each (cut at line
// breaks). Each worker parses and checks its lines and sends the facts back packed in typed arrays;
// the main thread adds them to one DatasetModel in order, so whole-file checks and the output are the
// same as a sequential run. The workers are this same bundle started with a hidden subcommand.

import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { packFacts, unpackFacts, type PackedFacts } from '../../core/datasets/factsTransfer.ts';
import { analyzeLines } from '../../core/datasets/model.ts';
import type { DatasetModel } from '../../core/datasets/index.ts';
import type { DatasetCheckOptions, DatasetInfoEntry, NormalizedRecord } from '../../core/datasets/types.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { loadTokenizerFromFolder } from '../../core/tokenize/index.ts';
import { lineChunks, type LineRange } from './lineChunks.ts';

/** Below this size one thread is faster than starting workers. */
export const PARALLEL_MIN_BYTES = 24 << 20;
const READ_BYTES = 8 << 20;
export const WORKER_COMMAND = 'validate-worker';

/** What a worker needs to rebuild the check options (functions cannot cross threads). */
export interface WorkerJob extends LineRange {
  file: string;
  options: { kind?: string; maxLength?: number; datasetInfo?: DatasetInfoEntry; nearDuplicates?: boolean };
  modelDir?: string;
}

/** How many workers a file of `size` bytes gets (1 means: stay on this thread). */
export function workerCount(size: number): number {
  if (size < PARALLEL_MIN_BYTES || process.env.ANNEAL_VALIDATE_THREADS === '1') return 1;
  const cores = Number(process.env.ANNEAL_VALIDATE_THREADS) || availableParallelism();
  // One core stays with the main thread, which merges results; with two cores, workers do not pay off.
  const workers = process.env.ANNEAL_VALIDATE_THREADS ? cores : cores - 1;
  return workers < 2 ? 1 : Math.min(workers, 8, Math.ceil(size / (8 << 20)));
}

/** Byte offsets that split the file into `n` ranges, each ending just after a line break. */
function splitPoints(fd: number, size: number, n: number): number[] {
  const points = [0];
  const probe = Buffer.allocUnsafe(1 << 16);
  for (let k = 1; k < n; k++) {
    let at = Math.max(points[points.length - 1], Math.floor((size * k) / n));
    for (;;) {
      const got = readSync(fd, probe, 0, probe.length, at);
      if (got === 0) {
        at = size;
        break;
      }
      const nl = probe.subarray(0, got).indexOf(10);
      if (nl >= 0) {
        at += nl + 1;
        break;
      }
      at += got;
    }
    if (at >= size) break;
    if (at > points[points.length - 1]) points.push(at);
  }
  points.push(size);
  return points;
}

/** Check `file` with worker threads, adding every line's facts to `model` in order. */
export async function analyzeInParallel(file: string, size: number, threads: number, model: DatasetModel, job: Omit<WorkerJob, 'file' | 'start' | 'end' | 'last'>): Promise<void> {
  const fd = openSync(file, 'r');
  let points: number[];
  try {
    points = splitPoints(fd, size, threads);
  } finally {
    closeSync(fd);
  }
  const ranges = points.slice(0, -1).map((start, i) => ({ start, end: points[i + 1], last: i === points.length - 2 }));
  const results = ranges.map(
    (r) =>
      new Promise<PackedFacts[]>((resolve, reject) => {
        const worker = new Worker(process.argv[1], { argv: [WORKER_COMMAND], workerData: { ...job, file, ...r } satisfies WorkerJob });
        const packets: PackedFacts[] = [];
        worker.on('message', (m: PackedFacts | 'done') => {
          if (m === 'done') resolve(packets);
          else packets.push(m);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (code !== 0) reject(new Error(`validation worker exited with code ${code}`));
        });
      }),
  );
  for (const result of results) {
    for (const packet of await result) model.appendFacts(unpackFacts(packet));
  }
}

/** The worker side: analyse one byte range and post packed facts, then 'done'. */
export function runWorker(): void {
  const job = workerData as WorkerJob;
  const options: DatasetCheckOptions = { ...job.options, kind: undefined, retainRecords: false } as DatasetCheckOptions;
  if (job.modelDir) {
    const tokenizer = loadTokenizerFromFolder(job.modelDir, nodeFiles);
    options.countTokens = (record: NormalizedRecord) => tokenizer.countTokens(record);
  }
  const fd = openSync(job.file, 'r');
  try {
    for (const { lines, invalidUtf8 } of lineChunks(fd, READ_BYTES, job)) {
      const packet = packFacts(analyzeLines(lines, options, invalidUtf8));
      parentPort!.postMessage(packet, [packet.ints.buffer as ArrayBuffer, packet.signatures.buffer as ArrayBuffer]);
    }
  } finally {
    closeSync(fd);
  }
  parentPort!.postMessage('done');
}
