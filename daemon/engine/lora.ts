// LoRA adapters (Hu et al.): y = x W^T + (alpha / r) * dropout(x) A^T B^T with A [r, in], B [out, r];
// B starts at zero so training starts from the base model exactly. Saved in PEFT's layout so PEFT,
// vLLM and llama.cpp tooling load the result.
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig } from '../../core/recipe/types.ts';
import { assignData, linearModules, ownedVariable, parameterShapes, type LinearAdapter, type LlamaModel, type LoraPieces, type ModelConfig } from './model.ts';
import { linear, linearLora } from './ops.ts';
import { hashSeed, Rng } from './rng.ts';
import type { NamedTensor } from './safetensors.ts';

/**
 * Module paths (e.g. `model.layers.0.self_attn.q_proj`) a LoRA config targets, in model order. A name
 * matches every module of that name (GPT-2's c_proj is in attn and mlp), and "all-linear" is every
 * linear layer but the head, as in PEFT.
 */
export function targetModules(c: ModelConfig, cfg: LoraConfig): string[] {
  const known = linearModules(c);
  const wanted = cfg.target_modules === 'all-linear' ? [...known] : cfg.target_modules;
  const unknown = wanted.filter((m) => !known.includes(m));
  if (unknown.length > 0) {
    throw new Error(`lora.target_modules names ${unknown.join(', ')}, which this ${c.model_type} model does not have; use some of ${known.join(', ')} or "all-linear".`);
  }
  const out: string[] = [];
  for (const name of parameterShapes(c).keys()) {
    const m = /^(.*\.(\w+))\.weight$/.exec(name);
    if (m && wanted.includes(m[2]!)) out.push(m[1]!);
  }
  return out;
}

/** Trainable A/B pairs for the targeted modules, usable as the model's LinearAdapter. */
export class LoraAdapter implements LinearAdapter {
  /** Keyed `${module}.lora_A.weight` / `${module}.lora_B.weight`. */
  readonly params = new Map<string, tf.Variable>();
  readonly scale: number;
  /** Dropout is active only while training; the key makes masks reproducible on resume. */
  training = false;
  private dropoutKey = 0;
  /**
   * Each module's place in targetModules. A mask is keyed by (pass key, module), not by call order,
   * so a layer run again in the backward pass (gradient checkpointing, recompute.ts) draws it again.
   */
  private readonly moduleIndex = new Map<string, number>();

  constructor(readonly model: LlamaModel, readonly config: LoraConfig, seed: number) {
    this.scale = config.alpha / config.r;
    const shapes = parameterShapes(model.config);
    const rng = new Rng(hashSeed(seed, 0x10a4));
    for (const mod of targetModules(model.config, config)) {
      this.moduleIndex.set(mod, this.moduleIndex.size);
      const [out, inp] = shapes.get(`${mod}.weight`)!;
      // PEFT's default: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0.
      const a = new Float32Array(config.r * inp!);
      const bound = 1 / Math.sqrt(inp!);
      for (let i = 0; i < a.length; i++) a[i] = (rng.next() * 2 - 1) * bound;
      this.params.set(`${mod}.lora_A.weight`, ownedVariable(tf.tensor2d(a, [config.r, inp!]), true));
      this.params.set(`${mod}.lora_B.weight`, ownedVariable(tf.zeros([out!, config.r]), true));
    }
  }

  /** Sets the dropout key for the next forward pass (e.g. from the step and micro-batch). */
  reseed(key: number): void {
    this.dropoutKey = key;
  }

  /** LoRA's input: x, or x after dropout while training (the mask keyed by pass and module). */
  private dropped(name: string, x: tf.Tensor2D): tf.Tensor2D {
    const mask = this.dropoutMask(name, x.shape[0], x.shape[1]);
    return mask ? (tf.mul(x, mask) as tf.Tensor2D) : x;
  }

  /**
   * Dropout's multiplier for module `name` on inputs of shape [rows, cols] while training (0 with
   * probability p, else 1/(1-p)), keyed by pass and module; null when there is no dropout. Drawn here
   * with the engine's own generator: tf.dropout's seeded draw took SmolLM2's LoRA step at 2 x 128
   * tokens from 1.2 to 1.9 s, this one to 1.6 s (layers run as graphs draw their own: loraPieces).
   */
  private dropoutMask(name: string, rows: number, cols: number): tf.Tensor2D | null {
    const dropout = this.dropout(name);
    if (!dropout) return null;
    const { rate, seed } = dropout;
    const rng = new Rng(seed);
    const keep = 1 / (1 - rate);
    const mask = new Float32Array(rows * cols);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < rate ? 0 : keep;
    return tf.tensor2d(mask, [rows, cols]);
  }

  /** Dropout's rate and the seed of module `name`'s mask for this pass, or null when nothing is dropped. */
  private dropout(name: string): { rate: number; seed: number } | null {
    const rate = this.config.dropout;
    return this.training && rate > 0 ? { rate, seed: hashSeed(this.dropoutKey, this.moduleIndex.get(name)!) } : null;
  }

  delta(name: string, x: tf.Tensor2D): tf.Tensor2D | null {
    const a = this.params.get(`${name}.lora_A.weight`);
    if (!a) return null;
    const b = this.params.get(`${name}.lora_B.weight`)!;
    return tf.mul(linear(linear(this.dropped(name, x), a as tf.Tensor as tf.Tensor2D), b as tf.Tensor as tf.Tensor2D), this.scale) as tf.Tensor2D;
  }

  /**
   * The frozen product and the delta as one op (ops.linearLora). Not on wasm, whose products want
   * their right operands transposed: there the plain `delta` path keeps its memory and speed as measured.
   */
  projectFrozen(name: string, x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D | null {
    const a = this.params.get(`${name}.lora_A.weight`);
    if (!a || tf.getBackend() === 'wasm') return null;
    const b = this.params.get(`${name}.lora_B.weight`)!;
    return linearLora(x, w, a as tf.Tensor as tf.Tensor2D, b as tf.Tensor as tf.Tensor2D, this.scale, this.dropped(name, x));
  }

  loraPieces(name: string): LoraPieces | null {
    const a = this.params.get(`${name}.lora_A.weight`);
    if (!a) return null;
    const b = this.params.get(`${name}.lora_B.weight`)!;
    // The graph draws the mask itself from this seed (TensorFlow's stateless generator), in the
    // forward graph and again in the backward one: keyed by pass and module as `dropped`'s masks are.
    const dropout = this.dropout(name);
    return { a, b, scale: this.scale, ...(dropout ? { dropout } : {}) };
  }

  /** scale * B A, what this adapter adds to `module`'s weight (no dropout: for inference), or null if it has none there. */
  weightDelta(module: string): tf.Tensor2D | null {
    const a = this.params.get(`${module}.lora_A.weight`);
    const b = this.params.get(`${module}.lora_B.weight`);
    if (!a || !b) return null;
    return tf.tidy(() => tf.mul(tf.matMul(b, a), this.scale) as tf.Tensor2D);
  }

  /** W + scale * B A for one module, as a new tensor. */
  mergedWeight(module: string): tf.Tensor2D {
    return tf.tidy(() => {
      const w = this.model.params.get(`${module}.weight`)!;
      const a = this.params.get(`${module}.lora_A.weight`)!;
      const b = this.params.get(`${module}.lora_B.weight`)!;
      return tf.add(w, tf.mul(tf.matMul(b, a), this.scale)) as tf.Tensor2D;
    });
  }

  /** Tensors under PEFT's names (`base_model.model.<module>.lora_A.weight`). */
  peftTensors(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const [name, v] of this.params) out.set(`base_model.model.${name}`, { shape: v.shape, data: v.dataSync() as Float32Array });
    return out;
  }

  /** Loads tensors saved by `peftTensors` (or by PEFT itself). */
  loadPeftTensors(tensors: Map<string, NamedTensor>): void {
    for (const [name, v] of this.params) {
      const t = tensors.get(`base_model.model.${name}`);
      if (!t) throw new Error(`The adapter file lacks base_model.model.${name}.`);
      if (t.shape.join() !== v.shape.join()) throw new Error(`base_model.model.${name} has shape [${t.shape}], expected [${v.shape}].`);
      assignData(v, t.data);
    }
  }

  /** PEFT's adapter_config.json for these adapters. */
  peftConfig(baseModel: string): Record<string, unknown> {
    const modules = [...new Set(targetModules(this.model.config, this.config).map((m) => m.split('.').pop()!))];
    return {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: this.config.r,
      lora_alpha: this.config.alpha,
      lora_dropout: this.config.dropout,
      target_modules: modules,
      bias: 'none',
      // GPT-2's base weights are Conv1D ([in, out]) in the checkpoint PEFT merges into; A and B are the same.
      fan_in_fan_out: this.model.config.model_type === 'gpt2',
      inference_mode: true,
      init_lora_weights: true,
      modules_to_save: null,
      use_rslora: false,
      use_dora: false,
      layers_to_transform: null,
      revision: null,
    };
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}
