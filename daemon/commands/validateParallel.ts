// Dataset files in `anneal validate` are analysed in chunks of whole lines; large ones by the main
// thread and worker threads together. Each takes the next unclaimed chunk from a shared counter, so a worker
// that starts late (a thread takes some tens of milliseconds to load its bundle) or runs on a busy
// core simply takes fewer chunks, and the main thread never waits idle while workers start (nor at the
// end: it checks a chunk a worker still has too, and keeps the first copy ready). Workers send
// each chunk's facts packed in typed arrays; the main thread adds every chunk's facts to one
// DatasetModel in file order, so whole-file checks and the output are the same as a sequential run.
// The workers are dist/cli.js started with a hidden subcommand, which cli.ts routes to the bundle of
// the line analysis alone (validateWorker.ts).

import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { decodeLines, type DecodedLines } from '../../core/datasets/bytes.ts';
import { FactsPacker, unpackFacts, type PackedFacts } from '../../core/datasets/factsTransfer.ts';
import { analyzeLines, lineContext } from '../../core/datasets/model.ts';
import { analyzeLine } from '../../core/datasets/lineAnalysis.ts';
import type { DatasetModel } from '../../core/datasets/index.ts';
import type { LineContext, LineFacts } from '../../core/datasets/lineAnalysis.ts';
import type { DatasetCheckOptions, DatasetInfoEntry, NormalizedRecord } from '../../core/datasets/types.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { WORKER_COMMAND } from './validateWorkerCommand.ts';

/** Below this size one thread is faster than starting workers. */
export const PARALLEL_MIN_BYTES = 24 << 20;
/** Bytes per chunk: small enough to share the work evenly, large enough that claiming costs nothing. */
const CHUNK_BYTES = 4 << 20;
const YOUNG_GENERATION_MB = 96;

/** What a worker needs to rebuild the check options (functions cannot cross threads) and claim chunks. */
export interface WorkerJob {
  file: string;
  size: number;
  /** One Int32: the next chunk to claim, shared by every thread of the run. */
  counter: SharedArrayBuffer;
  /** Where the worker posts `ChunkMessage`s, then 'done'. */
  port: MessagePort;
  options: { kind?: string; maxLength?: number; datasetInfo?: DatasetInfoEntry; nearDuplicates?: boolean };
  modelDir?: string;
}

/** One chunk's facts from a worker. */
interface ChunkMessage {
  chunk: number;
  packets: PackedFacts[];
}

/**
 * How many worker threads check a file of `size` bytes next to the main thread (0: the main thread
 * alone). ANNEAL_VALIDATE_THREADS sets the number of threads in all, the main one included.
 */
export function workerCount(size: number): number {
  const threads = Number(process.env.ANNEAL_VALIDATE_THREADS) || availableParallelism();
  if (size < PARALLEL_MIN_BYTES || threads < 2) return 0;
  return Math.min(threads - 1, 8, chunkCount(size) - 1);
}

/**
 * The last TAIL_BYTES of a file go in chunks of TAIL_CHUNK_BYTES: the threads finish within a small
 * chunk of each other, and the main thread has less left to add once the last worker is done.
 */
const TAIL_BYTES = 8 << 20;
const TAIL_CHUNK_BYTES = 1 << 20;

/** How many chunks of CHUNK_BYTES a file of `size` bytes starts with. */
function fullChunks(size: number): number {
  return Math.max(0, Math.floor((size - TAIL_BYTES) / CHUNK_BYTES));
}

function chunkCount(size: number): number {
  const full = fullChunks(size);
  return Math.max(1, full + Math.ceil((size - full * CHUNK_BYTES) / TAIL_CHUNK_BYTES));
}

/** Where chunk `k` nominally starts (its lines are those that start from here to the next chunk's start). */
function chunkOffset(size: number, k: number): number {
  const full = fullChunks(size);
  return k <= full ? k * CHUNK_BYTES : full * CHUNK_BYTES + (k - full) * TAIL_CHUNK_BYTES;
}

/** Reads chunks of a file as whole lines: chunk k holds the lines that start in its byte range (chunkOffset). */
class ChunkReader {
  private readonly probe = Buffer.allocUnsafe(1 << 16);
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES + (1 << 16));

  constructor(private readonly fd: number, private readonly size: number) {}

  /** The first line start at or after byte `at` (> 0), or size + 1 when no line starts there. */
  private lineStart(at: number): number {
    // A line starts right after a line break, so look from the byte before `at`.
    let position = at - 1;
    while (position < this.size) {
      const got = readSync(this.fd, this.probe, 0, this.probe.length, position);
      if (got === 0) break;
      const nl = this.probe.subarray(0, got).indexOf(10);
      if (nl >= 0) return position + nl + 1;
      position += got;
    }
    return this.size + 1;
  }

  /** The decoded lines of chunk `k` (none when no line starts in it). */
  lines(k: number): DecodedLines | undefined {
    const start = k === 0 ? 0 : this.lineStart(chunkOffset(this.size, k));
    if (start > this.size) return undefined;
    const next = k + 1 >= chunkCount(this.size) ? this.size + 1 : this.lineStart(chunkOffset(this.size, k + 1));
    if (next <= start) return undefined;
    // The chunk that no later line start follows holds the file's last line (after its last line
    // break, empty when the file ends with one), as in a sequential read.
    const last = next > this.size;
    const end = last ? this.size : next;
    if (end - start > this.buffer.length) this.buffer = Buffer.allocUnsafe(end - start);
    let got = 0;
    while (got < end - start) {
      const n = readSync(this.fd, this.buffer, got, end - start - got, start + got);
      if (n === 0) break;
      got += n;
    }
    // A middle chunk ends with a line break, which ends its last line rather than starting another.
    return decodeLines(this.buffer.subarray(0, last ? got : Math.max(0, got - 1)));
  }
}

/** A worker thread of one run and the port it posts its chunks on. */
class ChunkWorker {
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private done = false;
  private stopping = false;
  /** Why the worker failed, once its 'error' or an exit code we did not cause has been seen. */
  private failure: Error | undefined;

  constructor(job: Omit<WorkerJob, 'port'>, private readonly ready: Map<number, LineFacts[] | PackedFacts[]>) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(process.argv[1], {
      argv: [WORKER_COMMAND],
      workerData: { ...job, port: port2 } satisfies WorkerJob,
      transferList: [port2],
      // Room for a whole chunk's parsed records and facts, which are dropped once packed: with the
      // default young generation they would be copied by the scavenger, some twice.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.worker.on('error', (err) => (this.failure ??= err));
    // Code 1 is also what terminate() gives, so it is a failure only when not stopping (a thread
    // that throws reports 'error' too); any other non-zero code is one whenever it comes.
    this.worker.on('exit', (code) => {
      if (code !== 0 && !(code === 1 && this.stopping)) this.failure ??= new Error(`validation worker exited with code ${code}`);
    });
  }

  private take(m: ChunkMessage | 'done'): void {
    if (m === 'done') {
      this.done = true;
      this.port.close();
    } else if (!this.ready.has(m.chunk)) this.ready.set(m.chunk, m.packets);
  }

  /** Collect the chunks posted so far, without waiting. */
  drain(): void {
    for (let m = this.done ? undefined : receiveMessageOnPort(this.port); m; m = this.done ? undefined : receiveMessageOnPort(this.port)) this.take(m.message as ChunkMessage | 'done');
  }

  /**
   * End the worker once the run has every chunk (it may still be checking one this thread checked
   * too). A worker that failed before its 'done' fails the run, as it did when the run waited for it.
   */
  async stop(): Promise<void> {
    this.drain();
    if (this.done) return;
    this.stopping = true;
    this.port.close();
    await this.worker.terminate();
    if (this.failure) throw this.failure;
  }
}

/** Lines checked between looks at the workers' messages while this thread checks a chunk a worker has too. */
const STEAL_BATCH = 500;

/** Check `fd` (`size` bytes) on this thread and `workers` worker threads (maybe none), adding every line's facts to `model` in order. */
export async function analyzeChunks(file: string, fd: number, size: number, workers: number, model: DatasetModel, options: DatasetCheckOptions, job: Pick<WorkerJob, 'options' | 'modelDir'>): Promise<void> {
  const chunks = chunkCount(size);
  const counter = new SharedArrayBuffer(4);
  const next = new Int32Array(counter);
  // Chunks analysed but not yet added, by chunk number: this thread's as facts, workers' packed.
  const ready = new Map<number, LineFacts[] | PackedFacts[]>();
  let appended = 0;
  const pool = Array.from({ length: workers }, () => new ChunkWorker({ ...job, file, size, counter }, ready));
  const collect = () => {
    for (const worker of pool) worker.drain();
    for (let got = ready.get(appended); got !== undefined; got = ready.get(appended)) {
      ready.delete(appended++);
      if (isPacked(got)) for (const packet of got) model.appendFacts(unpackFacts(packet));
      else model.appendFacts(got);
    }
  };
  const reader = new ChunkReader(fd, size);
  const ctx = lineContext(options);
  let reserved = false;
  for (let k = Atomics.add(next, 0, 1); k < chunks; k = Atomics.add(next, 0, 1)) {
    const decoded = reader.lines(k);
    if (decoded && !reserved && chunks > 1) {
      // The first chunk's line count tells roughly how many lines the file holds: sizing the model's
      // hash tables for them now spares rehashing them as they fill (tens of ms at 100k records),
      // all of it on this thread.
      const bytes = Math.min(size, chunkOffset(size, k + 1)) - chunkOffset(size, k);
      model.reserve(Math.ceil((decoded.lines.length * size * 1.1) / Math.max(1, bytes)));
      reserved = true;
    }
    ready.set(k, decoded ? analyzeLines(decoded.lines, options, decoded.invalidUtf8) : []);
    collect();
  }
  // Every chunk is claimed; the next one to add may still be with a worker, which on a busy core can
  // take far longer than this thread would. Rather than wait idle, check it here too, a batch of lines
  // at a time, keeping whichever copy is ready first: the facts are the same from either thread.
  for (collect(); appended < chunks; collect()) {
    const k = appended;
    const decoded = reader.lines(k);
    const facts: LineFacts[] = [];
    for (let i = 0; decoded && i < decoded.lines.length && !ready.has(k); i += STEAL_BATCH) {
      for (let j = i; j < Math.min(i + STEAL_BATCH, decoded.lines.length); j++) facts.push(analyzeLine(decoded.lines[j], ctx, decoded.invalidUtf8.get(j)));
      for (const worker of pool) worker.drain();
    }
    if (!ready.has(k)) ready.set(k, facts);
  }
  await Promise.all(pool.map((worker) => worker.stop()));
}

function isPacked(x: LineFacts[] | PackedFacts[]): x is PackedFacts[] {
  return x.length > 0 && 'ints' in x[0];
}

/**
 * The tokenizer of the model folder `dir` (--model). core/tokenize (tokenizers, chat templates) is
 * required only then, and in the CLI it is a bundle of its own (esbuild.mjs): without --model,
 * neither validate nor its workers compile it.
 */
export function loadTokenizer(dir: string): ReturnType<typeof import('../../core/tokenize/index.ts').loadTokenizerFromFolder> {
  const { loadTokenizerFromFolder } = require('../../core/tokenize/index.ts') as typeof import('../../core/tokenize/index.ts');
  return loadTokenizerFromFolder(dir, nodeFiles);
}

/** The worker side: claim chunks until none is left, posting each one's packed facts, then 'done'. */
export function runWorker(): void {
  const job = workerData as WorkerJob;
  const options: DatasetCheckOptions = { ...job.options, kind: undefined, retainRecords: false } as DatasetCheckOptions;
  if (job.modelDir) {
    const tokenizer = loadTokenizer(job.modelDir);
    options.countTokens = (record: NormalizedRecord) => tokenizer.countTokens(record);
  }
  const ctx = lineContext(options);
  const next = new Int32Array(job.counter);
  const chunks = chunkCount(job.size);
  const fd = openSync(job.file, 'r');
  try {
    const reader = new ChunkReader(fd, job.size);
    for (let k = Atomics.add(next, 0, 1); k < chunks; k = Atomics.add(next, 0, 1)) {
      const decoded = reader.lines(k);
      const packets = decoded ? [analyzeAndPack(decoded, ctx)] : [];
      const transfer = packets.flatMap((p) => [p.ints.buffer as ArrayBuffer, p.signatures.buffer as ArrayBuffer]);
      job.port.postMessage({ chunk: k, packets } satisfies ChunkMessage, transfer);
    }
  } finally {
    closeSync(fd);
  }
  job.port.postMessage('done');
}

/** A chunk's facts, each packed as soon as it is made (see FactsPacker). */
function analyzeAndPack(decoded: DecodedLines, ctx: LineContext): PackedFacts {
  const packer = new FactsPacker(decoded.lines.length);
  for (let i = 0; i < decoded.lines.length; i++) packer.add(analyzeLine(decoded.lines[i], ctx, decoded.invalidUtf8.get(i)));
  return packer.finish();
}
