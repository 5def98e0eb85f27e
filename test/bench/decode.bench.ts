// Greedy decoding of the real SmolLM2-135M-Instruct through decode.ts's fused step against the generic
// path (`forward` with the KV cache, fusedDecode: false), on native TensorFlow and on wasm (one thread),
// each backend in a process of its own: kernels per decoded token, the decode step's time (median of
// steps alternating between the two paths, so both see the same machine), and generate's tokens/s for
// 32 new tokens (prompt, preparation and decoding; as realModel.ts measures it). Prints figures;
// asserts nothing. Run: npm run bench -- decode
//
// Kernels: on native TensorFlow, the TensorFlow ops the backend executes (counted at its
// executeSingleOutput/executeMultipleOutputs, which both tfjs-core's kernels and nativeOps.ts call);
// elsewhere, the kernels tf.profile sees.
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../daemon/engine/backend.ts';
import { decodeStep, prepareDecode } from '../../daemon/engine/decode.ts';
import { loadGgufSource } from '../../daemon/engine/gguf.ts';
import { createModel, disposeCache, emptyCache, forward, type LlamaModel } from '../../daemon/engine/model.ts';
import { transposedWeights } from '../../daemon/engine/ops.ts';
import { Rng } from '../../daemon/engine/rng.ts';
import { generate, stepInputs } from '../../daemon/engine/sample.ts';
import { smollm2Gguf } from '../helpers/realModels.ts';

const PROMPT = 'What is the capital of France? Answer in one sentence.';

type Path = 'generic' | 'fused';

/** Counts the TensorFlow ops the native backend runs while `counting` is set; null elsewhere. */
function nativeCounter(): { counts: Map<string, number>; set(on: boolean): void } | null {
  const be = tf.backend() as unknown as Record<string, unknown>;
  if (tf.getBackend() !== 'tensorflow' || typeof be.executeSingleOutput !== 'function') return null;
  const counts = new Map<string, number>();
  let on = false;
  for (const method of ['executeSingleOutput', 'executeMultipleOutputs']) {
    const original = (be[method] as (...a: unknown[]) => unknown).bind(be);
    be[method] = (name: string, ...rest: unknown[]) => {
      if (on) counts.set(name, (counts.get(name) ?? 0) + 1);
      return original(name, ...rest);
    };
  }
  return { counts, set: (v) => (on = v) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(backend: string): Promise<void> {
  const report = await selectBackend(backend);
  const source = await loadGgufSource(smollm2Gguf());
  const model: LlamaModel = createModel(source.config, source.weights, false);
  source.weights.clear();
  const prompt = source.tokenizer.encodePrompt(PROMPT);
  const counter = nativeCounter();

  // One cache per path, both prefilled by forward, then decoded step by step, alternating.
  const seqs = [[...prompt]];
  const caches = { generic: emptyCache(model.config), fused: emptyCache(model.config) };
  const transposed = transposedWeights(model);
  const prefill = stepInputs(seqs, [0], prompt.length, 0);
  for (const cache of Object.values(caches)) tf.tidy(() => void forward(model, prefill, { cache, transposed: transposed ?? undefined }).dataSync());
  const genericCopies = transposedWeights(model); // the generic path keeps its own; the fused step takes these over
  const weights = prepareDecode(model, undefined, transposed);
  const run = (path: Path, inp: ReturnType<typeof stepInputs>) =>
    tf.tidy(() =>
      path === 'fused'
        ? decodeStep(model, weights, caches.fused, { batch: 1, ids: inp.ids, positions: inp.positions, bias: null })
        : forward(model, inp, { cache: caches.generic, select: inp.select, transposed: genericCopies ?? undefined }),
    );
  const kernels: Record<Path, number> = { generic: 0, fused: 0 };
  const byOp: Record<Path, Record<string, number>> = { generic: {}, fused: {} };
  const ms: Record<Path, number[]> = { generic: [], fused: [] };
  for (let i = 0; i < 24; i++) {
    seqs[0]!.push(100 + i);
    const inp = stepInputs(seqs, [0], 1, caches.generic.length);
    for (const path of ['generic', 'fused'] as const) {
      if (i === 3) {
        // Counted on a step of its own (profiling slows it down).
        if (counter) {
          counter.counts.clear();
          counter.set(true);
          run(path, inp).dispose();
          counter.set(false);
          byOp[path] = Object.fromEntries(counter.counts);
        } else {
          const prof = await tf.profile(() => void run(path, inp).dispose());
          // 'unnamed scope' entries are custom-gradient wrappers, not kernels.
          for (const k of prof.kernels) if (k.name !== 'unnamed scope') byOp[path][k.name] = (byOp[path][k.name] ?? 0) + 1;
        }
        kernels[path] = Object.values(byOp[path]).reduce((a, b) => a + b, 0);
        continue;
      }
      const start = performance.now();
      const z = run(path, inp);
      z.dataSync();
      z.dispose();
      if (i > 3) ms[path].push(performance.now() - start);
    }
  }
  weights.dispose();
  if (genericCopies) for (const t of genericCopies.values()) t.dispose();
  for (const cache of Object.values(caches)) disposeCache(cache);

  const tps: Record<Path, number[]> = { generic: [], fused: [] };
  for (let r = 0; r < 3; r++) {
    for (const path of ['generic', 'fused'] as const) {
      const start = performance.now();
      generate(model, prompt, { maxNewTokens: 32, temperature: 0, topP: 1, stopIds: [], rng: new Rng(1), fusedDecode: path === 'fused' });
      if (r > 0) tps[path].push(32000 / (performance.now() - start));
    }
  }
  for (const path of ['generic', 'fused'] as const) {
    console.log(
      JSON.stringify({
        backend,
        device: report.device,
        path,
        kernelsPerToken: kernels[path],
        stepMs: +median(ms[path]).toFixed(1),
        generateTokensPerSecond: +median(tps[path]).toFixed(2),
        ops: byOp[path],
      }),
    );
  }
}

const backend = process.argv[2];
if (backend) {
  measure(backend).catch((e) => {
    console.error((e as Error).stack ?? e);
    process.exit(1);
  });
} else {
  for (const b of ['tensorflow', 'wasm']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, b], {
      stdio: 'inherit',
      env: { ...process.env, ANNEAL_WASM_THREADS: process.env.ANNEAL_WASM_THREADS ?? '1', TF_CPP_MIN_LOG_LEVEL: '2' },
    });
    if (r.status !== 0) console.log(`${b}: not measured (exit ${r.status})`);
  }
}
