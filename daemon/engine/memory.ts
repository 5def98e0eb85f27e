// How much memory a training step needs, how much the backend can have, and what to say when it does
// not fit: before the run (estimateTrainingMemory + memoryLimit -> checkMemoryFits) and during it
// (asOutOfMemory turns a backend's allocation failure into the same kind of sentence).
// The estimate itself is memoryEstimate.ts.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig, TrainingArguments } from '../../core/recipe/types.ts';
import { DEFAULT_LORA, defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import type { Example } from './data.ts';
import type { ModelConfig } from './modelConfig.ts';
import { GB, WARN_FRACTION, WASM_HEAP_MAX, MEMORY_LIMIT_ENV, isLlama, defaultShape, estimateTrainingMemory, largestBatch, type MemoryArgs, type BatchShape, type MemoryEstimate, type RunShape } from './memoryEstimate.ts';
export { WASM_HEAP_MAX, MEMORY_LIMIT_ENV, estimateTrainingMemory, largestBatch, type MemoryArgs, type BatchShape, type MemoryEstimate, type RunShape } from './memoryEstimate.ts';

/** The memory a backend can use for tensors, and how to name it in a sentence. */
export interface MemoryLimit {
  bytes: number;
  /** e.g. "the 4 GB the wasm backend can address", "the 11.2 GB of memory free on this machine". */
  what: string;
}

/** A cgroup's memory limit minus its usage (v2, then v1), or undefined without one. */
function cgroupFree(read: (path: string) => string | undefined): number | undefined {
  const num = (p: string) => {
    const text = read(p)?.trim();
    return text && /^\d+$/.test(text) ? Number(text) : undefined;
  };
  const v2 = num('/sys/fs/cgroup/memory.max');
  if (v2 !== undefined) return Math.max(0, v2 - (num('/sys/fs/cgroup/memory.current') ?? 0));
  const v1 = num('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  // v1 reports "no limit" as a huge number (2^63 rounded to pages).
  if (v1 !== undefined && v1 < 2 ** 60) return Math.max(0, v1 - (num('/sys/fs/cgroup/memory/memory.usage_in_bytes') ?? 0));
  return undefined;
}

/** MemAvailable (what can be had without swapping, page cache included) where Linux says, else os.freemem(). */
function systemFree(read: (path: string) => string | undefined): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(read('/proc/meminfo') ?? '');
  return m ? Number(m[1]) * 1024 : os.freemem();
}

/** Where the limit comes from, for tests: files, environment, and the wasm heap's current use. */
export interface LimitSources {
  env?: NodeJS.ProcessEnv;
  read?: (path: string) => string | undefined;
  /** Bytes the wasm heap already holds in live tensors. */
  wasmUsed?: number;
}

function readText(path: string): string | undefined {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The memory `backend` can use: ANNEAL_MEMORY_LIMIT_MB when set; wasm: its 4 GB heap less what it
 * holds, or less when the machine has less free; native and pure JS: the machine's available memory
 * or the container's (cgroup) limit, whichever is lower. Null where it cannot be known (GPU backends).
 */
export function memoryLimit(backend: string, sources: LimitSources = {}): MemoryLimit | null {
  const env = sources.env ?? process.env;
  const read = sources.read ?? readText;
  const forced = env[MEMORY_LIMIT_ENV]?.trim();
  if (forced) {
    if (!/^\d+(\.\d+)?$/.test(forced)) throw new Error(`${MEMORY_LIMIT_ENV}=${forced} is not a number of megabytes; set it to e.g. 3000 or unset it.`);
    return { bytes: Number(forced) * 2 ** 20, what: `the ${formatBytes(Number(forced) * 2 ** 20)} that ${MEMORY_LIMIT_ENV} allows` };
  }
  if (backend === 'webgpu' || backend === 'tensorflow-gpu') return null;
  const cgroup = cgroupFree(read);
  const free = Math.min(systemFree(read), cgroup ?? Infinity);
  const freeWhat = cgroup !== undefined && cgroup <= systemFree(read) ? `the ${formatBytes(free)} this container's memory limit leaves` : `the ${formatBytes(free)} of memory free on this machine`;
  if (backend === 'wasm') {
    const heap = WASM_HEAP_MAX - (sources.wasmUsed ?? 0);
    if (free < heap) return { bytes: free, what: freeWhat };
    return { bytes: heap, what: sources.wasmUsed ? `the ${formatBytes(heap)} left of the 4 GB the wasm backend can address` : 'the 4 GB the wasm backend can address' };
  }
  return { bytes: free, what: freeWhat };
}

/** "6.1 GB", "512 MB". */
export function formatBytes(bytes: number): string {
  if (bytes >= GB) return `${(bytes / GB).toFixed(bytes >= 10 * GB ? 0 : 1)} GB`;
  return `${Math.max(1, Math.round(bytes / 2 ** 20))} MB`;
}

/** "135M", "1.7B". */
function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  return `${Math.round(n / 1e3)}K`;
}

/** "weights 0.5 GB, activations 5.3 GB, ...": the pieces that matter, largest first. */
export function describeEstimate(e: MemoryEstimate): string {
  const pieces: [string, number][] = [
    ['weights', e.weights],
    ['activations', e.activations],
    ['logits', e.logits],
    [e.lora ? 'LoRA and AdamW state' : 'gradients and AdamW state', e.optimizer],
    ['packed weight copies', e.packedWeights],
    [e.backend === 'wasm' ? 'heap slack' : 'runtime', e.overhead],
  ];
  return pieces
    .filter(([, b]) => b >= 0.02 * e.total)
    .sort((a, b) => b[1] - a[1])
    .map(([name, b]) => `${name} ${formatBytes(b)}`)
    .join(', ');
}

/** What is being trained, at which micro-batch: "LoRA training of this 135M-parameter model at batch 8 x 1024 tokens". */
function describeRun(e: MemoryEstimate): string {
  const what = e.phase === 'training step' ? `${e.lora ? 'LoRA training' : 'Full fine-tuning'}` : `${e.phase === 'evaluation' ? 'Evaluation' : 'Sampling'} during ${e.lora ? 'LoRA training' : 'full fine-tuning'}`;
  return `${what} of this ${formatCount(e.parameters)}-parameter model at batch ${e.shape.batch} × ${e.shape.length} tokens${e.checkpointing ? ' with gradient checkpointing' : ''}`;
}

/** A run's settings that memory depends on. */
interface Setting {
  args: MemoryArgs;
  lora: LoraConfig | null;
  shape: BatchShape;
}

/** One change of settings: its words and the setting it makes (null when it does not apply). */
type Lever = (s: Setting) => { text: string; setting: Setting } | null;

/**
 * The settings that would bring the estimate under `limit`, biggest effect first, each with the value
 * that fits: a smaller per_device_train_batch_size (gradient_accumulation_steps raised to keep the
 * effective batch), gradient checkpointing, a shorter max_length, LoRA instead of full fine-tuning,
 * load_in_4bit with LoRA;
 * when none fits alone, them together; on wasm also the native backend.
 */
export function remedies(config: ModelConfig, args: MemoryArgs, lora: LoraConfig | null, backend: string, limit: number, run: RunShape = {}): string[] {
  const bytes = (s: Setting) => estimateTrainingMemory(config, s.args, s.lora, backend, { ...run, train: s.shape }).total;
  const fits = (s: Setting) => bytes(s) <= limit;
  const effective = args.per_device_train_batch_size * args.gradient_accumulation_steps;
  const batchLever: Lever = (s) => {
    if (s.shape.batch <= 1) return null;
    const perRow = s.shape.lossTokens / s.shape.batch;
    const at = (b: number): Setting => ({ ...s, args: { ...s.args, per_device_train_batch_size: b, gradient_accumulation_steps: Math.ceil(effective / b) }, shape: { ...s.shape, batch: b, lossTokens: Math.round(perRow * b) } });
    let b = s.shape.batch;
    while (b > 1 && !fits(at(b))) b = Math.floor(b / 2);
    if (b === s.shape.batch) return null;
    return { text: `per_device_train_batch_size: ${b} with gradient_accumulation_steps: ${Math.ceil(effective / b)}`, setting: at(b) };
  };
  const lengthLever: Lever = (s) => {
    const at = (t: number): Setting => ({ ...s, args: { ...s.args, max_length: t }, shape: { ...s.shape, length: t, lossTokens: Math.min(s.shape.lossTokens, s.shape.batch * t) } });
    let t = s.shape.length;
    while (t > 64 && !fits(at(t))) t = Math.max(64, Math.floor(t / 2 / 64) * 64);
    if (t >= s.shape.length) return null;
    return { text: `max_length: ${t}`, setting: at(t) };
  };
  const checkpointingKnown = 'gradient_checkpointing' in defaultTrainingArguments('sft');
  const checkpointLever: Lever = (s) => (checkpointingKnown && s.args.gradient_checkpointing !== true ? { text: 'gradient_checkpointing: true', setting: { ...s, args: { ...s.args, gradient_checkpointing: true } } } : null);
  const loraLever: Lever = (s) => (s.lora === null ? { text: `LoRA instead of full fine-tuning (\`lora: {r: ${DEFAULT_LORA.r}}\`)`, setting: { ...s, lora: DEFAULT_LORA } } : null);
  const fourBitKnown = 'load_in_4bit' in defaultTrainingArguments('sft');
  const fourBitLever: Lever = (s) => (fourBitKnown && s.lora !== null && s.args.load_in_4bit !== true && isLlama(config) ? { text: 'load_in_4bit: true', setting: { ...s, args: { ...s.args, load_in_4bit: true } } } : null);
  const notes: Record<string, string> = {
    'gradient_checkpointing: true': ', for about a third more time per step',
    'load_in_4bit: true': ', for about a third more time per step',
    'max_length: ': '; longer records are cut',
    per_device_train_batch_size: ' (the same effective batch)',
  };
  const note = (text: string) => Object.entries(notes).find(([k]) => text.startsWith(k))?.[1] ?? '';

  const base: Setting = { args, lora, shape: run.train ?? defaultShape(config, args) };
  const alone: { text: string; bytes: number }[] = [];
  for (const lever of [batchLever, checkpointLever, lengthLever, loraLever, fourBitLever]) {
    const r = lever(base);
    if (r && fits(r.setting)) alone.push({ text: `${r.text}${note(r.text).startsWith(' (') ? note(r.text) : ''} (about ${formatBytes(bytes(r.setting))}${note(r.text).startsWith(' (') ? '' : note(r.text)})`, bytes: bytes(r.setting) });
  }
  const out = alone.sort((a, b) => a.bytes - b.bytes).map((r) => r.text);
  if (out.length === 0) {
    // Nothing fits alone: the levers together, strongest first, each as far as needed.
    let s = base;
    const used: string[] = [];
    // load_in_4bit last: it saves only the weights, for more time per step.
    for (const lever of [checkpointLever, loraLever, batchLever, lengthLever, fourBitLever]) {
      if (fits(s)) break;
      const r = lever(s);
      if (!r) continue;
      s = r.setting;
      used.push(r.text);
    }
    const joined = used.length > 1 ? `${used.slice(0, -1).join(', ')} and ${used[used.length - 1]} together` : used[0];
    if (used.length > 0) out.push(fits(s) ? `${joined} (about ${formatBytes(bytes(s))})` : `${joined}, though even that needs about ${formatBytes(bytes(s))}, so this model needs more memory than is available`);
  }
  if (backend === 'wasm') out.push('`npm run setup:native` for the native backend, which has no 4 GB cap');
  return out;
}

/** Joins remedies as "a, b, or c". */
function either(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')}, or ${items[items.length - 1]}`;
}

/** A run that cannot fit, refused before it starts: one sentence. */
export class OutOfMemoryError extends Error {
  override name = 'OutOfMemoryError';
}

/** The verdict before a run: fits, fits but close (a warning for the log), or refused (throw `error`). */
export type MemoryVerdict = { fits: true; warning?: string; estimate: MemoryEstimate; limit: MemoryLimit | null } | { fits: false; error: OutOfMemoryError; estimate: MemoryEstimate; limit: MemoryLimit };

/** Compares the estimate with the limit; the refusal names what does not fit and what to lower. */
export function checkMemoryFits(config: ModelConfig, args: MemoryArgs, lora: LoraConfig | null, backend: string, limit: MemoryLimit | null, run: RunShape = {}): MemoryVerdict {
  const estimate = estimateTrainingMemory(config, args, lora, backend, run);
  if (!limit) return { fits: true, estimate, limit };
  const needs = `${describeRun(estimate)} needs about ${formatBytes(estimate.total)} (${describeEstimate(estimate)})`;
  if (estimate.total > limit.bytes) {
    const fixes = remedies(config, args, lora, backend, limit.bytes, run);
    return { fits: false, estimate, limit, error: new OutOfMemoryError(`${needs}, more than ${limit.what}; lower it with ${either(fixes)}.`) };
  }
  if (estimate.total > WARN_FRACTION * limit.bytes) {
    return { fits: true, estimate, limit, warning: `memory: ${needs}, close to ${limit.what}; if it runs out, lower per_device_train_batch_size or max_length` };
  }
  return { fits: true, estimate, limit };
}

/** The phase a failure happened in, for the sentence. */
export type Phase = 'training step' | 'evaluation' | 'sampling';

/** What a backend's out-of-memory failure tells: that it is one, and the shape being allocated when it says. */
export interface OomReading {
  shape?: number[];
  bytes?: number;
}

/** The wasm heap's size now (it only grows), or undefined on other backends. */
function wasmHeapBytes(): number | undefined {
  const wasm = (tf.getBackend() === 'wasm' ? (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm : undefined);
  return wasm?.HEAPU8?.buffer.byteLength;
}

/**
 * Reads an error as an out-of-memory failure, or returns null. Messages, each seen by provoking the
 * failure (test/unit/engine/memory.test.ts lists where):
 *  - our wasm allocation guard: "wasm heap full: could not allocate N bytes for a float32 tensor of shape [..]"
 *  - wasm without it: "memory access out of bounds" (a RuntimeError; counted only once the heap has
 *    grown past 3 GB, since a small heap means a bug, not memory), "Aborted(...)", XNNPACK's status 6
 *  - native TensorFlow: "OOM when allocating tensor with shape[200000,200000] and type float on ..."
 *  - V8: "Array buffer allocation failed" (an ArrayBuffer the system cannot back); C++: "std::bad_alloc".
 */
export function readOutOfMemory(err: unknown, heapBytes = wasmHeapBytes()): OomReading | null {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  if (err instanceof WasmHeapFull) return { shape: err.shape, bytes: err.bytes };
  const tfShape = /OOM when allocating tensor with shape\s*\[([\d,\s]*)\]/.exec(message);
  if (tfShape) return { shape: tfShape[1]!.split(',').filter((x) => x.trim() !== '').map(Number) };
  if (/Got status 6|xnn_status_out_of_memory|Aborted\((OOM|Cannot enlarge memory)?|Cannot enlarge memory|Out of memory|std::bad_alloc|Array buffer allocation failed|WebAssembly\.Memory\(\): could not allocate|ENOMEM/i.test(message)) return {};
  if (/memory access out of bounds/.test(message) && (heapBytes ?? 0) > 3 * GB) return {};
  return null;
}

/**
 * The one sentence for an out-of-memory failure during a run: the phase, the shape being allocated
 * when the backend says, the estimate and the settings to lower; or null when `err` is not one.
 */
export function asOutOfMemory(err: unknown, phase: Phase, estimate: MemoryEstimate, fixes: string[]): OutOfMemoryError | null {
  const reading = readOutOfMemory(err);
  if (!reading) return null;
  const what = reading.shape ? ` allocating a tensor of shape [${reading.shape.join(', ')}]${reading.bytes ? ` (${formatBytes(reading.bytes)})` : ''}` : reading.bytes ? ` allocating ${formatBytes(reading.bytes)}` : '';
  return new OutOfMemoryError(
    `The ${estimate.backend} backend ran out of memory during ${phase === 'training step' ? 'a training step' : phase}${what}; the estimate for ${describeRun({ ...estimate, phase: 'training step' }).replace(/^Full/, 'full')} was about ${formatBytes(estimate.total)} (${describeEstimate(estimate)}); lower it with ${either(fixes)}.`,
  );
}

/** A wasm allocation that failed because the heap cannot grow (what the guard throws). */
export class WasmHeapFull extends Error {
  override name = 'WasmHeapFull';
  constructor(readonly bytes: number, readonly shape?: number[], dtype?: string) {
    super(`wasm heap full: could not allocate ${bytes} bytes${shape ? ` for a ${dtype ?? ''} tensor of shape [${shape.join(', ')}]` : ''}`);
  }
}

interface WasmModule {
  _malloc(n: number): number;
  _free(p: number): void;
}
interface WasmBackendLike {
  wasm: WasmModule;
  move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void;
}

const guarded = new WeakSet<object>();
let xnnOutOfMemory = false;

/**
 * Makes the wasm backend fail loudly when its heap is full. Its allocator returns 0 when the 4 GB heap
 * cannot grow, and tfjs writes the tensor there anyway: the first tensors are overwritten and the run
 * goes on with garbage until something reads out of bounds. XNNPACK's own allocations report "Got
 * status 6" on stderr and its matmul returns nothing useful. After this, the first failed tensor
 * allocation throws WasmHeapFull (with the tensor's shape), and `takeXnnOutOfMemory` reports an
 * XNNPACK failure seen since the last call. No-op on other backends.
 */
export function guardWasmAllocations(): void {
  if (tf.getBackend() !== 'wasm') return;
  const backend = tf.backend() as unknown as WasmBackendLike;
  if (guarded.has(backend)) return;
  guarded.add(backend);
  const wasm = backend.wasm;
  // Emscripten's exports replace themselves with the raw function on their first call.
  wasm._free(wasm._malloc(16));
  const malloc = wasm._malloc.bind(wasm);
  wasm._malloc = (n: number) => {
    const p = malloc(n);
    if (p === 0 && n > 0) throw new WasmHeapFull(n);
    return p;
  };
  const move = backend.move.bind(backend);
  backend.move = (dataId, values, shape, dtype, refCount) => {
    try {
      move(dataId, values, shape, dtype, refCount);
    } catch (e) {
      if (e instanceof WasmHeapFull) throw new WasmHeapFull(e.bytes, shape, dtype);
      throw e;
    }
  };
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (/XNN status .* Got status 6/.test(String(chunk))) xnnOutOfMemory = true;
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
}

/** An XNNPACK out-of-memory failure seen since the last call (its result is garbage), as an error; clears it. */
export function takeXnnOutOfMemory(): Error | null {
  if (!xnnOutOfMemory) return null;
  xnnOutOfMemory = false;
  return new Error('XNN status for an XNNPACK operator is not successful. Got status 6 (xnn_status_out_of_memory).');
}

/** What the pre-run check reads: the model, the job's settings and data, and the backend. */
export interface MemoryCheckInput {
  config: ModelConfig;
  args: MemoryArgs & Pick<TrainingArguments, 'packing'>;
  lora: LoraConfig | null;
  backend: string;
  /** Tokenized training and evaluation examples (already cut to `maxLength`). */
  train: Example[];
  eval: Example[] | null;
  maxLength: number;
  sampling: boolean;
  /**
   * `args.gradient_checkpointing` is a default, not the user's choice (a recipe-less run): it is turned
   * off when a step fits comfortably without recomputing layers (TrainingMemory.gradientCheckpointing).
   */
  optionalCheckpointing?: boolean;
}

/**
 * A run's memory: checked before the weights are uploaded (`TrainingMemory.check` refuses a run that
 * cannot fit, in one sentence), then used to explain an out-of-memory failure during the run.
 */
export class TrainingMemory {
  private constructor(
    private readonly input: MemoryCheckInput,
    readonly estimate: MemoryEstimate,
    readonly limit: MemoryLimit | null,
    private readonly run: RunShape,
    private readonly log: (line: string) => void,
  ) {}

  /** Whether the run recomputes layers: the job's setting, or off when it was optional and not needed. */
  get gradientCheckpointing(): boolean {
    return this.input.args.gradient_checkpointing === true;
  }

  /** Estimates, logs the estimate (and a warning when close to the limit); throws OutOfMemoryError when over it. */
  static check(input: MemoryCheckInput, log: (line: string) => void, sources: LimitSources = {}): TrainingMemory {
    const train = largestBatch(input.train, input.args, input.maxLength);
    const evalShape = input.eval && input.eval.length > 0 ? largestBatch(input.eval, { per_device_train_batch_size: input.args.per_device_eval_batch_size, packing: false }, input.maxLength) : null;
    const run: RunShape = { train, eval: evalShape, sampling: input.sampling };
    const wasmUsed = input.backend === 'wasm' ? tf.memory().numBytes : 0;
    const limit = memoryLimit(input.backend, { wasmUsed, ...sources });
    if (input.optionalCheckpointing && input.args.gradient_checkpointing) {
      // Recomputing every layer costs about a third more time per step: worth it only when needed.
      const plain = checkMemoryFits(input.config, { ...input.args, gradient_checkpointing: false }, input.lora, input.backend, limit, run);
      const need = formatBytes(plain.estimate.total);
      if (plain.fits && !plain.warning) {
        input = { ...input, args: { ...input.args, gradient_checkpointing: false } };
        log(`gradient_checkpointing: off, no layer recomputed: a step fits in about ${need}${limit ? ` of ${limit.what}` : ''} without it`);
      } else {
        log(`gradient_checkpointing: on, each layer recomputed in the backward pass: without it a step would need about ${need}, ${plain.fits ? 'close to' : 'more than'} ${limit!.what}`);
      }
    }
    const verdict = checkMemoryFits(input.config, input.args, input.lora, input.backend, limit, run);
    const e = verdict.estimate;
    log(`memory: about ${formatBytes(e.total)} at the peak of a ${e.phase} (${describeEstimate(e)}; largest micro-batch ${train.batch} × ${train.length} tokens)${limit ? ` of ${limit.what}` : ''}`);
    if (!verdict.fits) throw verdict.error;
    if (verdict.warning) log(verdict.warning);
    return new TrainingMemory(input, e, limit, run, log);
  }

  /**
   * `err` as the run's failure: an out-of-memory error becomes one sentence naming `phase`, the shape
   * being allocated, the estimate and what to lower (the backend's own message goes to the log);
   * anything else is returned as it is.
   */
  explain(err: unknown, phase: Phase): unknown {
    if (err instanceof OutOfMemoryError) return err;
    const i = this.input;
    // It failed below the limit, so aim well under the estimate.
    const target = Math.min(this.limit?.bytes ?? Infinity, this.estimate.total) / 2;
    const fixes = remedies(i.config, i.args, i.lora, i.backend, target, this.run);
    const oom = asOutOfMemory(err, phase, this.estimate, fixes);
    if (!oom) return err;
    this.log(`out of memory during ${phase}; the backend said: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    return oom;
  }

  /** Throws the explained error when XNNPACK (wasm) reported running out of memory since the last call. */
  assertNoSilentFailure(phase: Phase): void {
    const xnn = takeXnnOutOfMemory();
    if (xnn) throw this.explain(xnn, phase);
  }
}
