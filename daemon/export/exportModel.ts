// The model an export writes, on the host in float32: a full fine-tune's weights as saved, or a LoRA
// adapter folded into its base (W + (alpha / r) * B A, PEFT's merge_and_unload), with the tokenizer
// and the chat template the run trained with. No tfjs: the merge is a plain host matmul per module.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterBaseModel } from '../../core/modelRef.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { CHATML_TEMPLATE, pickChatTemplate } from '../../core/tokenize/template.ts';
import type { ChatTokenizer } from '../../core/tokenize/types.ts';
import { loadTokenizerFromFolder, tinyTokenizer, tinyTokenizerFiles } from '../../core/tokenize/index.ts';
import { targetModules } from '../engine/lora.ts';
import type { ModelConfig } from '../engine/modelConfig.ts';
import { openModelSource, readModelFolder } from '../engine/modelSource.ts';
import { readPeftAdapter } from '../engine/peftAdapter.ts';
import type { NamedTensor } from '../engine/safetensors.ts';
import { resolveModel } from '../models/hub.ts';
import type { ExportSource } from './source.ts';

export interface ExportModel {
  config: ModelConfig;
  /** Every parameter under its Hugging Face name, [out, in] linears (GPT-2's too, as the engine keeps them). */
  weights: Map<string, NamedTensor>;
  tokenizer: ChatTokenizer;
  /** tokenizer.json, tokenizer_config.json, ... as the run saved them (name -> text). */
  tokenizerFiles: Map<string, string>;
  /** The Jinja chat template training rendered conversations with. */
  chatTemplate: string;
  /** True when the tokenizer ships no template and training used Anneal's ChatML fallback. */
  chatTemplateIsFallback: boolean;
  /** The adapter that was folded in, when there was one. */
  merged: { modules: number; r: number; alpha: number; base: string } | null;
}

/** The chat template the tokenizer files hold (tokenizer_config.json's first, then chat_template.jinja, as loadChatTokenizer reads them), or undefined. */
export function chatTemplateOf(files: Map<string, string>): string | undefined {
  const config = files.get('tokenizer_config.json');
  let fromConfig: string | undefined;
  try {
    fromConfig = config === undefined ? undefined : pickChatTemplate(JSON.parse(config) as Record<string, unknown>);
  } catch {
    fromConfig = undefined;
  }
  return fromConfig ?? files.get('chat_template.jinja');
}

/** A reward model's weights are a classifier, not a language model: only its adapter can be exported. */
function refuseClassifier(source: ExportSource, what: string): never {
  throw new Error(`${source.label} is a reward model (a sequence classifier with a score head); ${what} exports a language model. Export it with --format peft, or load the folder with transformers' AutoModelForSequenceClassification.`);
}

/** The tokenizer (and its files) of the model a run started from, without loading its weights. */
async function tokenizerOf(model: string): Promise<{ tokenizer: ChatTokenizer; files: Map<string, string> }> {
  if (model === 'tiny') {
    const f = tinyTokenizerFiles();
    return { tokenizer: tinyTokenizer(), files: new Map([['tokenizer.json', JSON.stringify(f.tokenizerJson)], ['tokenizer_config.json', JSON.stringify(f.tokenizerConfig, null, 2)]]) };
  }
  const dir = (await resolveModel(model)).dir;
  return { tokenizer: loadTokenizerFromFolder(dir, nodeFiles), files: tokenizerFilesIn(dir) };
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'generation_config.json'];

function tokenizerFilesIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of TOKENIZER_FILES) if (existsSync(join(dir, f))) out.set(f, readFileSync(join(dir, f), 'utf8'));
  return out;
}

/**
 * W += scale * B A for every module the adapter targets (in place on `weights`); a LoRA on a tied
 * head unties it first (the embedding stays as it was). Throws when the adapter does not fit the model.
 */
export function mergeLora(config: ModelConfig, weights: Map<string, NamedTensor>, adapter: ReturnType<typeof readPeftAdapter>, dir: string): { config: ModelConfig; modules: number } {
  const scale = adapter.config.alpha / adapter.config.r;
  let merged = 0;
  let out = config;
  for (const module of targetModules(config, adapter.config)) {
    const a = adapter.tensors.get(`base_model.model.${module}.lora_A.weight`);
    const b = adapter.tensors.get(`base_model.model.${module}.lora_B.weight`);
    if (!a || !b) throw new Error(`${dir} has no LoRA weights for ${module}; it was made for another model (or with other target_modules).`);
    if (module === 'lm_head' && !weights.has('lm_head.weight')) {
      const embed = weights.get('model.embed_tokens.weight')!;
      weights.set('lm_head.weight', { shape: [...embed.shape], data: Float32Array.from(embed.data) });
      out = { ...out, tie_word_embeddings: false };
    }
    const w = weights.get(`${module}.weight`);
    if (!w) throw new Error(`The base model has no ${module}.weight for ${dir}'s LoRA weights.`);
    const [rows, cols] = w.shape as [number, number];
    const r = a.shape[0]!;
    if (a.shape.join() !== `${r},${cols}` || b.shape.join() !== `${rows},${r}`) {
      throw new Error(`${dir} was made for another base model: its ${module} LoRA is A [${a.shape}] B [${b.shape}], the weight is [${w.shape}]. Export with the base the adapter was trained on.`);
    }
    // Row by row: the r-vector scale * B[i, :] combines the rows of A; summed in float64, rounded once.
    const acc = new Float64Array(cols);
    for (let i = 0; i < rows; i++) {
      acc.fill(0);
      for (let k = 0; k < r; k++) {
        const coef = scale * b.data[i * r + k]!;
        if (coef === 0) continue;
        const row = k * cols;
        for (let j = 0; j < cols; j++) acc[j] += coef * a.data[row + j]!;
      }
      const at = i * cols;
      for (let j = 0; j < cols; j++) w.data[at + j] = w.data[at + j]! + acc[j]!;
    }
    merged++;
  }
  return { config: out, modules: merged };
}

/** Loads the weights `source` names, merging an adapter into its base; throws one sentence on failure. */
export async function loadExportModel(source: ExportSource, purpose: string): Promise<ExportModel> {
  if (source.kind === 'full') {
    const { config, weights, head } = readModelFolder(source.weightsDir);
    if (head) refuseClassifier(source, purpose);
    let files = tokenizerFilesIn(source.weightsDir);
    let tokenizer: ChatTokenizer;
    if (files.has('tokenizer.json')) tokenizer = loadTokenizerFromFolder(source.weightsDir, nodeFiles);
    else if (source.baseModel) ({ tokenizer, files } = await tokenizerOf(source.baseModel));
    else throw new Error(`${source.weightsDir} has no tokenizer.json and no run names the model it came from; copy the base model's tokenizer files into it.`);
    return withTemplate({ config, weights, tokenizer, tokenizerFiles: files, merged: null });
  }
  const adapter = readPeftAdapter(source.weightsDir);
  if (adapter.taskType === 'SEQ_CLS' || adapter.tensors.has('base_model.model.score.weight')) refuseClassifier(source, purpose);
  const base = adapterBaseModel(source.weightsDir, nodeFiles);
  const folder = await resolveModel(base);
  // The tiny base is drawn from the run's seed; a real base ignores it.
  const model = await openModelSource(folder.dir, source.seed);
  if (model.head) throw new Error(`The base model ${base} is a sequence classifier; ${purpose} exports a language model.`);
  const { config, modules } = mergeLora(model.config, model.weights, adapter, source.weightsDir);
  return withTemplate({
    config,
    weights: model.weights,
    tokenizer: model.tokenizer,
    tokenizerFiles: model.tokenizerFiles,
    merged: { modules, r: adapter.config.r, alpha: adapter.config.alpha, base },
  });
}

function withTemplate(m: Omit<ExportModel, 'chatTemplate' | 'chatTemplateIsFallback'>): ExportModel {
  const template = chatTemplateOf(m.tokenizerFiles);
  return { ...m, chatTemplate: template ?? CHATML_TEMPLATE, chatTemplateIsFallback: template === undefined };
}
