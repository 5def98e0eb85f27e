// A PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) read onto a model:
// an earlier run's output to continue from (DPO after SFT), or a reward model's adapter and score
// head to score with. Anneal writes these folders (checkpoint.ts) and PEFT writes the same layout.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LoraConfig } from '../../core/recipe/types.ts';
import { LoraAdapter } from './lora.ts';
import { ownedVariable, type LlamaModel } from './model.ts';
import { readSafetensors, type NamedTensor } from './safetensors.ts';

export interface PeftAdapterFolder {
  config: LoraConfig;
  /** adapter_config.json's base_model_name_or_path (a folder, a Hub id, or what Anneal recorded). */
  base: string | null;
  /** CAUSAL_LM, or SEQ_CLS for a reward model. */
  taskType: string;
  tensors: Map<string, NamedTensor>;
}

/** True when `dir` holds a PEFT adapter. */
export function isPeftAdapter(dir: string): boolean {
  return existsSync(join(dir, 'adapter_config.json'));
}

/** Reads an adapter folder; throws one sentence when it is not a LoRA adapter Anneal can apply. */
export function readPeftAdapter(dir: string): PeftAdapterFolder {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${dir} is not a PEFT adapter folder (adapter_config.json: ${(err as Error).message}).`);
  }
  if (raw.peft_type !== 'LORA') throw new Error(`${dir} is a ${String(raw.peft_type)} adapter; Anneal applies LoRA adapters.`);
  if (raw.use_dora === true) throw new Error(`${dir} is a DoRA adapter; Anneal applies plain LoRA adapters.`);
  const modules = raw.target_modules;
  const config: LoraConfig = {
    r: Number(raw.r),
    alpha: Number(raw.lora_alpha ?? raw.r),
    dropout: Number(raw.lora_dropout ?? 0),
    target_modules: typeof modules === 'string' ? (modules === 'all-linear' ? 'all-linear' : [modules]) : ((modules as string[] | undefined) ?? 'all-linear'),
  };
  const file = join(dir, 'adapter_model.safetensors');
  if (!existsSync(file)) throw new Error(`${dir} has no adapter_model.safetensors (only safetensors adapters are read).`);
  return { config, base: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : null, taskType: String(raw.task_type ?? 'CAUSAL_LM'), tensors: readSafetensors(file).tensors };
}

/**
 * The adapter on `model`, and its saved whole modules (a reward model's `score.weight`) as
 * variables. An adapter made for another model fails here with the module and shapes that differ.
 */
export function loadPeftAdapter(model: LlamaModel, folder: PeftAdapterFolder, seed: number, dir = 'the adapter'): { lora: LoraAdapter; head: Map<string, tf.Variable> | null } {
  const lora = new LoraAdapter(model, folder.config, seed);
  for (const [name, v] of lora.params) {
    const t = folder.tensors.get(`base_model.model.${name}`);
    const base = name.replace(/\.lora_[AB]\.weight$/, '');
    if (!t) throw new Error(`${dir} has no weights for ${base}; it was made for another model (or with other target_modules).`);
    if (t.shape.join() !== v.shape.join()) {
      throw new Error(`${dir} was made for another base model: its ${name} is [${t.shape}], this model's is [${v.shape}]. Start from the model the adapter was trained on.`);
    }
  }
  lora.loadPeftTensors(folder.tensors);
  const head = new Map<string, tf.Variable>();
  const score = folder.tensors.get('base_model.model.score.weight');
  if (score) {
    if (score.shape.length !== 2 || score.shape[0] !== 1 || score.shape[1] !== model.config.hidden_size) {
      throw new Error(`${dir}'s score head is [${score.shape}]; a reward model's is [1, ${model.config.hidden_size}] for this base.`);
    }
    head.set('score.weight', ownedVariable(tf.tensor2d(score.data, [1, score.shape[1]!]), true));
  }
  return { lora, head: head.size > 0 ? head : null };
}
