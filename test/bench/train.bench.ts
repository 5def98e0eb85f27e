// Training and generation throughput of the engine on every backend that starts here, next to the
// backend's own matmul ceiling (and numpy's BLAS, when python3 has numpy) measured in the same run.
// Prints figures only. Run: npm run bench -- train   (or node --import tsx test/bench/train.bench.ts)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { tinyTokenizerFiles } from '../../core/tokenize/index.ts';
import { BACKEND_NAMES, selectBackend } from '../../daemon/engine/backend.ts';
import { createModel, disposeModel, headDim, initialWeights, normalizeConfig, parameterCount, type LlamaConfig } from '../../daemon/engine/model.ts';
import { tinyConfig } from '../../daemon/engine/modelSource.ts';
import { Rng } from '../../daemon/engine/rng.ts';
import { generate } from '../../daemon/engine/sample.ts';
import { writeSafetensors } from '../../daemon/engine/safetensors.ts';
import { train } from '../../daemon/engine/loop.ts';
import { defaultTrainingArguments } from '../../core/recipe/defaults.ts';

/** TRL's defaults, as the engine fills them for a job. */
const DEFAULT_ARGS = defaultTrainingArguments('sft');

const root = join(import.meta.dirname, '../..');
const data = join(root, 'examples/sft.jsonl');
const SEQ = 128;

/** A ~10M-parameter Llama (tiny tokenizer), written as a Hugging Face folder. */
function mediumFolder(): { dir: string; config: LlamaConfig } {
  const config = normalizeConfig({
    ...tinyConfig(),
    hidden_size: 384,
    intermediate_size: 1024,
    num_hidden_layers: 6,
    num_attention_heads: 12,
    num_key_value_heads: 4,
  });
  const dir = mkdtempSync(join(tmpdir(), 'anneal-bench-10m-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'llama' }));
  writeSafetensors(join(dir, 'model.safetensors'), initialWeights(config, 1));
  const tok = tinyTokenizerFiles();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.tokenizerJson));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
  return { dir, config };
}

/** FLOPs per trained token: 6 x parameters (forward + backward) plus attention scores/values. */
function flopsPerToken(c: LlamaConfig): number {
  const attn = 12 * c.num_hidden_layers * SEQ * c.num_attention_heads * headDim(c);
  return 6 * parameterCount(c) + attn;
}

/** Median tokens/s over steps 2..n of a packed SFT run (step 1 warms up kernels). */
async function trainThroughput(backend: string, model: string, batch: number, steps: number): Promise<number> {
  const rates: number[] = [];
  const runDir = mkdtempSync(join(tmpdir(), 'anneal-bench-run-'));
  await train(
    {
      stage: 'sft',
      runDir,
      model,
      data: { train: data },
      lora: null,
      backend,
      args: { ...DEFAULT_ARGS, learning_rate: 1e-3, per_device_train_batch_size: batch, max_steps: steps, logging_steps: 1, save_steps: 0, packing: true, max_length: SEQ },
    },
    {
      status: () => {},
      metrics: (m) => {
        if (m.step > 1 && m['train/tokens_per_second']) rates.push(m['train/tokens_per_second']);
      },
      sample: () => {},
      log: () => {},
      checkpoint: () => {},
    },
    new AbortController().signal,
  );
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)] ?? NaN;
}

function matmulCeiling(n: number): number {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  tf.matMul(a, b).dispose();
  const reps = 3;
  const t = performance.now();
  for (let i = 0; i < reps; i++) {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }
  const seconds = (performance.now() - t) / 1000 / reps;
  a.dispose();
  b.dispose();
  return (2 * n ** 3) / seconds / 1e9;
}

function numpyCeiling(n: number): string {
  const code = `import numpy as np, time\na=np.random.rand(${n},${n}).astype(np.float32);b=a.copy();a@b\nt=time.perf_counter()\nfor _ in range(5): a@b\nprint(2*${n}**3/((time.perf_counter()-t)/5)/1e9)`;
  const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
  return r.status === 0 ? `${Number(r.stdout).toFixed(1)} GFLOP/s` : 'n/a (python3 without numpy)';
}

function generationRate(useCache: boolean, tokens: number): number {
  const config = tinyConfig();
  const model = createModel(config, initialWeights(config, 2), false);
  const prompt = Array.from({ length: 16 }, (_, i) => 97 + (i % 26));
  generate(model, prompt, { maxNewTokens: 4, temperature: 0, topP: 1, stopIds: [], rng: new Rng(1), useCache });
  const t = performance.now();
  const out = generate(model, prompt, { maxNewTokens: tokens, temperature: 0.8, topP: 0.95, stopIds: [], rng: new Rng(1), useCache });
  const rate = out.length / ((performance.now() - t) / 1000);
  disposeModel(model);
  return rate;
}

async function main(): Promise<void> {
  const medium = mediumFolder();
  const tiny = tinyConfig();
  const rows: string[][] = [['backend', 'what', 'figure', 'GFLOP/s']];
  console.log(`tiny: ${(parameterCount(tiny) / 1e6).toFixed(2)}M params; medium: ${(parameterCount(medium.config) / 1e6).toFixed(2)}M params; packed rows of ${SEQ} tokens`);
  for (const name of BACKEND_NAMES) {
    try {
      const report = await selectBackend(name);
      console.log(`${name}: ${report.device}`);
    } catch (e) {
      console.log(`${name}: skipped — ${(e as Error).message}`);
      continue;
    }
    const slow = name === 'cpu';
    const ceiling = matmulCeiling(slow ? 256 : 1024);
    rows.push([name, `matMul ${slow ? 256 : 1024}^3 fp32`, '', ceiling.toFixed(1)]);
    const tinyRate = await trainThroughput(name, 'tiny', 8, slow ? 3 : 6);
    rows.push([name, 'SFT tiny (B=8)', `${tinyRate.toFixed(0)} tok/s`, ((tinyRate * flopsPerToken(tiny)) / 1e9).toFixed(2)]);
    if (!slow) {
      const medRate = await trainThroughput(name, medium.dir, 4, 4);
      rows.push([name, 'SFT ~10M (B=4)', `${medRate.toFixed(0)} tok/s`, ((medRate * flopsPerToken(medium.config)) / 1e9).toFixed(2)]);
    }
    const n = slow ? 16 : 64;
    rows.push([name, `generate tiny, KV cache (${n} tok)`, `${generationRate(true, n).toFixed(1)} tok/s`, '']);
    rows.push([name, `generate tiny, no cache (${n} tok)`, `${generationRate(false, n).toFixed(1)} tok/s`, '']);
  }
  rows.push(['numpy', 'matmul 1024^3 fp32 (BLAS)', '', numpyCeiling(1024)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

mkdirSync(tmpdir(), { recursive: true });
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
