// One measurement of the engine on the real SmolLM2-135M-Instruct (GGUF, dequantized to fp32), run in a
// process of its own so its peak memory is its own:
//   node --import tsx realModel.ts BACKEND CASE B T [checkpoint] [reps=N] [model=qwen2.5-0.5b]
// CASE: forward | lora | full (one AdamW step as the SFT loop takes it; the loss covers every position) | generate (greedy, T new
// tokens with the KV cache, no stop token; B is ignored) | matmul (one B x B x B tf.matMul: the
// backend's own ceiling). checkpoint: lora/full recompute each layer in the backward pass
// (ForwardOptions.checkpointLayers). reps: repetitions (default 4 forward, 3 lora/full, 2 generate, 5
// matmul); the first warms kernels up and is not counted unless it is the only one.
// model=qwen2.5-0.5b: instead of SmolLM2, random weights in Qwen2.5-0.5B's shapes (issue #7's memory
// target: LoRA on a 0.5B Qwen2.5-shaped model within 24 GB); no tokenizer, so not for `generate`.
// lora/full also print the memory estimator's figure for the same setup (daemon/engine/memory.ts).
// Threads come from the environment: ANNEAL_WASM_THREADS for wasm, TF_NUM_INTRAOP_THREADS and
// TF_NUM_INTEROP_THREADS for tensorflow (TensorFlow reads them when its context starts; unset, it
// uses one thread per core in each pool).
// Prints one JSON line: tokens/s (or GFLOP/s), the CPU cores the timed repetitions kept busy, the
// process's OS threads, and peak memory; on failure one JSON line {"error": ...} and exit code 1.
// realModel.bench.ts runs the cases side by side with PyTorch (torchReference.py) and prints the ratios.
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../daemon/engine/backend.ts';
import { loadGgufSource } from '../../daemon/engine/gguf.ts';
import { LoraAdapter } from '../../daemon/engine/lora.ts';
import { estimateTrainingMemory } from '../../daemon/engine/memory.ts';
import { causalBias, createModel, forward, normalizeConfig, ownedVariable, parameterShapes, type LlamaModel } from '../../daemon/engine/model.ts';
import { headCrossEntropy } from '../../daemon/engine/headOps.ts';
import { AdamW } from '../../daemon/engine/optim.ts';
import { Rng } from '../../daemon/engine/rng.ts';
import { generate } from '../../daemon/engine/sample.ts';
import { DEFAULT_LORA, defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import { smollm2Gguf } from '../helpers/realModels.ts';
import { QWEN25_05B } from './qwenShapes.ts';

export type Case = 'forward' | 'lora' | 'full' | 'generate' | 'matmul';

/**
 * A model in `raw`'s shapes with random weights, made on the device one tensor at a time (no host copy
 * of the whole model, so the peak is the engine's): HF's init, N(0, 0.02) linears, norms 1, biases 0.
 */
function randomModel(raw: Record<string, unknown>, trainable: boolean): LlamaModel {
  const config = normalizeConfig(raw);
  const params = new Map<string, tf.Variable>();
  let seed = 1;
  for (const [name, shape] of parameterShapes(config)) {
    const t = name.endsWith('norm.weight') ? tf.ones(shape) : name.endsWith('.bias') ? tf.zeros(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', seed++);
    params.set(name, ownedVariable(t, trainable));
  }
  return { config, params };
}

const DEFAULT_REPS: Record<Case, number> = { forward: 4, lora: 3, full: 3, generate: 2, matmul: 5 };

/** Peak bytes: the wasm heap (it only grows) or the process's max resident set; and that max RSS either way. */
function peakBytes(): { peak: number; kind: string; maxRSS: number } {
  const maxRSS = process.resourceUsage().maxRSS * 1024;
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  if (wasm) return { peak: wasm.HEAPU8.buffer.byteLength, kind: 'wasm heap', maxRSS };
  return { peak: maxRSS, kind: 'max RSS', maxRSS };
}

/** The process's OS threads (Linux), which shows the size of TensorFlow's or wasm's thread pools. */
function osThreads(): number | undefined {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const [backend, what, b, t, ...extra] = process.argv.slice(2) as [string, Case, string, string, ...string[]];
  const checkpointLayers = extra.includes('checkpoint');
  const modelArg = extra.find((a) => a.startsWith('model='))?.slice(6) ?? 'smollm2-135m';
  if (modelArg !== 'smollm2-135m' && modelArg !== 'qwen2.5-0.5b') throw new Error(`model=${modelArg}: use smollm2-135m or qwen2.5-0.5b`);
  const repsArg = extra.find((a) => a.startsWith('reps='));
  const reps = repsArg ? Number(repsArg.slice(5)) : DEFAULT_REPS[what];
  const B = Number(b);
  const T = Number(t);
  if (!(what in DEFAULT_REPS) || !(B > 0) || !(T >= 0) || !(reps >= 1)) {
    throw new Error(`usage: realModel.ts BACKEND ${Object.keys(DEFAULT_REPS).join('|')} B T [checkpoint] [reps=N]`);
  }
  const report = await selectBackend(backend);
  const timings: number[] = [];
  const cpuMs: number[] = [];
  const time = (f: () => void) => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    f();
    timings.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpuMs.push((used.user + used.system) / 1000);
  };
  let extraFields: Record<string, unknown> = {};

  if (what === 'matmul') {
    const x = tf.randomNormal([B, B]);
    const y = tf.randomNormal([B, B]);
    for (let i = 0; i < reps; i++) time(() => tf.tidy(() => tf.matMul(x, y).dataSync()[0]));
  } else {
    const source = modelArg === 'smollm2-135m' ? await loadGgufSource(smollm2Gguf()) : null;
    if (!source && what === 'generate') throw new Error(`model=${modelArg} has no tokenizer; generate runs on SmolLM2 only`);
    const model = source ? createModel(source.config, source.weights, what === 'full') : randomModel(QWEN25_05B, what === 'full');
    source?.weights.clear();
    const rng = new Rng(7);
    const ids = Int32Array.from({ length: B * T }, () => 100 + Math.floor(rng.next() * 40000));
    const positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
    const bias = causalBias(new Int32Array(B * T).fill(1), B, T);
    const inputs = { batch: B, length: T, ids, positions, bias };

    if (what === 'forward') {
      for (let i = 0; i < reps; i++) time(() => tf.tidy(() => forward(model, inputs).dataSync()[0]));
    } else if (what === 'generate') {
      const prompt = source!.tokenizer.encodePrompt('What is the capital of France? Answer in one sentence.');
      let out: number[] = [];
      for (let i = 0; i < reps; i++) {
        time(() => {
          out = generate(model, prompt, { maxNewTokens: T, temperature: 0, topP: 1, stopIds: [], rng: new Rng(1) });
        });
      }
      // The prompt goes to PyTorch as ids, so both sides prefill the same tokens.
      extraFields = { promptIds: prompt, generated: out.length, text: source!.tokenizer.decode(out) };
    } else {
      const lora = what === 'lora' ? new LoraAdapter(model, { ...DEFAULT_LORA, dropout: 0 }, 1) : null;
      const trainable = lora ? lora.params : model.params;
      const optimizer = new AdamW(trainable, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
      const labels = tf.tensor1d(Int32Array.from({ length: B * T }, (_, i) => ids[(i + 1) % (B * T)]!), 'int32');
      const weights = tf.fill([B * T], 1 / (B * T)) as tf.Tensor1D;
      const allPositions = Int32Array.from({ length: B * T }, (_, i) => i);
      let loss = NaN;
      for (let i = 0; i < reps; i++) {
        time(() => {
          const { value, grads } = tf.variableGrads(
            // As the SFT loop's batchLoss: the positions with loss (all of them here) through forward's
            // lossHead, which never holds all the logits at once.
            () =>
              forward(model, inputs, {
                adapter: lora ?? undefined,
                frozenBase: lora !== null,
                checkpointLayers,
                select: allPositions,
                lossHead: (hidden, head) => headCrossEntropy(hidden, head, labels, weights, 'nll'),
              }) as tf.Tensor as tf.Scalar,
            [...trainable.values()],
          );
          loss = value.dataSync()[0]!;
          const named = new Map([...trainable].map(([name, v]) => [name, grads[v.name]!]));
          optimizer.apply(named, 1e-4);
          value.dispose();
          for (const g of Object.values(grads)) g.dispose();
        });
      }
      // The estimator's figure for the same setup: batch B x T, loss on every position, no accumulation.
      const args = { ...defaultTrainingArguments('sft'), per_device_train_batch_size: B, max_length: T, gradient_accumulation_steps: 1, gradient_checkpointing: checkpointLayers };
      const estimate = estimateTrainingMemory(model.config, args, lora ? lora.config : null, backend, { train: { batch: B, length: T, lossTokens: B * T } });
      extraFields = { loss, estimate: estimate.total };
    }
  }
  // The first repetition warms kernels and caches up; the median of the rest is the figure.
  const counted = timings.length > 1 ? timings.slice(1) : timings;
  const ms = [...counted].sort((x, y) => x - y)[Math.floor(counted.length / 2)]!;
  const busy = cpuMs.slice(timings.length - counted.length).reduce((s, x) => s + x, 0) / counted.reduce((s, x) => s + x, 0);
  const rate = what === 'matmul' ? { gflops: (2 * B ** 3) / ms / 1e6 } : { tokensPerSecond: ((what === 'generate' ? T : B * T) / ms) * 1000 };
  console.log(
    JSON.stringify({
      backend,
      device: report.device,
      model: modelArg,
      what,
      B,
      T,
      checkpointLayers,
      reps,
      ...rate,
      msPerRep: timings.map((x) => Math.round(x)),
      // CPU time per repetition: on a shared machine a steadier measure of the work than wall time.
      cpuMsPerRep: cpuMs.map((x) => Math.round(x)),
      cores: Number(busy.toFixed(2)),
      osThreads: osThreads(),
      ...peakBytes(),
      ...extraFields,
    }),
  );
}

main().catch((e) => {
  console.error((e as Error).stack ?? e);
  const message = e instanceof Error ? e.message : String(e);
  console.log(JSON.stringify({ error: message.split('\n')[0] }));
  process.exit(1);
});
