// Memory: what a training step holds at its peak (the engine's habits the estimate relies on), the
// estimate itself, the refusal before a run that cannot fit, and out-of-memory failures turned into
// one sentence.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_LORA, defaultTrainingArguments } from '../../../core/recipe/defaults.ts';
import type { TrainEvents } from '../../../daemon/engine/api.ts';
import { LoraAdapter } from '../../../daemon/engine/lora.ts';
import {
  checkMemoryFits,
  estimateTrainingMemory,
  memoryLimit,
  MEMORY_LIMIT_ENV,
  OutOfMemoryError,
  readOutOfMemory,
  TrainingMemory,
  WASM_HEAP_MAX,
  WasmHeapFull,
} from '../../../daemon/engine/memory.ts';
import { causalBias, createModel, forward, initialWeights, normalizeConfig, type LlamaConfig } from '../../../daemon/engine/model.ts';
import { gelu } from '../../../daemon/engine/ops.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { AdamW } from '../../../daemon/engine/optim.ts';
import { train } from '../../../daemon/engine/loop.ts';
import { randomTensor, useBackend } from './helpers.ts';

before(async () => {
  await useBackend();
});

/** Peak bytes of live tensors while `f` runs (tfjs's own count). */
async function peakBytes(f: () => void): Promise<number> {
  const info = await tf.profile(() => {
    f();
  });
  return info.peakBytes;
}

test('a custom gradient frees its temporaries before the next op is differentiated', async () => {
  // GELU's gradient builds about fifteen x-sized terms. Kept until the backward pass ends (tfjs runs a
  // custom gradient outside any tidy), eight GELUs in a row would hold eight sets of them at once.
  const x = randomTensor([64, 256], 1);
  const peak = async (depth: number) =>
    peakBytes(() =>
      tf.tidy(() => {
        tf.grad((v: tf.Tensor) => {
          let y = v;
          for (let i = 0; i < depth; i++) y = gelu(y, 'tanh');
          return tf.sum(y);
        })(x);
      }),
    );
  const one = await peak(1);
  const eight = await peak(8);
  const xBytes = x.size * 4;
  // Eight layers keep eight inputs and eight gradients more than one layer; the terms must not pile up.
  assert.ok(eight - one < 7 * 4 * xBytes, `eight GELUs peaked ${((eight - one) / xBytes).toFixed(1)} x-sizes above one GELU`);
  x.dispose();
});

test('an AdamW step holds temporaries for one parameter at a time', async () => {
  const make = (count: number) => {
    const params = new Map<string, tf.Variable>();
    // Above SMALL_PARAM, so each is updated alone (smaller ones are updated in bounded groups: optim.test.ts).
    for (let i = 0; i < count; i++) params.set(`model.layers.${i}.mlp.up_proj.weight`, tf.variable(randomTensor([384, 384], i)));
    const grads = new Map([...params].map(([n, p]) => [n, tf.onesLike(p) as tf.Tensor]));
    return { params, grads, opt: new AdamW(params, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 }) };
  };
  const growth = async (count: number) => {
    const { params, grads, opt } = make(count);
    const before = tf.memory().numBytes;
    const peak = await peakBytes(() => opt.apply(grads, 1e-3));
    opt.dispose();
    for (const t of [...params.values(), ...grads.values()]) t.dispose();
    return peak - before;
  };
  const paramBytes = 384 * 384 * 4;
  const one = await growth(1);
  const sixteen = await growth(16);
  // Each update replaces a parameter and its two moments in place; 16 parameters may not need more room than one.
  assert.ok(sixteen - one < 2 * paramBytes, `16 parameters peaked ${((sixteen - one) / paramBytes).toFixed(1)} parameter-sizes above one`);
});

const ARGS = { ...defaultTrainingArguments('sft'), gradient_accumulation_steps: 1 };
const MB = 2 ** 20;
const GB = 2 ** 30;

/** A small Llama whose every size is distinct: hidden 128, 4 heads of 32 over 2 kv heads, MLP 352, 2 layers, vocab 1000. */
function smallLlama(layers = 2): LlamaConfig {
  return normalizeConfig({ model_type: 'llama', vocab_size: 1000, hidden_size: 128, intermediate_size: 352, num_hidden_layers: layers, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 1024, tie_word_embeddings: true, rms_norm_eps: 1e-6 });
}

/** SmolLM2-135M-Instruct's config, as its GGUF metadata gives it (no weights needed to estimate). */
function smolLM2(): LlamaConfig {
  return normalizeConfig({ model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, max_position_embeddings: 8192, tie_word_embeddings: true, rms_norm_eps: 1e-5, rope_theta: 100000 });
}

/** A machine with plenty of memory and no cgroup limit, so only the wasm heap limits. */
const bigMachine = { env: {}, read: (p: string) => (p === '/proc/meminfo' ? 'MemTotal: 67108864 kB\nMemAvailable: 62914560 kB\n' : undefined) };

test('the estimate of a known config, piece by piece, by hand', () => {
  const c = smallLlama();
  const shape = { batch: 2, length: 64, lossTokens: 100 };
  const lora = { ...DEFAULT_LORA, dropout: 0 };
  const e = estimateTrainingMemory(c, { ...ARGS, per_device_train_batch_size: 2, max_length: 64 }, lora, 'tensorflow', { train: shape });
  // Parameters: embedding 1000x128, per layer q 128x128, k and v 64x128, o 128x128, gate/up/down 352x128 and two norms, final norm.
  const perLayer = 128 * 128 + 2 * 64 * 128 + 128 * 128 + 3 * 352 * 128 + 2 * 128;
  assert.equal(e.parameters, 1000 * 128 + 2 * perLayer + 128);
  assert.equal(e.weights, 4 * (1000 * 128 + 2 * perLayer + 128));
  // LoRA r16 on all seven linears: r * (in + out) each; A/B, AdamW's m and v, and one gradient each.
  const loraParams = 2 * 16 * ((128 + 128) + 2 * (128 + 64) + (128 + 128) + 2 * (128 + 352) + (352 + 128));
  assert.equal(e.optimizer, 4 * 4 * loraParams);
  // The peak is the loss's backward, before any layer's gradient exists (ops.custom frees each op's
  // output gradient once used, so the layers' gradients no longer outgrow it). The head at the 100
  // positions that carry loss: RMSNorm keeps its normalized input (100 x 128) and the logits
  // (100 x 1000); the loss's backward holds five tensors of the logits' size.
  assert.equal(e.logits, 4 * (100 * 128 + 100 * 1000 + 5 * 100 * 1000));
  // Per layer, N = 128 tokens: X = N x 128, Q = X, K = N x 64, F = N x 352, A = 2 x 4 x 64 x 64, R = N x 16.
  // On native TensorFlow each layer runs as two graphs (layerGraph.ts). Kept: 4X + 2Q + 2K + 4F + A + 7R
  // and the norms' factors (2N) (memoryEstimate.ts's graphLayerFloats says which tensors); plus, once,
  // the attention bias (one copy per query head, 2 x 4 x 64 x 64).
  const N = 128;
  const [X, Q, K, F, A, R] = [N * 128, N * 128, N * 64, N * 352, 2 * 4 * 64 * 64, N * 16];
  const layerSaved = 4 * X + 2 * Q + 2 * K + 4 * F + A + 7 * R + 2 * N;
  assert.equal(e.activations, 4 * (2 * layerSaved + 2 * 4 * 64 * 64));
  assert.equal(e.phase, 'training step');
});

test('gradient checkpointing keeps one input per layer and one layer at a time', () => {
  const c = smolLM2();
  const args = { ...ARGS, per_device_train_batch_size: 4, max_length: 512 };
  const plain = estimateTrainingMemory(c, args, DEFAULT_LORA, 'tensorflow');
  const checkpointed = estimateTrainingMemory(c, { ...args, gradient_checkpointing: true }, DEFAULT_LORA, 'tensorflow');
  // 30 layers' activations become 30 inputs and gradients plus one layer's: about a seventh.
  assert.ok(checkpointed.activations < plain.activations / 6, `${checkpointed.activations} vs ${plain.activations}`);
  assert.ok(checkpointed.checkpointing && !plain.checkpointing);
});

test('load_in_4bit keeps the decoder linears as 4-bit blocks on the host: the device holds the rest and one layer', () => {
  const c = smolLM2();
  const args = { ...ARGS, per_device_train_batch_size: 1, max_length: 128 };
  const float = estimateTrainingMemory(c, args, DEFAULT_LORA, 'wasm');
  const fourBit = estimateTrainingMemory(c, { ...args, load_in_4bit: true }, DEFAULT_LORA, 'wasm');
  // Per layer: q and o 576x576, k and v 192x576, gate, up and down 1536x576.
  const layerLinear = 2 * 576 * 576 + 2 * 192 * 576 + 3 * 1536 * 576;
  assert.equal(float.weights - fourBit.weights, 4 * 29 * layerLinear);
  // XNNPACK's packed copies: only the (tied) head is still a lasting weight.
  assert.equal(fourBit.packedWeights, 4 * 49152 * 576);
  assert.equal(float.packedWeights, 4 * (30 * layerLinear + 49152 * 576));
  // Without LoRA it is not an option (the recipe check refuses it); the estimate ignores it.
  assert.equal(estimateTrainingMemory(c, { ...args, load_in_4bit: true }, null, 'wasm').weights, float.weights);
});

/**
 * One training step of `config` on wasm with every heap allocation counted (malloc/free wrapped): the
 * peak bytes of tensors above the weights, optimizer state and LoRA parameters.
 */
function measuredStepBytes(config: LlamaConfig, lora: boolean, B: number, T: number): number {
  const wasm = (tf.backend() as unknown as { wasm: { _malloc(n: number): number; _free(p: number): void } }).wasm;
  const model = createModel(config, initialWeights(config, 1), !lora);
  const adapter = lora ? new LoraAdapter(model, { ...DEFAULT_LORA, dropout: 0 }, 1) : null;
  const trainable = adapter ? adapter.params : model.params;
  const optimizer = new AdamW(trainable, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 });
  wasm._free(wasm._malloc(16)); // Emscripten's exports replace themselves on their first call
  const [malloc, free] = [wasm._malloc, wasm._free];
  const sizes = new Map<number, number>();
  let live = 0;
  let peak = 0;
  wasm._malloc = (n) => {
    const p = malloc(n);
    sizes.set(p, n);
    live += n;
    peak = Math.max(peak, live);
    return p;
  };
  wasm._free = (p) => {
    live -= sizes.get(p) ?? 0;
    sizes.delete(p);
    free(p);
  };
  try {
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % config.vocab_size);
    const select = Int32Array.from({ length: B * T }, (_, i) => i);
    const { value, grads } = tf.variableGrads(() => {
      const logits = forward(model, { batch: B, length: T, ids, positions: Int32Array.from(select, (i) => i % T), bias: causalBias(new Int32Array(B * T).fill(1), B, T) }, { adapter: adapter ?? undefined, frozenBase: lora, select });
      return weightedCrossEntropy(logits, tf.tensor1d(Int32Array.from(ids, (x) => (x + 1) % config.vocab_size), 'int32'), tf.fill([B * T], 1 / (B * T)) as tf.Tensor1D);
    }, [...trainable.values()]);
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    return peak;
  } finally {
    wasm._malloc = malloc;
    wasm._free = free;
    optimizer.dispose();
    adapter?.dispose();
    for (const v of model.params.values()) v.dispose();
  }
}

test('the estimate is what the engine allocates (wasm, counted exactly), LoRA and full', { skip: (process.env.ANNEAL_TEST_BACKEND ?? 'wasm') !== 'wasm' && 'counts wasm allocations' }, () => {
  // One dimension changed at a time, so each term of the count (X, Q, K, F, A) is checked.
  const variants: [string, Record<string, unknown>, number][] = [
    ['d128', {}, 64],
    // (at 64 tokens a full fine-tune of this width peaks in the optimizer's update, not the backward pass)
    ['hidden 256', { hidden_size: 256 }, 128],
    ['intermediate 704', { intermediate_size: 704 }, 64],
    ['T 128', {}, 128],
    ['4 kv heads', { num_key_value_heads: 4 }, 64],
  ];
  for (const [name, change, T] of variants) {
    const c = normalizeConfig({ ...smallLlama(3), ...change });
    for (const lora of [true, false]) {
      const e = estimateTrainingMemory(c, { ...ARGS, per_device_train_batch_size: 2, max_length: T }, lora ? { ...DEFAULT_LORA, dropout: 0 } : null, 'wasm', { train: { batch: 2, length: T, lossTokens: 2 * T } });
      // The step's own allocations: activations, logits and the trainable parameters' gradients.
      const estimated = e.activations + e.logits + (lora ? e.optimizer / 4 : e.weights);
      const measured = measuredStepBytes(c, lora, 2, T);
      const ratio = estimated / measured;
      assert.ok(ratio > 0.9 && ratio < 1.1, `${name}, ${lora ? 'LoRA' : 'full'}: estimated ${(estimated / MB).toFixed(2)} MB, allocated ${(measured / MB).toFixed(2)} MB`);
    }
  }
});

test('SmolLM2 with LoRA at batch 8 x 1024 is refused on wasm with what to lower, before any weight is read', () => {
  const c = smolLM2();
  const args = { ...ARGS, per_device_train_batch_size: 8, max_length: 1024, gradient_accumulation_steps: 2 };
  const limit = memoryLimit('wasm', bigMachine);
  assert.deepEqual(limit, { bytes: WASM_HEAP_MAX, what: 'the 4 GB the wasm backend can address' });
  const verdict = checkMemoryFits(c, args, DEFAULT_LORA, 'wasm', limit);
  assert.equal(verdict.fits, false);
  if (verdict.fits) return;
  const m = verdict.error.message;
  assert.ok(verdict.error instanceof OutOfMemoryError);
  assert.match(m, /^LoRA training of this 135M-parameter model at batch 8 × 1024 tokens needs about \d+ GB \(activations \d+ GB, heap slack \d+ GB(, logits [\d.]+ GB)?\), more than the 4 GB the wasm backend can address; lower it with /);
  // No one setting is enough here: checkpointing, then the largest batch that fits (accumulation raised
  // to keep 8 x 2 rows per step), then max_length if still needed, together.
  const together = /lower it with (gradient_checkpointing: true(?:,| and) per_device_train_batch_size: (\d+) with gradient_accumulation_steps: (\d+)(?: and max_length: (\d+))? together) \(about ([\d.]+ [MG]B)\)/.exec(m);
  assert.ok(together, m);
  const [, , b, accum, length] = together;
  assert.equal(Number(b) * Number(accum), 16);
  const fixed = { ...args, gradient_checkpointing: true, per_device_train_batch_size: Number(b), max_length: Number(length ?? 1024) };
  assert.ok(estimateTrainingMemory(c, fixed, DEFAULT_LORA, 'wasm').total <= WASM_HEAP_MAX, 'the suggested settings fit');
  assert.match(m, /, or `npm run setup:native` for the native backend, which has no 4 GB cap\.$/);
  // One sentence.
  assert.equal(m.split(/\.\s/).length, 1, m);
});

test('the limit: cgroup v2 and v1, available memory, the wasm heap and the override', () => {
  const files = (map: Record<string, string>) => ({ env: {}, read: (p: string) => map[p] });
  const meminfo = 'MemTotal: 16777216 kB\nMemFree: 1048576 kB\nMemAvailable: 8388608 kB\n';
  assert.deepEqual(memoryLimit('tensorflow', files({ '/proc/meminfo': meminfo })), { bytes: 8 * GB, what: 'the 8.0 GB of memory free on this machine' });
  // A container limit of 3 GB with 1 GB used leaves 2 GB, less than the machine's 8.
  const v2 = files({ '/proc/meminfo': meminfo, '/sys/fs/cgroup/memory.max': `${3 * GB}\n`, '/sys/fs/cgroup/memory.current': `${GB}\n` });
  assert.deepEqual(memoryLimit('tensorflow', v2), { bytes: 2 * GB, what: "the 2.0 GB this container's memory limit leaves" });
  assert.equal(memoryLimit('tensorflow', files({ '/proc/meminfo': meminfo, '/sys/fs/cgroup/memory.max': 'max\n' }))!.bytes, 8 * GB);
  const v1 = files({ '/proc/meminfo': meminfo, '/sys/fs/cgroup/memory/memory.limit_in_bytes': `${4 * GB}`, '/sys/fs/cgroup/memory/memory.usage_in_bytes': `${GB}` });
  assert.equal(memoryLimit('tensorflow', v1)!.bytes, 3 * GB);
  // wasm: its heap, less what it holds, unless the machine has less free.
  assert.equal(memoryLimit('wasm', { ...bigMachine, wasmUsed: GB })!.what, 'the 3.0 GB left of the 4 GB the wasm backend can address');
  assert.equal(memoryLimit('wasm', v2)!.bytes, 2 * GB);
  assert.equal(memoryLimit('webgpu', bigMachine), null);
  assert.deepEqual(memoryLimit('wasm', { env: { [MEMORY_LIMIT_ENV]: '1536' } }), { bytes: 1536 * MB, what: `the 1.5 GB that ${MEMORY_LIMIT_ENV} allows` });
  assert.throws(() => memoryLimit('wasm', { env: { [MEMORY_LIMIT_ENV]: '2GB' } }), /ANNEAL_MEMORY_LIMIT_MB=2GB is not a number of megabytes/);
});

// Out-of-memory failures as the backends report them, each collected by provoking it once in a child
// process on this machine (tfjs 4.22, TensorFlow 2.21, Node 20):
const REAL_FAILURES = {
  // wasm without the allocation guard: tf.fill([256, 1024, 1024], 1) five times (the fourth already
  // overwrote the first: the allocator returned 0 and tfjs wrote there), thrown by the fifth.
  wasmOutOfBounds: Object.assign(new WebAssembly.RuntimeError('memory access out of bounds')),
  // wasm with the guard, the same allocations: thrown by the fourth.
  wasmGuard: new WasmHeapFull(1073741824, [256, 1024, 1024], 'float32'),
  // wasm: 62 x 64 MB held, then tf.matMul([8, 4096] x [4096, 4096]): printed on stderr, no exception.
  xnn: 'XNN status for xnn_create_fully_connected_nc_f32 is not successful. Got status 6. Use -c dbg to see XNN logs.',
  // wasm, SmolLM2 full fine-tuning before the engine's memory work (ENGINE.md): printed before the worker died.
  aborted: 'Aborted(). Build with -sASSERTIONS for more info.',
  // tensorflow (tfjs-node): tf.matMul(tf.ones([200000, 8]), tf.ones([8, 200000])).
  native: new Error('Invalid TF_Status: 8\nMessage: OOM when allocating tensor with shape[200000,200000] and type float on /job:localhost/replica:0/task:0/device:CPU:0 by allocator mklcpu'),
  // Node: new ArrayBuffer(2 ** 40).
  arrayBuffer: new RangeError('Array buffer allocation failed'),
};

test('out-of-memory messages from each backend are recognised, with the shape when they give one', () => {
  assert.deepEqual(readOutOfMemory(REAL_FAILURES.native), { shape: [200000, 200000] });
  assert.deepEqual(readOutOfMemory(REAL_FAILURES.wasmGuard), { shape: [256, 1024, 1024], bytes: 1073741824 });
  assert.deepEqual(readOutOfMemory(new Error(REAL_FAILURES.xnn)), {});
  assert.deepEqual(readOutOfMemory(new Error(REAL_FAILURES.aborted)), {});
  assert.deepEqual(readOutOfMemory(REAL_FAILURES.arrayBuffer), {});
  // Out of bounds is memory only once the heap is nearly full; on a small heap it is a bug.
  assert.deepEqual(readOutOfMemory(REAL_FAILURES.wasmOutOfBounds, 4 * GB - 65536), {});
  assert.equal(readOutOfMemory(REAL_FAILURES.wasmOutOfBounds, 600 * MB), null);
  assert.equal(readOutOfMemory(new Error('Checkpoint /x lacks model.norm.weight')), null);
  assert.equal(readOutOfMemory(new RangeError('Invalid typed array length: -1')), null);
});

test('an out-of-memory failure during the run becomes one sentence naming the phase, the shape and what to lower', () => {
  const logged: string[] = [];
  const c = smolLM2();
  const data = [{ ids: new Int32Array(512), target: new Uint8Array(512).fill(1) }];
  const memory = TrainingMemory.check(
    { config: c, args: { ...ARGS, per_device_train_batch_size: 1, max_length: 512, packing: false }, lora: DEFAULT_LORA, backend: 'tensorflow', train: data, eval: null, maxLength: 512, sampling: false },
    (l) => logged.push(l),
    { env: { [MEMORY_LIMIT_ENV]: '65536' } },
  );
  assert.match(logged[0]!, /^memory: about [\d.]+ GB at the peak of a training step \(.*activations [\d.]+ [GM]B, .*largest micro-batch 1 × 512 tokens\) of the 64 GB that ANNEAL_MEMORY_LIMIT_MB allows$/);
  const err = memory.explain(REAL_FAILURES.native, 'evaluation') as Error;
  assert.ok(err instanceof OutOfMemoryError);
  assert.match(err.message, /^The tensorflow backend ran out of memory during evaluation allocating a tensor of shape \[200000, 200000\]; the estimate for LoRA training of this 135M-parameter model at batch 1 × 512 tokens was about [\d.]+ GB \(.*\); lower it with .*max_length: \d+/);
  // The backend's own words stay in the log for debugging.
  assert.match(logged.at(-1)!, /^out of memory during evaluation; the backend said: Error: Invalid TF_Status: 8\nMessage: OOM when allocating tensor with shape\[200000,200000\]/);
  const other = new Error('disk full');
  assert.equal(memory.explain(other, 'training step'), other);
});

test("a recipe-less run's gradient_checkpointing is turned off when a step fits without it, kept when it does not, and a recipe's is kept", () => {
  const c = smolLM2();
  const rows = (n: number, len: number) => Array.from({ length: n }, () => ({ ids: new Int32Array(len), target: new Uint8Array(len).fill(1) }));
  const check = (limitMb: number, optional: boolean, train = rows(4, 512)) => {
    const logged: string[] = [];
    const memory = TrainingMemory.check(
      { config: c, args: { ...ARGS, per_device_train_batch_size: 4, max_length: 512, gradient_checkpointing: true, packing: false }, lora: DEFAULT_LORA, backend: 'tensorflow', train, eval: null, maxLength: 512, sampling: false, optionalCheckpointing: optional },
      (l) => logged.push(l),
      { env: { [MEMORY_LIMIT_ENV]: String(limitMb) } },
    );
    return { on: memory.gradientCheckpointing, logged };
  };
  // 4 x 512 needs about 5.9 GB without recomputing layers (2.2 GB with): plenty of room at 64 GB.
  const roomy = check(65536, true);
  assert.equal(roomy.on, false);
  assert.match(roomy.logged[0]!, /^gradient_checkpointing: off, no layer recomputed: a step fits in about [\d.]+ GB of the 64 GB that ANNEAL_MEMORY_LIMIT_MB allows without it$/);
  assert.match(roomy.logged[1]!, /^memory: about [\d.]+ GB at the peak/);
  // At 5 GB the plain step does not fit: layers stay recomputed, and the run fits that way.
  const tight = check(5120, true);
  assert.equal(tight.on, true);
  assert.match(tight.logged[0]!, /^gradient_checkpointing: on, each layer recomputed in the backward pass: without it a step would need about [\d.]+ GB, more than the 5.0 GB that ANNEAL_MEMORY_LIMIT_MB allows$/);
  // Short real batches fit at 5 GB without it.
  assert.equal(check(5120, true, rows(4, 64)).on, false);
  // A recipe's setting is the user's: never changed, nothing said.
  const recipe = check(65536, false);
  assert.equal(recipe.on, true);
  assert.match(recipe.logged[0]!, /^memory: /);
});

test('train() refuses a run that cannot fit before uploading any weight, and says so in one sentence', async () => {
  const before = tf.memory().numTensors;
  const lines: string[] = [];
  const events: TrainEvents = { status: () => {}, metrics: () => {}, sample: () => {}, log: (l) => lines.push(l), checkpoint: () => {} };
  const saved = process.env[MEMORY_LIMIT_ENV];
  process.env[MEMORY_LIMIT_ENV] = '2';
  try {
    await assert.rejects(
      train(
        {
          stage: 'sft',
          runDir: mkdtempSync(join(tmpdir(), 'anneal-memory-')),
          model: 'tiny',
          data: { train: join(import.meta.dirname, '../../../examples/sft.jsonl') },
          lora: null,
          backend: process.env.ANNEAL_TEST_BACKEND ?? 'wasm',
          args: { ...defaultTrainingArguments('sft'), per_device_train_batch_size: 8, max_length: 256, save_steps: 0 },
        },
        events,
        new AbortController().signal,
      ),
      (err: Error) => {
        assert.ok(err instanceof OutOfMemoryError, String(err));
        assert.match(err.message, /^Full fine-tuning of this \d+K-parameter model at batch \d+ × \d+ tokens needs about \d+ MB \(.*\), more than the 2 MB that ANNEAL_MEMORY_LIMIT_MB allows; lower it with .*LoRA instead of full fine-tuning/);
        return true;
      },
    );
  } finally {
    if (saved === undefined) delete process.env[MEMORY_LIMIT_ENV];
    else process.env[MEMORY_LIMIT_ENV] = saved;
  }
  assert.equal(tf.memory().numTensors, before, 'no weight was uploaded');
  assert.ok(lines.some((l) => l.startsWith('memory: about')), lines.join('\n'));
});
