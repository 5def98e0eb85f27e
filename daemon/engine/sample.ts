// Text generation: temperature, top-k and nucleus (top-p) sampling over many sequences at once with a
// KV cache (each new token costs one position per sequence), or without a cache (the whole sequence
// again per token; kept for the benchmark and as a cross-check of the cache). GRPO samples groups of
// completions per prompt, so the batch is the unit; `generate` is the batch of one.
import * as tf from '@tensorflow/tfjs-core';
import { canDecode, decodeStep, prepareDecode, type DecodeWeights } from './decode.ts';
import { disposeCache, emptyCache, forward, type ForwardInputs, type ForwardOptions, type LinearAdapter, type LlamaModel } from './model.ts';
import { transposedWeights } from './ops.ts';
import type { Rng } from './rng.ts';

export interface SampleOptions {
  maxNewTokens: number;
  /** <= 0 means greedy. */
  temperature: number;
  topP: number;
  /** Keep only the k most likely tokens (0 or absent: no limit). */
  topK?: number;
  stopIds: number[];
  rng: Rng;
  useCache?: boolean;
  adapter?: LinearAdapter;
  /** false: every token goes through `forward`, not decode.ts's fused step (the reference it is tested against). */
  fusedDecode?: boolean;
  /**
   * Keep the stop token that ends a row at the end of its ids (GRPO's completion_ids end with their EOS,
   * and a row without one was cut at maxNewTokens: truncated).
   */
  keepStop?: boolean;
}

/**
 * The probability threshold t such that the tokens with p >= t are the smallest set holding `topP` of
 * the mass, and at most `topK` tokens: two bisections over t, O(vocab) each halving, instead of
 * sorting the vocabulary for every token. Tokens tied at t are all kept.
 */
function keepThreshold(probs: Float32Array, total: number, topP: number, topK: number): number {
  let max = 0;
  for (const p of probs) max = Math.max(max, p);
  const countAbove = (t: number): [number, number] => {
    let mass = 0;
    let count = 0;
    for (const p of probs) {
      if (p >= t) {
        mass += p;
        count++;
      }
    }
    return [mass, count];
  };
  const close = (lo: number, hi: number) => hi - lo <= max * 1e-9;
  // Both mass and count shrink as t grows. The highest t that still keeps topP of the mass:
  let lo = 0;
  let hi = max;
  if (topP < 1) {
    if (countAbove(max)[0] >= topP * total) lo = max;
    for (let it = 0; it < 60 && !close(lo, hi); it++) {
      const mid = (lo + hi) / 2;
      if (countAbove(mid)[0] >= topP * total) lo = mid;
      else hi = mid;
    }
  }
  // Then, if that keeps more than topK tokens, the lowest t that keeps no more than topK.
  if (topK > 0 && countAbove(lo)[1] > topK) {
    hi = max;
    for (let it = 0; it < 60 && !close(lo, hi); it++) {
      const mid = (lo + hi) / 2;
      if (countAbove(mid)[1] <= topK) hi = mid;
      else lo = mid;
    }
    return hi;
  }
  return lo;
}

/** Picks a token id from logits with temperature, top-k and top-p, without sorting the vocabulary. */
export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng, topK = 0): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (!(temperature > 0) || topK === 1) return best;
  const max = logits[best]!;
  const probs = new Float32Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += probs[i] = Math.exp((logits[i]! - max) / temperature);
  const keep = topP >= 1 && topK <= 0 ? 0 : keepThreshold(probs, total, topP, topK);
  let kept = 0;
  for (const p of probs) if (p >= keep) kept += p;
  let r = rng.next() * kept;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! < keep) continue;
    r -= probs[i]!;
    if (r <= 0) return i;
  }
  return best;
}

/** Generates up to maxNewTokens after `prompt`; returns only the new ids (without the stop token). */
export function generate(model: LlamaModel, prompt: number[], opts: SampleOptions): number[] {
  return generateBatch(model, [prompt], opts)[0]!;
}

/**
 * Inputs of the pass that feeds the last T tokens of each left-padded row after `past` cached ones:
 * positions restart at 0 after each row's padding, and a row never attends to its padding (a padding
 * query sees itself only, to keep softmax finite). `select` picks each row's last position.
 */
export function stepInputs(seqs: number[][], pads: number[], T: number, past: number): ForwardInputs & { select: Int32Array } {
  const B = seqs.length;
  const S = past + T;
  const ids = new Int32Array(B * T);
  const positions = new Int32Array(B * T);
  const bias = new Float32Array(B * T * S).fill(-1e9);
  const select = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const seq = seqs[b]!;
    const start = seq.length - T; // the tokens this pass feeds
    for (let i = 0; i < T; i++) {
      const at = start + i; // absolute index in the padded sequence
      ids[b * T + i] = seq[at]!;
      positions[b * T + i] = Math.max(0, at - pads[b]!);
      const row = (b * T + i) * S;
      if (at < pads[b]!) {
        bias[row + at] = 0;
        continue;
      }
      for (let j = pads[b]!; j <= at; j++) bias[row + j] = 0;
    }
    select[b] = b * T + T - 1;
  }
  return { batch: B, length: T, ids, positions, bias, select };
}

/**
 * Generates after each prompt in one batch (prompts left-padded to a common length; padding is masked
 * out of attention and positions restart at 0 per row, so each row equals generating it alone).
 * Returns the new ids of each row, without its stop token.
 */
export function generateBatch(model: LlamaModel, prompts: number[][], opts: SampleOptions): number[][] {
  const tokens = batchTokens(model, prompts, opts);
  for (;;) {
    const next = tokens.next();
    if (next.done) return next.value;
  }
}

/**
 * generateBatch that lets the event loop run between tokens (every `sliceMs` or so), so a stop request
 * reaching the run's process is seen mid-generation: then it stops, frees what it held and returns null.
 */
export async function generateBatchAsync(model: LlamaModel, prompts: number[][], opts: SampleOptions, signal: AbortSignal, sliceMs = 200): Promise<number[][] | null> {
  if (signal.aborted) return null;
  const tokens = batchTokens(model, prompts, opts);
  let since = performance.now();
  for (;;) {
    const next = tokens.next();
    if (next.done) return next.value;
    if (performance.now() - since < sliceMs) continue;
    await new Promise((r) => setImmediate(r));
    since = performance.now();
    if (signal.aborted) {
      tokens.return([]);
      return null;
    }
  }
}

/** generateBatch one token at a time: yields after each token of the batch, returns the rows' new ids. */
function* batchTokens(model: LlamaModel, prompts: number[][], opts: SampleOptions): Generator<void, number[][]> {
  const limit = model.config.max_position_embeddings;
  const B = prompts.length;
  const rows = prompts.map((p) => p.slice(-Math.max(1, limit - 1)));
  const width = Math.max(...rows.map((r) => r.length));
  const pads = rows.map((r) => width - r.length);
  const outs: number[][] = rows.map(() => []);
  const done = rows.map(() => false);
  const useCache = opts.useCache !== false;
  const cache = useCache ? emptyCache(model.config) : null;
  // Inference needs no gradient: backends that multiply fast only without transpose flags (wasm) get
  // each weight transposed once for the whole generation instead of once per token.
  let transposed = transposedWeights(model);
  const fwd: ForwardOptions = { cache: cache ?? undefined, adapter: opts.adapter, transposed: transposed ?? undefined };
  // After the prompt, one token per row goes through decode.ts's fused step (Llama family).
  const fused = cache !== null && opts.fusedDecode !== false && canDecode(model, opts.adapter);
  let decode: DecodeWeights | null = null;
  const steps = Math.min(opts.maxNewTokens, limit - width);
  // Every row's sequence so far, left-padded (pad id 0 is never attended to).
  const seqs = rows.map((r, b) => [...new Array<number>(pads[b]!).fill(0), ...r]);
  const padded = pads.some((p) => p > 0);
  try {
    for (let n = 0; n < steps && !done.every(Boolean); n++) {
      const past = cache ? cache.length : 0;
      const T = cache && n > 0 ? 1 : width + n;
      const inputs = stepInputs(seqs, pads, T, past);
      if (fused && n > 0 && !decode) {
        // The prompt is through: the fused step takes over the transposed copies (reusing what it can).
        decode = prepareDecode(model, opts.adapter, transposed);
        transposed = null;
      }
      const z = tf.tidy(() =>
        decode && cache
          ? decodeStep(model, decode, cache, { batch: B, ids: inputs.ids, positions: inputs.positions, bias: padded ? inputs.bias : null })
          : forward(model, inputs, { ...fwd, select: inputs.select }),
      );
      // Read outside tidy: tidy walks a returned typed array element by element looking for tensors.
      const logits = z.dataSync() as Float32Array;
      z.dispose();
      const vocab = logits.length / B;
      for (let b = 0; b < B; b++) {
        // A finished row keeps feeding a token (the batch moves together) but records nothing more.
        const next = done[b] ? 0 : pickToken(logits.subarray(b * vocab, (b + 1) * vocab), opts.temperature, opts.topP, opts.rng, opts.topK ?? 0);
        if (!done[b] && opts.stopIds.includes(next)) {
          done[b] = true;
          if (opts.keepStop) outs[b]!.push(next);
        } else if (!done[b]) outs[b]!.push(next);
        seqs[b]!.push(next);
      }
      yield;
    }
  } finally {
    if (cache) disposeCache(cache);
    if (transposed) for (const t of transposed.values()) t.dispose();
    decode?.dispose();
  }
  return outs;
}
