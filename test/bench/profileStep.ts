// Where a training step's (or a forward's) time goes, kernel by kernel, on SmolLM2-135M:
//   node --import tsx test/bench/profileStep.ts BACKEND lora|forward B T [TOP]
// Runs the case twice to warm up, then once under tf.profile, and prints the wall time, the sum of the
// kernels' own times (on native TensorFlow each kernel runs synchronously on the calling thread, so its
// time is TensorFlow's work plus the N-API call), the rest (tfjs-core's bookkeeping, the tape, our
// JavaScript), and the kernels grouped by name and by name and input shapes, largest first.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../daemon/engine/backend.ts';
import { loadGgufSource } from '../../daemon/engine/gguf.ts';
import { LoraAdapter } from '../../daemon/engine/lora.ts';
import { causalBias, createModel, forward } from '../../daemon/engine/model.ts';
import { headCrossEntropy } from '../../daemon/engine/headOps.ts';
import { AdamW } from '../../daemon/engine/optim.ts';
import { Rng } from '../../daemon/engine/rng.ts';
import { DEFAULT_LORA } from '../../core/recipe/defaults.ts';
import { smollm2Gguf } from '../helpers/realModels.ts';

const MATMULS = new Set(['BatchMatMul', '_FusedMatMul', 'MatMul']);

async function main(): Promise<void> {
  const [backend = 'tensorflow', what = 'lora', b = '2', t = '128', top = '40'] = process.argv.slice(2);
  await selectBackend(backend);
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
  const B = Number(b);
  const T = Number(t);
  const source = await loadGgufSource(smollm2Gguf());
  const model = createModel(source.config, source.weights, false);
  source.weights.clear();
  const rng = new Rng(7);
  const ids = Int32Array.from({ length: B * T }, () => 100 + Math.floor(rng.next() * 40000));
  const inputs = { batch: B, length: T, ids, positions: Int32Array.from({ length: B * T }, (_, i) => i % T), bias: causalBias(new Int32Array(B * T).fill(1), B, T) };
  const lora = new LoraAdapter(model, { ...DEFAULT_LORA, dropout: 0 }, 1);
  const optimizer = new AdamW(lora.params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
  const labels = tf.tensor1d(Int32Array.from({ length: B * T }, (_, i) => ids[(i + 1) % (B * T)]!), 'int32');
  const weights = tf.fill([B * T], 1 / (B * T)) as tf.Tensor1D;
  const select = Int32Array.from({ length: B * T }, (_, i) => i);
  const run = () => {
    if (what === 'forward') return tf.tidy(() => forward(model, inputs).dataSync()[0]);
    const { value, grads } = tf.variableGrads(
      () => forward(model, inputs, { adapter: lora, frozenBase: true, select, lossHead: (h, head) => headCrossEntropy(h, head, labels, weights, 'nll') }) as tf.Tensor as tf.Scalar,
      [...lora.params.values()],
    );
    value.dataSync();
    optimizer.apply(new Map([...lora.params].map(([n, v]) => [n, grads[v.name]!])), 1e-4);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
  };
  for (let i = 0; i < 2; i++) run();
  const start = performance.now();
  const profile = await tf.profile(() => {
    run();
  });
  const wall = performance.now() - start;
  const byName = new Map<string, { n: number; ms: number }>();
  const byShape = new Map<string, { n: number; ms: number }>();
  let kernelMs = 0;
  for (const k of profile.kernels) {
    const ms = k.kernelTimeMs as number;
    // A custom gradient's forward runs as a kernel named "forward" around the kernels inside it.
    if (k.name !== 'forward') kernelMs += ms;
    const add = (m: Map<string, { n: number; ms: number }>, key: string) => {
      const e = m.get(key) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += ms;
      m.set(key, e);
    };
    add(byName, k.name);
    add(byShape, `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join(' ')}`);
  }
  const matmulMs = [...byName].filter(([n]) => MATMULS.has(n)).reduce((s, [, e]) => s + e.ms, 0);
  console.log(`${backend} ${what} ${B}x${T}: wall ${wall.toFixed(0)} ms (under the profiler), ${profile.kernels.length} kernels summing to ${kernelMs.toFixed(0)} ms; matmul ${matmulMs.toFixed(0)} ms (${((100 * matmulMs) / kernelMs).toFixed(0)}% of kernel time), the rest of the wall time outside kernels ${(wall - kernelMs).toFixed(0)} ms`);
  const show = (m: Map<string, { n: number; ms: number }>, top: number) => {
    for (const [k, e] of [...m].sort((x, y) => y[1].ms - x[1].ms).slice(0, top)) console.log(`  ${e.ms.toFixed(1).padStart(8)} ms ${String(e.n).padStart(5)}x  ${k}`);
  };
  console.log('by kernel:');
  show(byName, 25);
  console.log('by kernel and input shapes:');
  show(byShape, Number(top));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
