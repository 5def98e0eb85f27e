// Shared by the gradient-equality tests (checkpointing.test.ts, layerGraph.test.ts): the committed tiny
// models, one fixture batch each, and the loss and every trainable gradient of one forward/backward pass.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig } from '../../../core/recipe/types.ts';
import { LoraAdapter } from '../../../daemon/engine/lora.ts';
import { causalBias, checkWeights, createModel, forward, readModelConfig, type ForwardInputs, type LlamaModel } from '../../../daemon/engine/model.ts';
import { weightedCrossEntropy } from '../../../daemon/engine/headOps.ts';
import { Rng } from '../../../daemon/engine/rng.ts';
import { readSafetensors } from '../../../daemon/engine/safetensors.ts';

export const fixtures = join(import.meta.dirname, '../../fixtures/engine');
/** Tiny Llama with GQA (4 heads, 2 kv heads), Qwen3 (q/k norms, tied head), GPT-2 (tied head), GPT-2 with layer-scaled attention. */
export const MODELS = { llama_tiny: 'llama_tiny', qwen3_yarn: 'architectures/qwen3_yarn', gpt2: 'architectures/gpt2', gpt2_legacy: 'architectures/gpt2_legacy' };

export function load(dir: string, trainable: boolean): LlamaModel {
  const config = readModelConfig(JSON.parse(readFileSync(join(fixtures, dir, 'config.json'), 'utf8')));
  return createModel(config, checkWeights(config, readSafetensors(join(fixtures, dir, 'model.safetensors')).tensors), trainable);
}

/**
 * The fixture's right-padded batch, next-token labels on real positions (which alone go through the
 * head, as in training); `rows` and `length` cut it to its first rows and positions (another shape).
 */
export function batch(dir: string, rows?: number, length?: number) {
  const ref = JSON.parse(readFileSync(join(fixtures, dir, 'reference.json'), 'utf8')) as { input_ids: number[][]; attention_mask: number[][]; position_ids?: number[][] };
  const cut = <V>(m: V[][]) => m.slice(0, rows).map((r) => r.slice(0, length));
  const B = cut(ref.input_ids).length;
  const T = cut(ref.input_ids)[0]!.length;
  const ids = Int32Array.from(cut(ref.input_ids).flat());
  const mask = cut(ref.attention_mask).flat();
  const positions = Int32Array.from(ref.position_ids ? cut(ref.position_ids).flat() : Array.from({ length: B * T }, (_, i) => i % T));
  const inputs: ForwardInputs = { batch: B, length: T, ids, positions, bias: causalBias(Int32Array.from(mask), B, T) };
  const select: number[] = [];
  for (let p = 0; p < B * T; p++) if (p % T < T - 1 && mask[p] && mask[p + 1]) select.push(p);
  return { inputs, select: Int32Array.from(select), labels: Int32Array.from(select, (p) => ids[p + 1]!) };
}

/** Loss and every trainable variable's gradient (by HF/PEFT name) for one forward/backward pass. */
export function gradients(model: LlamaModel, lora: LoraAdapter | null, data: ReturnType<typeof batch>, checkpointLayers: boolean) {
  const trainable = lora ? lora.params : model.params;
  const before = tf.memory().numTensors;
  let keptBytes = 0;
  const start = tf.memory().numBytes;
  const { value, grads } = tf.variableGrads(() => {
    const logits = forward(model, data.inputs, { adapter: lora ?? undefined, frozenBase: lora !== null, select: data.select, checkpointLayers });
    const loss = weightedCrossEntropy(logits, tf.tensor1d(data.labels, 'int32'), tf.fill([data.select.length], 1 / data.select.length) as tf.Tensor1D);
    // Everything the backward pass will read is alive now, and without checkpointing so is every intermediate.
    keptBytes = tf.memory().numBytes - start;
    return loss;
  }, [...trainable.values()]);
  const byVar = new Map([...trainable].map(([name, v]) => [v.name, name]));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) out.set(byVar.get(k)!, g.dataSync() as Float32Array);
  const loss = value.dataSync()[0]!;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { loss, grads: out, keptBytes, leaked: tf.memory().numTensors - before };
}

export function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { diff: number; scale: number } {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), 'the same variables get gradients');
  let diff = 0;
  let scale = 0;
  for (const [name, ga] of a) {
    const gb = b.get(name)!;
    for (let i = 0; i < ga.length; i++) {
      diff = Math.max(diff, Math.abs(ga[i]! - gb[i]!));
      scale = Math.max(scale, Math.abs(ga[i]!));
    }
  }
  return { diff, scale };
}

/** LoRA on every linear module (or `targets`) with dropout, and B set off zero so A's gradients are not zero. */
export function loraWithDropout(model: LlamaModel, targets: LoraConfig['target_modules'] = 'all-linear'): LoraAdapter {
  const cfg: LoraConfig = { r: 4, alpha: 8, dropout: 0.3, target_modules: targets };
  const lora = new LoraAdapter(model, cfg, 5);
  const rng = new Rng(11);
  for (const [name, v] of lora.params) {
    if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.tensor(Float32Array.from({ length: v.size }, () => rng.normal() * 0.3), v.shape)));
  }
  lora.training = true;
  return lora;
}

