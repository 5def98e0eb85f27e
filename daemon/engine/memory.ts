// How much memory a training step needs, how much the backend can have, and what to say when it does
// not fit: before the run (estimateTrainingMemory + memoryLimit -> checkMemoryFits) and during it
// (asOutOfMemory turns a backend's allocation failure into the same kind of sentence).
//
// The estimate follows what tfjs actually keeps, counted op by op from model.ts's and gpt2.ts's
// forward passes (see layerFloats) under two tfjs rules:
//  - autodiff keeps every tensor an op saves for its gradient (clones share memory) until the whole
//    backward pass ends, and
//  - the backward pass keeps every gradient it computes until it ends too: each op's input gradient
//    that is a new tensor (not a reshape/add pass-through) stays, and a tensor read by k ops has k
//    gradient tensors (k-1 partial sums were added into a running total that stays as well).
// Checked exactly against the wasm allocator (malloc/free wrapped) on tiny models: the per-layer
// figure is within 3% (Llama LoRA: 9.27 MB measured / 9.21 MB counted at d128 B2 T64; full 6.17/6.03;
// GPT-2 LoRA 8.40/8.32, full 5.58/5.44; LoRA dropout's extra 2.867/2.867; a no-grad forward
// 2.985/2.982). On SmolLM2-135M (test/bench/memoryEstimate.ts, LoRA r16 all-linear without dropout,
// loss on every position) the whole estimate against the process's peak:
//   wasm heap   LoRA 1x128 2.68 GB / 2.7 est. (the point the 20% slack was fitted on), 2x128 4.0 / 4.0,
//               1x256 ran out / 4.2, 1x64 2.0 / 2.0, 3x64 3.3 / 3.3, 2x256 with checkpointing 2.1 / 2.1,
//               full 1x16 4.0 (at the heap's cap) / 4.9 (4.3 without the clipped gradients' copy, which
//               train.ts makes and the bench does not)
//   native RSS  LoRA 1x128 2.8 / 2.8, 2x256 6.7 / 7.0, 1x512 7.6 / 7.6, full 1x128 5.4 / 4.9 (4.3
//               without clipping), LoRA 4x512 with checkpointing 4.8 / 4.2
// Of the wasm heap, the JS-visible tensors were 1.78 GB at LoRA 1x128 (the estimate's tensors: 1.74).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig, TrainingArguments } from '../../core/recipe/types.ts';
import { DEFAULT_LORA, defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import type { Example } from './data.ts';
import { targetModules } from './lora.ts';
import { extras, headDim, parameterShapes, type LlamaConfig, type ModelConfig } from './modelConfig.ts';
import { headChunkRows } from './ops.ts';

const F32 = 4;
const GB = 2 ** 30;
/** The wasm backend's heap can grow to 4 GiB minus one 64 KiB page (wasm32; Emscripten's getHeapMax). */
export const WASM_HEAP_MAX = 4 * GB - 65536;
/** Environment override of the memory limit, in MiB: for tests and for machines whose limit we cannot see. */
export const MEMORY_LIMIT_ENV = 'ANNEAL_MEMORY_LIMIT_MB';
/** Above this fraction of the limit the run starts with a warning. */
const WARN_FRACTION = 0.8;

/** The training arguments the estimate reads (TRL's names); gradient_checkpointing and load_in_4bit may be absent. */
export type MemoryArgs = Pick<TrainingArguments, 'per_device_train_batch_size' | 'per_device_eval_batch_size' | 'gradient_accumulation_steps' | 'max_length'> & {
  gradient_checkpointing?: boolean;
  load_in_4bit?: boolean;
};

/** Bytes a weight takes in GGML's 4-bit blocks (Q4_0: 18 bytes for 32 values; a GGUF's own Q4_1/Q4_K are close). */
const Q4_BYTES = 18 / 32;

/** The largest micro-batch the run will build: rows, row length, and positions that carry loss. */
export interface BatchShape {
  batch: number;
  length: number;
  lossTokens: number;
}

/** Bytes at a training step's peak, by what holds them. */
export interface MemoryEstimate {
  total: number;
  /** The model's fp32 weights. */
  weights: number;
  /** LoRA's A/B (when training LoRA), their gradients and AdamW's two moments; full fine-tuning: the model's. */
  optimizer: number;
  /** What the layers keep for the backward pass, and the gradients it computes, for the whole micro-batch. */
  activations: number;
  /** The head: logits at the positions that carry loss, the loss's softmax, their gradients. */
  logits: number;
  /** wasm: XNNPACK's packed copies of the weights (see estimateTrainingMemory). */
  packedWeights: number;
  /** The allocator's slack (wasm heap growth and fragmentation) or the runtime's own memory (native). */
  overhead: number;
  /** The phase that needs the most: a training step, or evaluation / sampling when those need more. */
  phase: 'training step' | 'evaluation' | 'sampling';
  shape: BatchShape;
  parameters: number;
  lora: boolean;
  checkpointing: boolean;
  backend: string;
}

/** Trainable (or frozen-base) linear module of one layer: its input group and sizes per token. */
interface Module {
  name: string;
  input: string;
  in: number;
  out: number;
  lora: boolean;
  bias: boolean;
}

/** Per-layer float counts for one micro-batch: kept for the backward pass, gradients, and a no-grad forward's outputs. */
interface LayerFloats {
  saved: number;
  grads: number;
  forward: number;
  /** The layer's input (the residual stream), all checkpointing keeps. */
  input: number;
}

function isLlama(c: ModelConfig): c is LlamaConfig {
  return c.model_type !== 'gpt2';
}

/** The linear modules of layer 0 with whether LoRA targets each (the same in every layer). */
function layerModules(c: ModelConfig, lora: LoraConfig | null): Module[] {
  const targeted = new Set(lora ? targetModules(c, lora).filter((m) => /\.0\./.test(m)).map((m) => m.replace(/^.*\.0\./, '')) : []);
  const d = c.hidden_size;
  if (!isLlama(c)) {
    const I = c.n_inner;
    const mods: Omit<Module, 'lora'>[] = [
      { name: 'attn.c_attn', input: 'ln_1', in: d, out: 3 * d, bias: true },
      { name: 'attn.c_proj', input: 'ctx', in: d, out: d, bias: true },
      { name: 'mlp.c_fc', input: 'ln_2', in: d, out: I, bias: true },
      { name: 'mlp.c_proj', input: 'gelu', in: I, out: d, bias: true },
    ];
    return mods.map((m) => ({ ...m, lora: targeted.has(m.name) }));
  }
  const hd = headDim(c);
  const q = c.num_attention_heads * hd;
  const kv = c.num_key_value_heads * hd;
  const I = c.intermediate_size;
  const x = extras(c);
  const mods: Omit<Module, 'lora'>[] = [
    { name: 'self_attn.q_proj', input: 'norm1', in: d, out: q, bias: x.qkvBias },
    { name: 'self_attn.k_proj', input: 'norm1', in: d, out: kv, bias: x.qkvBias },
    { name: 'self_attn.v_proj', input: 'norm1', in: d, out: kv, bias: x.qkvBias },
    { name: 'self_attn.o_proj', input: 'ctx', in: q, out: d, bias: x.oBias },
    { name: 'mlp.gate_proj', input: 'norm2', in: d, out: I, bias: x.mlpBias },
    { name: 'mlp.up_proj', input: 'norm2', in: d, out: I, bias: x.mlpBias },
    { name: 'mlp.down_proj', input: 'act', in: I, out: d, bias: x.mlpBias },
  ];
  return mods.map((m) => ({ ...m, lora: targeted.has(m.name) }));
}

/**
 * Floats one decoder layer holds for a micro-batch of `batch` rows x `length` tokens, counted from the
 * forward pass op by op (model.ts's decoderLayer, gpt2.ts's block). X = N*hidden, Q = N*heads*head_dim,
 * K = N*kv_heads*head_dim, F = N*intermediate, A = batch*heads*length^2 (attention scores).
 */
function layerFloats(c: ModelConfig, lora: LoraConfig | null, batch: number, length: number, training: boolean): LayerFloats {
  const N = batch * length;
  const d = c.hidden_size;
  const X = N * d;
  const A = batch * c.num_attention_heads * length * length;
  const R = lora ? N * lora.r : 0;
  const dropout = training && lora !== null && lora.dropout > 0;
  const full = lora === null;
  let saved: number;
  let grads: number;
  let forward: number;
  // Inputs the base counts already keep (GPT-2's and Llama's attention context is saved by its reshape).
  const keptAnyway = new Set(['ctx']);
  const inputSize = new Map<string, number>();
  if (isLlama(c)) {
    const hd = headDim(c);
    const Q = N * c.num_attention_heads * hd;
    const K = N * c.num_key_value_heads * hd;
    const F = N * c.intermediate_size;
    // Kept: both norms' input, square and x*rsqrt (3X + 3X... of which the residual adds' other
    // inputs, o_proj's and down_proj's outputs, are 2X); q/k/v outputs (Q + 2K); RoPE's concat
    // halves, rotated, both products and sum (5Q, 5K); q scaled and its head transpose (2Q); kT (K);
    // v's head transpose (K); scores and probabilities (2A); the context and its transpose (2Q); the
    // MLP's gate, up, sigmoid and gate*sigmoid (4F).
    saved = 8 * X + 10 * Q + 9 * K + 4 * F + 2 * A;
    // Gradients: the residual stream twice 3X (read by square, x*rsqrt and the residual add), the norms'
    // square and x*rsqrt (4X); RoPE's split/neg/concat/products and its input read twice (7.5Q, 7.5K
    // with q's scale and head transpose), k's two transposes and v's one (kept in K's count), the
    // scores' softmax and probabilities (2A), the context's transpose (Q), the MLP's gate read twice,
    // up, sigmoid and product (5F).
    grads = 10 * X + 8.5 * Q + 9.5 * K + 5 * F + 2 * A;
    // A no-grad forward (evaluation) keeps every op output until its tidy ends.
    forward = 10 * X + 10.5 * Q + 10.5 * K + 5 * F + 3 * A;
    if (extras(c).qkNorm) {
      saved += 3 * (Q + K);
      grads += 4 * (Q + K);
      forward += 3 * (Q + K);
    }
    inputSize.set('norm1', X).set('ctx', Q).set('norm2', X).set('act', F);
  } else {
    const F = N * c.n_inner;
    // Kept: each LayerNorm's input, centred, square, scaled and weighted (5X twice); k, v, q, q scaled,
    // its transpose, kT and v's transpose (7X); scores and probabilities (2A); the context and its
    // transpose (2X); the residual adds' other inputs (2X); GELU's input (F); each projection's
    // product before its bias (3X + X + F + X).
    saved = 26 * X + 2 * F + 2 * A;
    // Gradients: each LayerNorm's 6X (input twice, centred twice, square, scaled); the q/k/v split
    // (3X) and the head transposes (8X); the context's transpose (X); softmax and probabilities (2A);
    // GELU's input (F).
    grads = 24 * X + F + 2 * A;
    forward = 32 * X + 3 * F + 3 * A;
    inputSize.set('ln_1', X).set('ctx', X).set('ln_2', X).set('gelu', F);
  }
  // Each projection: a LoRA module keeps its base product, B's output and the scaled delta (3 out) and
  // the rank-r product, computes the delta's gradient (out); dropout keeps its uniform draw, the floor,
  // the mask and the dropped input (4 in) and computes one more input gradient. Its input gets a
  // gradient from the frozen product and one from A: k readers leave k gradient tensors.
  const readers = new Map<string, number>();
  const trainedInput = new Set<string>();
  for (const m of layerModules(c, lora)) {
    const O = N * m.out;
    const In = N * m.in;
    readers.set(m.input, (readers.get(m.input) ?? 0) + 1 + (m.lora ? 1 : 0));
    if (m.lora || full) trainedInput.add(m.input);
    if (m.bias && isLlama(c)) saved += O; // the product before the bias (GPT-2's count includes it)
    if (m.lora) {
      saved += 3 * O + 2 * R;
      grads += O + R;
      forward += 3 * O + R;
      if (dropout) {
        saved += 4 * In;
        grads += In;
      }
    }
  }
  for (const [input, k] of readers) grads += k * inputSize.get(input)!;
  for (const input of trainedInput) if (!keptAnyway.has(input)) saved += inputSize.get(input)!;
  return { saved, grads, forward, input: X };
}

/** The largest micro-batch `examples` make under the loader's settings (data.ts's BatchLoader). */
export function largestBatch(examples: Example[], args: Pick<TrainingArguments, 'per_device_train_batch_size' | 'packing'>, maxLength: number): BatchShape {
  const lossOf = (e: Example) => {
    let n = 0;
    for (let t = 1; t < e.target.length; t++) n += e.target[t]!;
    return n;
  };
  if (examples.length === 0) return { batch: 1, length: 1, lossTokens: 1 };
  if (args.packing) {
    const total = examples.reduce((a, e) => a + lossOf(e), 0);
    const rows = Math.ceil(examples.reduce((a, e) => a + e.ids.length, 0) / maxLength);
    const batch = Math.max(1, Math.min(args.per_device_train_batch_size, rows));
    return { batch, length: maxLength, lossTokens: Math.max(1, Math.min(batch * maxLength, total)) };
  }
  const batch = Math.max(1, Math.min(args.per_device_train_batch_size, examples.length));
  const length = Math.max(...examples.map((e) => e.ids.length));
  const losses = examples.map(lossOf).sort((a, b) => b - a);
  return { batch, length, lossTokens: Math.max(1, losses.slice(0, batch).reduce((a, b) => a + b, 0)) };
}

/** Whether `backend` multiplies with transposed copies of the weights (wasm; see ops.ts). */
function transposesWeights(backend: string): boolean {
  return backend === 'wasm';
}

/** What the run does besides training steps, and the batches it builds (defaults: see estimateTrainingMemory). */
export interface RunShape {
  /** The largest training micro-batch. */
  train?: BatchShape;
  /** The largest evaluation batch, or null without evaluation data. */
  eval?: BatchShape | null;
  /** Whether the run generates samples. */
  sampling?: boolean;
}

/** The default micro-batch: per_device_train_batch_size rows of max_length tokens (capped by the model's positions), all carrying loss. */
function defaultShape(config: ModelConfig, args: MemoryArgs): BatchShape {
  const T = Math.min(args.max_length, config.max_position_embeddings);
  return { batch: args.per_device_train_batch_size, length: T, lossTokens: args.per_device_train_batch_size * T };
}

/**
 * Bytes a training step needs at its peak (and evaluation or sampling, when they need more), broken
 * down by what holds them. `run.train` is the largest micro-batch (default: defaultShape); `run.eval`
 * the largest evaluation batch (default: none); `run.sampling` whether samples are generated (default: no).
 */
export function estimateTrainingMemory(config: ModelConfig, args: MemoryArgs, lora: LoraConfig | null, backendName: string, run: RunShape = {}): MemoryEstimate {
  const s: BatchShape = run.train ?? defaultShape(config, args);
  const { batch: B, length: T, lossTokens: Ns } = s;
  const L = config.num_hidden_layers;
  const d = config.hidden_size;
  const V = config.vocab_size;
  const checkpointing = args.gradient_checkpointing === true;
  const wasm = transposesWeights(backendName);
  const full = lora === null;

  const shapes = [...parameterShapes(config).values()];
  const parameters = shapes.reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0);
  const largest = Math.max(...shapes.map((sh) => sh.reduce((x, y) => x * y, 1)));
  const loraParams = lora ? layerModules(config, lora).filter((m) => m.lora).reduce((a, m) => a + lora.r * (m.in + m.out), 0) * L : 0;
  // load_in_4bit (LoRA only) keeps the decoder's linear weights as 4-bit blocks on the host and
  // materializes one layer's floats at a time (quantized.ts).
  const layerLinear = layerModules(config, null).reduce((a, m) => a + m.in * m.out, 0);
  const fourBit = args.load_in_4bit === true && lora !== null && isLlama(config);
  const deviceParams = fourBit ? parameters - L * layerLinear + layerLinear : parameters;
  const weights = (deviceParams + loraParams) * F32;
  // wasm's matmul library (XNNPACK) keeps a packed copy of every matrix a product reads as its right
  // operand for as long as that tensor lives: the backward pass multiplies by each weight (and the
  // tied or untied head), so after the first step the linear weights are held twice.
  const linearWeights = (fourBit ? 0 : L * layerLinear) + V * d;
  const packed = wasm ? linearWeights * F32 : 0;
  const hostWeights = fourBit ? (parameters - L * layerLinear) * F32 + L * layerLinear * Q4_BYTES : parameters * F32;

  // Trainable state: AdamW's m and v, the step's gradients, and the running sum when accumulating.
  const trainable = (full ? parameters : loraParams) * F32;
  const accumulating = args.gradient_accumulation_steps > 1;
  const moments = 2 * trainable;
  const stepGrads = trainable * (accumulating ? 2 : 1);
  // The update itself: accumulated and clipped gradients, and one parameter's temporaries at a time
  // (optim.ts's AdamW holds ten of them until its tidy ends: the largest parameter's matter).
  const updatePeak = moments + 2 * trainable + (full ? 10 * largest * F32 : 0);

  const layer = layerFloats(config, lora, B, T, true);
  const normSaved = isLlama(config) ? 3 : 5;
  const normGrads = isLlama(config) ? 5 : 7;
  // The head: the selected rows' final norm, one chunk of logits at a time (ops.headCrossEntropy) and
  // their gradient; the full model's head weight gradient arrives twice when tied (as the head and as
  // the embedding's scatter).
  const chunk = Math.min(Ns, headChunkRows(V));
  const headSaved = normSaved * Ns * d + chunk * V + (full ? Ns * d : 0);
  const headGrads = B * T * d + normGrads * Ns * d + chunk * V + (full && config.tie_word_embeddings ? V * d : 0);
  // The loss's own backward, per chunk: softmax, one-hot, its float copy, their difference and the scaled result.
  const lossBackward = 5 * chunk * V + (wasm ? V * d : 0);
  const attentionBias = B * T * T;
  let layersSaved: number;
  let layersGrads: number;
  if (checkpointing) {
    // Each layer keeps only its input; the backward pass runs one layer again at a time (recompute.ts).
    layersSaved = L * layer.input + attentionBias;
    layersGrads = L * layer.input + layer.saved + layer.grads;
  } else {
    layersSaved = L * layer.saved + attentionBias;
    layersGrads = L * layer.grads;
  }
  const endOfBackward = (layersSaved + layersGrads + headSaved + headGrads) * F32;
  const lossMoment = (layersSaved + headSaved + lossBackward) * F32;
  const activationsAndLogits = Math.max(endOfBackward, lossMoment);
  const logits = endOfBackward >= lossMoment ? (headSaved + headGrads) * F32 : (headSaved + lossBackward) * F32;
  const activations = activationsAndLogits - logits;
  const backwardPeak = activationsAndLogits + moments + stepGrads;

  // Evaluation: a no-grad forward (its tidy keeps every op output until the loss is read), the
  // logits and the loss's temporaries (max-shifted logits and their exponentials).
  const ev = run.eval;
  const evalPeak = ev ? moments + (L * layerFloats(config, lora, ev.batch, ev.length, false).forward + ev.batch * ev.length ** 2 + Math.min(ev.lossTokens, headChunkRows(V)) * 3 * V + ev.lossTokens * 3 * d + (wasm ? V * d : 0)) * F32 : 0;
  // Sampling on wasm multiplies by weights transposed once per generation: a second copy of them, packed too.
  const samplingPeak = run.sampling ? moments + (wasm ? 2 * linearWeights * F32 : 0) + 2 * L * T * d * F32 : 0;

  const step = Math.max(backwardPeak, updatePeak);
  const phase: MemoryEstimate['phase'] = step >= evalPeak && step >= samplingPeak ? 'training step' : evalPeak >= samplingPeak ? 'evaluation' : 'sampling';
  const peak = Math.max(step, evalPeak, samplingPeak);
  const overhead = runtimeOverhead(weights + packed + peak, hostWeights, backendName);
  const total = weights + packed + peak + overhead;
  // The pieces of the peak: the backward pass's, the optimizer update's (full fine-tuning, short
  // rows), or evaluation's / sampling's.
  const loraBytes = loraParams * F32;
  const pieces =
    phase !== 'training step'
      ? { optimizer: loraBytes + moments, activations: peak - moments, logits: 0 }
      : backwardPeak >= updatePeak
        ? { optimizer: loraBytes + moments + stepGrads, activations, logits }
        : { optimizer: loraBytes + updatePeak, activations: 0, logits: 0 };
  return {
    total,
    weights: deviceParams * F32,
    ...pieces,
    packedWeights: packed,
    overhead,
    phase,
    shape: s,
    parameters,
    lora: lora !== null,
    checkpointing,
    backend: backendName,
  };
}

/**
 * Memory beyond the tensors, from test/bench/memoryEstimate.ts on SmolLM2-135M. wasm: the heap grows in
 * steps and fragments (LoRA 1 x 128: 2.29 GB of tensors and packed weights in a 2.68 GB heap after two
 * steps). Native: Node and TensorFlow's runtime (~300 MB), the checkpoint's host copy, which Node does
 * not give back at once after the upload, and TensorFlow's allocator's slack (LoRA 1 x 128 / 2 x 256 /
 * 1 x 512: 2.8 / 6.7 / 7.6 GB max RSS).
 */
function runtimeOverhead(tensors: number, hostWeights: number, backend: string): number {
  if (backend === 'wasm') return 0.2 * tensors;
  return 300 * 2 ** 20 + hostWeights + 0.15 * tensors;
}

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

  /** Estimates, logs the estimate (and a warning when close to the limit); throws OutOfMemoryError when over it. */
  static check(input: MemoryCheckInput, log: (line: string) => void, sources: LimitSources = {}): TrainingMemory {
    const train = largestBatch(input.train, input.args, input.maxLength);
    const evalShape = input.eval && input.eval.length > 0 ? largestBatch(input.eval, { per_device_train_batch_size: input.args.per_device_eval_batch_size, packing: false }, input.maxLength) : null;
    const run: RunShape = { train, eval: evalShape, sampling: input.sampling };
    const wasmUsed = input.backend === 'wasm' ? tf.memory().numBytes : 0;
    const limit = memoryLimit(input.backend, { wasmUsed, ...sources });
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
