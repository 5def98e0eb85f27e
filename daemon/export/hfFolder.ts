// A merged model as a Hugging Face folder: model.safetensors (float32), config.json that transformers
// (4 or 5) reads as the same model, the tokenizer files, the chat template training used (written out
// as chat_template.jinja when the tokenizer had none, so transformers renders the same conversations)
// and a generation_config.json whose eos ids are the tokens Anneal stops at.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpt2Checkpoint } from '../engine/gpt2Config.ts';
import type { Gpt2Config, ModelConfig } from '../engine/modelConfig.ts';
import { writeSafetensors } from '../engine/safetensors.ts';
import type { ExportModel } from './exportModel.ts';

const ARCHITECTURES: Record<string, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** Keys a source config may carry that would make transformers load the saved folder differently. */
const DROPPED_KEYS = ['quantization_config', '_model_name_or_path', '_name_or_path', 'torch_dtype', 'architectures', 'auto_map'];

/** config.json for merged float32 weights (a GGUF-sourced config's quantization_config would make transformers look for a GGUF). */
export function mergedConfig(c: ModelConfig): Record<string, unknown> {
  const rest: Record<string, unknown> = { ...c };
  for (const k of DROPPED_KEYS) delete rest[k];
  return { architectures: [ARCHITECTURES[c.model_type] ?? 'LlamaForCausalLM'], ...rest, dtype: 'float32' };
}

/** Writes `model` into the (existing, empty) folder `dir`; returns the file names written. */
export function writeMergedFolder(dir: string, model: ExportModel): string[] {
  const c = model.config;
  const saved = c.model_type === 'gpt2' ? gpt2Checkpoint(c as Gpt2Config, model.weights) : { tensors: model.weights, config: mergedConfig(c) };
  writeSafetensors(join(dir, 'model.safetensors'), saved.tensors, { format: 'pt' });
  const written = ['model.safetensors', 'config.json'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(saved.config, null, 2) + '\n');
  for (const [name, text] of model.tokenizerFiles) {
    writeFileSync(join(dir, name), text);
    written.push(name);
  }
  if (model.chatTemplateIsFallback) {
    writeFileSync(join(dir, 'chat_template.jinja'), model.chatTemplate);
    written.push('chat_template.jinja');
  }
  if (!model.tokenizerFiles.has('generation_config.json')) {
    const stops = model.tokenizer.stopIds;
    const generation = { eos_token_id: stops.length === 1 ? stops[0] : stops, pad_token_id: model.tokenizer.padId, ...(model.tokenizer.bosId !== undefined ? { bos_token_id: model.tokenizer.bosId } : {}) };
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generation, null, 2) + '\n');
    written.push('generation_config.json');
  }
  return written.sort();
}
