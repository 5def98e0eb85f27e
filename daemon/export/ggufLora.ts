// `--format gguf-lora`: a run's LoRA adapter as a GGUF adapter file, the format llama.cpp's
// convert_lora_to_gguf.py writes and `llama-cli --lora` / Ollama's ADAPTER load on top of a GGUF of the
// base model: metadata general.type = adapter, adapter.type = lora, adapter.lora.alpha (llama.cpp scales
// by alpha / r, r read from the tensors), and for each adapted matrix `<its GGUF name>.lora_a` (PEFT's
// A, [r, in]) and `.lora_b` (B, [out, r]). On Llama, B's rows of q_proj/k_proj are reordered within
// each head as the base's q/k rows are (ggufModel.ts permuteRows), since B's rows are the weight's
// output rows. A stays in the input order, which the base's permutation does not touch.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { adapterBaseModel } from '../../core/modelRef.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { isGgufPath, parseOllamaRef } from '../../core/ollamaStore.ts';
import { loadChatTokenizer } from '../../core/tokenize/chatTokenizer.ts';
import { tokenizerFilesFromGguf } from '../../core/tokenize/gguf.ts';
import { GGML } from '../engine/dequantize.ts';
import { ggufConfig, readGgufHeader } from '../engine/gguf.ts';
import { targetModules } from '../engine/lora.ts';
import { normalizeConfig } from '../engine/model.ts';
import { readModelConfig, type LlamaConfig, type ModelConfig } from '../engine/modelConfig.ts';
import { openModelSource, tinyConfig } from '../engine/modelSource.ts';
import { readPeftAdapter } from '../engine/peftAdapter.ts';
import { resolveModel } from '../models/hub.ts';
import { ggufArchitecture, ggufTensorName, permuteRows } from './ggufModel.ts';
import { encodedSize, encodeTensor, type QuantType } from './ggufQuant.ts';
import { gv, writeGguf, type GgufTensorSpec, type GgufValue } from './ggufWriter.ts';
import { ollamaModelfile } from './modelfile.ts';

/** The base model's config, read without its weights where the base's format allows. */
async function baseConfig(base: string, seed: number): Promise<ModelConfig> {
  if (base === 'tiny') return tinyConfig();
  if (isGgufPath(base) && existsSync(base)) return normalizeConfig(ggufConfig(await readGgufHeader(base)));
  const dir = (await resolveModel(base)).dir;
  if (existsSync(join(dir, 'config.json'))) return readModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
  return (await openModelSource(base, seed)).config;
}

export interface GgufLoraExport {
  files: string[];
  notes: string[];
  /** The base model the adapter goes on (as adapter_config.json names it). */
  base: string;
  r: number;
  alpha: number;
  modules: number;
}

/** GGUF adapter tensors for the adapter in `adapterDir` on a base of `config`; throws one sentence when llama.cpp could not apply it. */
export function ggufLoraTensors(config: ModelConfig, adapter: ReturnType<typeof readPeftAdapter>, adapterDir: string, quant: QuantType): GgufTensorSpec[] {
  const arch = ggufArchitecture(config);
  const c = config as LlamaConfig;
  const tensors: GgufTensorSpec[] = [];
  const type = quant.name === 'f32' ? GGML.F32 : GGML.F16;
  for (const module of targetModules(config, adapter.config)) {
    if (module === 'lm_head' && c.tie_word_embeddings) {
      throw new Error(`${adapterDir} adapts the head, which this base shares with the embedding; a GGUF of the base has no output.weight for llama.cpp to apply it to. Export --format gguf (the adapter merged) instead.`);
    }
    const name = ggufTensorName(`${module}.weight`);
    const a = adapter.tensors.get(`base_model.model.${module}.lora_A.weight`);
    const b = adapter.tensors.get(`base_model.model.${module}.lora_B.weight`);
    if (!name || !a || !b) throw new Error(`${adapterDir} has no LoRA weights for ${module}; it was made for another model (or with other target_modules).`);
    const heads = arch !== 'llama' ? 0 : module.endsWith('self_attn.q_proj') ? c.num_attention_heads : module.endsWith('self_attn.k_proj') ? c.num_key_value_heads : 0;
    const [rows, r] = b.shape as [number, number];
    const bData = heads ? permuteRows(b.data, rows, r, heads) : b.data;
    for (const [suffix, t, data] of [['lora_a', a, a.data], ['lora_b', b, bData]] as const) {
      tensors.push({ name: `${name}.${suffix}`, shape: [...t.shape], type, byteLength: encodedSize(type, t.data.length), encode: () => encodeTensor(data, type) });
    }
  }
  return tensors;
}

/**
 * Writes `fileName` (the adapter as GGUF) into `dir`, and a Modelfile (FROM the base, ADAPTER this
 * file) when the base is a GGUF file or an Ollama model; otherwise a note says what to pair it with.
 */
export async function writeGgufLoraExport(dir: string, fileName: string, adapterDir: string, seed: number, quant: QuantType, onTensor?: (done: number, total: number) => void): Promise<GgufLoraExport> {
  const adapter = readPeftAdapter(adapterDir);
  if (adapter.taskType === 'SEQ_CLS' || adapter.tensors.has('base_model.model.score.weight')) {
    throw new Error(`${adapterDir} is a reward model's adapter (with a score head); llama.cpp applies adapters to language models. Export it with --format peft.`);
  }
  const base = adapterBaseModel(adapterDir, nodeFiles);
  const config = await baseConfig(base, seed);
  const tensors = ggufLoraTensors(config, adapter, adapterDir, quant);
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', gv.str(ggufArchitecture(config))],
    ['general.type', gv.str('adapter')],
    ['general.name', gv.str(fileName.replace(/\.gguf$/, ''))],
    ['general.file_type', gv.u32(quant.fileType)],
    ['adapter.type', gv.str('lora')],
    ['adapter.lora.alpha', gv.f32(adapter.config.alpha)],
  ]);
  writeGguf(join(dir, fileName), metadata, tensors, onTensor);
  const files = [fileName];
  const notes: string[] = [];
  if (isGgufPath(base) && existsSync(base)) {
    // The base's own tokenizer and template: the Modelfile renders turns as the base GGUF's template does.
    const header = await readGgufHeader(base);
    const { tokenizerJson, tokenizerConfig } = tokenizerFilesFromGguf(header.metadata);
    const tokenizer = loadChatTokenizer(tokenizerJson, tokenizerConfig);
    const modelfile = ollamaModelfile(resolve(base), tokenizer, header.metadata['tokenizer.ggml.add_bos_token'] === true);
    writeFileSync(join(dir, 'Modelfile'), `${modelfile.text}ADAPTER ./${fileName}\n`);
    files.push('Modelfile');
    notes.push(...modelfile.notes);
  } else if (!existsSync(base) && parseOllamaRef(base)) {
    // An Ollama model as the base: FROM its name, and Ollama keeps that model's template and stops.
    const name = base.replace(/^ollama:/, '');
    writeFileSync(join(dir, 'Modelfile'), `# Ollama Modelfile written by \`anneal export\`: \`ollama create NAME -f Modelfile\` in this folder.\nFROM ${name}\nADAPTER ./${fileName}\n`);
    files.push('Modelfile');
  } else {
    const how = base === 'tiny' ? 'the built-in tiny model has no file of its own' : `export ${basename(base)} with \`anneal export <its folder> --format gguf --quant f16\``;
    notes.push(`llama.cpp applies this adapter to a GGUF of its base ${base} (\`llama-cli -m BASE.gguf --lora ${fileName}\`); ${how}, and no Modelfile was written since Ollama needs that file in FROM`);
  }
  return { files, notes, base, r: adapter.config.r, alpha: adapter.config.alpha, modules: tensors.length / 2 };
}
