// How much memory a training step needs (estimateTrainingMemory), counted from what tfjs keeps;
// memory.ts compares it with what the backend can have and says what to lower.
//
//
// The estimate follows what tfjs actually keeps, counted op by op from model.ts's and gpt2.ts's
// forward passes (see layerFloats) under two tfjs rules:
//  - autodiff keeps every tensor an op saves for its gradient (clones share memory) until the whole
//    backward pass ends, and
//  - the backward pass keeps every gradient it computes until it ends too: each op's input gradient
//    that is a new tensor (not a reshape/add pass-through) stays, and a tensor read by k ops has k
//    gradient tensors (k-1 partial sums were added into a running total that stays as well), except
//    that an op written with ops.custom frees its output's gradient once it has used it.
// Checked exactly against the wasm allocator (malloc/free wrapped) on tiny Llama models, one dimension
// varied at a time (d, intermediate size, T, layers, kv heads; test/unit/engine/memory.test.ts): the
// step's allocations within -1% / +5% for LoRA and full fine-tuning (the layer ops of layerOps.ts
// counted as what they save). On SmolLM2-135M (test/bench/memoryEstimate.ts, LoRA r16 all-linear
// without dropout, loss on every position) the whole estimate against the process's peak:
//   wasm heap   LoRA 1x128 2.2 GB / 2.1 est., 2x128 2.9 / 2.9
//   native RSS  LoRA 1x128 2.0 / 1.9, 2x256 2.9 / 2.9, 4x512 7.5 / 7.6; full 1x128 4.9 / 4.9
//   native RSS with LoRA layers as graphs (layerGraph.ts): 1x128 2.1 / 1.9, 2x256 2.8 / 2.7, 4x512 6.1 / 6.3
// (Earlier figures, before the fused layer ops: GPT-2 LoRA 8.40/8.32 MB and full 5.58/5.44 per layer,
// LoRA dropout's extra 2.867/2.867, a no-grad forward 2.985/2.982.)
import type { LoraConfig, TrainingArguments } from '../../core/recipe/types.ts';
import type { Example } from './data.ts';
import { targetModules } from './lora.ts';
import { extras, headDim, parameterShapes, type LlamaConfig, type ModelConfig } from './modelConfig.ts';
import { headChunkRows } from './headOps.ts';

const F32 = 4;
export const GB = 2 ** 30;
/** The wasm backend's heap can grow to 4 GiB minus one 64 KiB page (wasm32; Emscripten's getHeapMax). */
export const WASM_HEAP_MAX = 4 * GB - 65536;
/** Environment override of the memory limit, in MiB: for tests and for machines whose limit we cannot see. */
export const MEMORY_LIMIT_ENV = 'ANNEAL_MEMORY_LIMIT_MB';
/** Above this fraction of the limit the run starts with a warning. */
export const WARN_FRACTION = 0.8;

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
  /** Temporaries of one layer's backward pass, alive only inside it (Llama's attention scores' gradients). */
  transient: number;
}

export function isLlama(c: ModelConfig): c is LlamaConfig {
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
function layerFloats(c: ModelConfig, lora: LoraConfig | null, batch: number, length: number, training: boolean, fusedLora: boolean, graphs = false): LayerFloats {
  const N = batch * length;
  const d = c.hidden_size;
  const X = N * d;
  const A = batch * c.num_attention_heads * length * length;
  const R = lora ? N * lora.r : 0;
  const dropout = training && lora !== null && lora.dropout > 0;
  const full = lora === null;
  if (graphs && isLlama(c)) return graphLayerFloats(c, lora!, N, X, A, R, layerFloats(c, lora, batch, length, training, fusedLora).forward);
  let saved: number;
  let grads: number;
  let forward: number;
  let transient = 0;
  // Inputs the base counts already keep (GPT-2's attention context is saved by its reshape).
  const keptAnyway = new Set<string>();
  const inputSize = new Map<string, number>();
  if (isLlama(c)) {
    const hd = headDim(c);
    const Q = N * c.num_attention_heads * hd;
    const K = N * c.num_key_value_heads * hd;
    const F = N * c.intermediate_size;
    // Kept (tfjs's add keeps both inputs): the two residual adds' inputs (4X) and each norm's
    // normalized input (2X; layerOps.rmsNorm); RoPE's two tables, saved per use (2Q, 2K: copies on
    // wasm, shared elsewhere); layerOps.attention's head-major q, k, v (Q + 2K) and probabilities (A);
    // layerOps.swiglu's gate, up and sigmoid (3F). The attention context is counted as o_proj's input.
    saved = 6 * X + 3 * Q + 4 * K + 3 * F + A;
    // Gradients kept to the end of the backward pass. An op written with ops.custom frees its output's
    // gradient once it has used it, so what stays is what tfjs ops read: the two residual adds' output
    // gradients and the norms' input gradients added into them (4X); readers are counted below.
    grads = 4 * X;
    // Inside attention's backward: the probabilities' gradient, its product with them and the scores'.
    transient = 3 * A;
    // A no-grad forward (evaluation) keeps every op output until its tidy ends (the fused ops' insides
    // excepted): norms, residual sums and projections (6X), RoPE's outputs, the context and the
    // reshapes' copies (3.5Q + 4.5K), SwiGLU's inputs and product (3F); one layer's scores at a time,
    // counted as A per layer.
    forward = 6 * X + 3.5 * Q + 4.5 * K + 3 * F + A;
    if (extras(c).qkNorm) {
      // Qwen3's per-head norms: the projection's output and the normalized heads (kept by the reshapes
      // around the norm); the reshape after the norm keeps its output's gradient.
      saved += 2 * (Q + K);
      grads += Q + K;
      forward += 2 * (Q + K);
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
    keptAnyway.add('ctx');
  }
  // Each projection: a LoRA module built from tfjs ops (wasm, GPT-2) keeps its base product, B's
  // output and the scaled delta (3 out), the rank-r product, and the gradient of its output (the add
  // of base and delta is a tfjs op); its input gets a gradient from the frozen product and one from A.
  // Fused (ops.linearLora, Llama off wasm) it keeps only the scaled rank-r product and gives its input
  // one gradient. Dropout keeps its mask and the dropped input (2 in) and computes one more input
  // gradient. k readers of an input leave k gradient tensors: k - 1 partial
  // ones and their sum, which Llama's inputs hand to an op that frees it (a norm, attention, SwiGLU).
  const readers = new Map<string, number>();
  const trainedInput = new Set<string>();
  const fused = fusedLora && isLlama(c);
  for (const m of layerModules(c, lora)) {
    const O = N * m.out;
    const In = N * m.in;
    readers.set(m.input, (readers.get(m.input) ?? 0) + 1 + (m.lora && !fused ? 1 : 0));
    if (m.lora || full) trainedInput.add(m.input);
    if (m.bias && isLlama(c)) saved += O; // the product before the bias (GPT-2's count includes it)
    if (m.lora) {
      if (fused) saved += R;
      else {
        saved += 3 * O + 2 * R;
        grads += isLlama(c) ? O : O + R;
        forward += 3 * O + R;
      }
      if (dropout) {
        saved += 2 * In; // the mask and the dropped input (lora.ts's dropoutMask)
        grads += In;
      }
    }
  }
  for (const [input, k] of readers) grads += (isLlama(c) ? k - 1 : k) * inputSize.get(input)!;
  for (const input of trainedInput) if (!keptAnyway.has(input)) saved += inputSize.get(input)!;
  return { saved, grads, forward, input: X, transient };
}

/**
 * A LoRA layer run as TensorFlow graphs (layerGraph.ts): it keeps only what its forward graph returns
 * for the backward graph, and the graphs' own intermediates live inside one graph run. Kept: both
 * norms' normalized inputs and factors (2X + 2N), the head-major q, k, v and the probabilities
 * (Q + 2K + A), SwiGLU's gate, up and sigmoid (3F), each adapted module's scaled rank-r product (R)
 * and its input (once per input shared by several modules; dropout's masks are drawn again from their
 * seeds in the backward graph, so they cost nothing here). Gradients between graphs: the layer's output and input gradients (2X). Inside the
 * backward graph at its peak: the probabilities' and scores' gradients and SwiGLU's two (2A + 2F).
 * A no-grad forward runs the same graph and keeps what the op-by-op forward would (`forward`).
 */
function graphLayerFloats(c: LlamaConfig, lora: LoraConfig, N: number, X: number, A: number, R: number, forward: number): LayerFloats {
  const hd = headDim(c);
  const Q = N * c.num_attention_heads * hd;
  const K = N * c.num_key_value_heads * hd;
  const F = N * c.intermediate_size;
  let saved = 2 * X + 2 * N + Q + 2 * K + A + 3 * F;
  // Qwen3's head norms keep their normalized heads and factors.
  if (extras(c).qkNorm) saved += Q + K + N * (c.num_attention_heads + c.num_key_value_heads);
  const inputsKept = new Set<string>();
  for (const m of layerModules(c, lora)) {
    if (!m.lora) continue;
    saved += R;
    if (!inputsKept.has(m.input)) {
      inputsKept.add(m.input);
      saved += N * m.in;
    }
  }
  return { saved, grads: 2 * X, forward, input: X, transient: 2 * A + 2 * F };
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
export function defaultShape(config: ModelConfig, args: MemoryArgs): BatchShape {
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

  // ops.linearLora runs where lora.ts chooses it: off wasm, on float weights (not 4-bit blocks).
  const fusedLora = !wasm && !fourBit;
  // Where model.ts runs LoRA layers as TensorFlow graphs (graphLayerInputs): native, float weights.
  const graphs = backendName === 'tensorflow' && lora !== null && !fourBit && isLlama(config) && process.env.ANNEAL_LAYER_GRAPHS !== '0';
  const layer = layerFloats(config, lora, B, T, true, fusedLora, graphs);
  // The final norm: Llama's keeps its normalized input and leaves one input gradient (layerOps.rmsNorm);
  // GPT-2's LayerNorm is a composition of tfjs ops.
  const normSaved = isLlama(config) ? 1 : 5;
  const normGrads = isLlama(config) ? 1 : 7;
  // The head: the selected rows' final norm, one chunk of logits at a time (headOps.headCrossEntropy) and
  // their gradient; the full model's head weight gradient arrives twice when tied (as the head and as
  // the embedding's scatter).
  const chunk = Math.min(Ns, headChunkRows(V));
  const headSaved = normSaved * Ns * d + chunk * V + (full ? Ns * d : 0);
  const headGrads = B * T * d + normGrads * Ns * d + chunk * V + (full && config.tie_word_embeddings ? V * d : 0);
  // The loss's own backward, per chunk: softmax, one-hot, its float copy, their difference and the scaled result.
  const lossBackward = 5 * chunk * V + (wasm ? V * d : 0);
  // Llama's bias is laid out as the scores are, once per pass: a copy per query head (model.ts).
  const attentionBias = B * T * T * (isLlama(config) ? config.num_attention_heads : 1);
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
  const endOfBackward = (layersSaved + layersGrads + layer.transient + headSaved + headGrads) * F32;
  const lossMoment = (layersSaved + headSaved + lossBackward) * F32;
  const activationsAndLogits = Math.max(endOfBackward, lossMoment);
  const logits = endOfBackward >= lossMoment ? (headSaved + headGrads) * F32 : (headSaved + lossBackward) * F32;
  const activations = activationsAndLogits - logits;
  const backwardPeak = activationsAndLogits + moments + stepGrads;

  // Evaluation: a no-grad forward (its tidy keeps every op output until the loss is read), the
  // logits and the loss's temporaries (max-shifted logits and their exponentials).
  const ev = run.eval;
  const evalPeak = ev ? moments + (L * layerFloats(config, lora, ev.batch, ev.length, false, fusedLora).forward + ev.batch * ev.length ** 2 + Math.min(ev.lossTokens, headChunkRows(V)) * 3 * V + ev.lossTokens * 3 * d + (wasm ? V * d : 0)) * F32 : 0;
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

