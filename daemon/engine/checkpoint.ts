// Checkpoints and final outputs on disk. A checkpoint holds everything a resumed run needs to
// continue the same loss curve: trainable weights (the adapter only, for LoRA), AdamW moments, the
// step, the data position and counters. Folders are written under a temporary name and renamed,
// so a crash never leaves a half-written `step-N/`.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LoraConfig, Stage, TrainingArguments } from '../../core/recipe/types.ts';
import type * as tf from '@tensorflow/tfjs-core';
import { gpt2Checkpoint } from './gpt2Config.ts';
import type { LoraAdapter } from './lora.ts';
import type { LlamaModel } from './model.ts';
import type { AdamWState } from './optim.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.ts';

/** trainer_state.json: where training stands. */
export interface TrainerState {
  /** The stage that wrote it (absent in checkpoints written before there were other stages: sft). */
  stage?: Stage;
  step: number;
  /** Micro-batches consumed so far (the data position). */
  micro: number;
  epoch: number;
  numTokens: number;
  totalSteps: number;
  seed: number;
  model: string;
  lora: LoraConfig | null;
  args: TrainingArguments;
  /** The eval loss measured at this step, when the run evaluated at it (how the best checkpoint is found). */
  evalLoss?: number;
}

function tensorsOf(params: Map<string, { shape: number[]; dataSync(): unknown }>): Map<string, NamedTensor> {
  return new Map([...params].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]));
}

/** Writes `dir` atomically: `fill` writes into a temporary sibling that is then renamed into place. */
export function writeFolderAtomically(dir: string, fill: (tmp: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    // A failed write (disk full) must not leave a half-written folder holding the space.
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A stage's heads other than a reward model's score (PPO's value head) are kept in this file beside the
 * weights, under their own names, so the model stays what it is (a causal LM, or its adapter) for
 * transformers and PEFT; a resumed run reads them back with the rest.
 */
export const EXTRA_HEADS_FILE = 'value_head.safetensors';

/**
 * Weights a trained model is saved as: adapter (PEFT) or full model (HF folder). With a `head` holding
 * a reward model's score.weight the model is a sequence classifier: PEFT's SEQ_CLS adapter with the
 * head as a module to save (base_model.model.score.weight), or LlamaForSequenceClassification with
 * num_labels 1 and no LM head, so transformers and PEFT load either as they would their own. Any
 * other head goes to EXTRA_HEADS_FILE.
 */
export function writeWeights(dir: string, model: LlamaModel, lora: LoraAdapter | null, baseName: string, heads: Map<string, tf.Variable> | null = null): void {
  const head = heads?.has('score.weight') ? heads : null;
  if (heads && !head) writeSafetensors(join(dir, EXTRA_HEADS_FILE), tensorsOf(heads), { format: 'pt' });
  if (lora) {
    const tensors = lora.peftTensors();
    for (const [name, t] of tensorsOf(head ?? new Map())) tensors.set(`base_model.model.${name}`, t);
    writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    const config = lora.peftConfig(baseName);
    if (head) Object.assign(config, { task_type: 'SEQ_CLS', modules_to_save: [...new Set([...head.keys()].map((n) => n.split('.')[0]!))] });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  } else if (head) {
    const c = model.config;
    if (c.model_type === 'gpt2') throw new Error('Saving a GPT-2 reward model is not supported; train it with LoRA (its adapter and head are saved for PEFT).');
    const tensors = new Map([...tensorsOf(model.params)].filter(([name]) => name !== 'lm_head.weight'));
    for (const [name, t] of tensorsOf(head)) tensors.set(name, t);
    writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
    const config = { ...c, architectures: ['LlamaForSequenceClassification'], torch_dtype: 'float32', num_labels: 1, id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  } else {
    const c = model.config;
    const tensors = tensorsOf(model.params);
    // GPT-2's checkpoint layout differs from the engine's (Conv1D weights [in, out], its own size keys).
    const saved = c.model_type === 'gpt2' ? gpt2Checkpoint(c, tensors) : { tensors, config: { architectures: ['LlamaForCausalLM'], torch_dtype: 'float32', ...c } };
    writeSafetensors(join(dir, 'model.safetensors'), saved.tensors, { format: 'pt' });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(saved.config, null, 2));
  }
}

/** Saves checkpoint `runDir/checkpoints/step-N/`; returns its path. */
export function saveCheckpoint(
  runDir: string,
  state: TrainerState,
  model: LlamaModel,
  lora: LoraAdapter | null,
  optimizer: AdamWState,
  baseName: string,
  head: Map<string, tf.Variable> | null = null,
): string {
  const dir = join(runDir, 'checkpoints', `step-${state.step}`);
  writeFolderAtomically(dir, (tmp) => {
    writeWeights(tmp, model, lora, baseName, head);
    const moments = new Map<string, NamedTensor>();
    const shapes = new Map([...(lora ? lora.params : model.params), ...(head ?? [])]);
    for (const [k, m] of optimizer.m) moments.set(`m.${k}`, { shape: shapes.get(k)!.shape, data: m });
    for (const [k, v] of optimizer.v) moments.set(`v.${k}`, { shape: shapes.get(k)!.shape, data: v });
    writeSafetensors(join(tmp, 'optimizer.safetensors'), moments, { adam_step: String(optimizer.step) });
    writeFileSync(join(tmp, 'trainer_state.json'), JSON.stringify(state, null, 2));
  });
  return dir;
}

/**
 * Applies `save_total_limit` as TRL does: keeps the newest `limit` checkpoints of `runDir`, and the
 * best one by eval loss (from its trainer_state.json) when any was evaluated; removes the others.
 * 0 keeps all. Returns the steps removed.
 */
export function pruneCheckpoints(runDir: string, limit: number): number[] {
  if (!(limit > 0)) return [];
  const dir = join(runDir, 'checkpoints');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const steps = names.map((n) => /^step-(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
  if (steps.length <= limit) return [];
  const keep = new Set(steps.slice(-limit));
  let best: { step: number; loss: number } | undefined;
  for (const step of steps) {
    try {
      const loss = (JSON.parse(readFileSync(join(dir, `step-${step}`, 'trainer_state.json'), 'utf8')) as TrainerState).evalLoss;
      if (typeof loss === 'number' && Number.isFinite(loss) && (!best || loss < best.loss)) best = { step, loss };
    } catch {
      /* no state: not a candidate for best */
    }
  }
  if (best) keep.add(best.step);
  const removed: number[] = [];
  for (const step of steps) {
    if (keep.has(step)) continue;
    try {
      rmSync(join(dir, `step-${step}`), { recursive: true, force: true });
      removed.push(step);
    } catch {
      /* cannot remove (permissions): it stays, and the next save tries again */
    }
  }
  return removed;
}

/** Reads a checkpoint folder back: state, trainable weights (HF or PEFT names) and optimizer state. */
export function readCheckpoint(dir: string): { state: TrainerState; weights: Map<string, NamedTensor>; optimizer: AdamWState } {
  const statePath = join(dir, 'trainer_state.json');
  if (!existsSync(statePath)) throw new Error(`${dir} is not a checkpoint (no trainer_state.json); resume from a checkpoints/step-N folder.`);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as TrainerState;
  const weightsFile = state.lora ? 'adapter_model.safetensors' : 'model.safetensors';
  const weights = readSafetensors(join(dir, weightsFile)).tensors;
  // Extra heads under the names the trainable weights have in this checkpoint (PEFT's prefix for an adapter).
  if (existsSync(join(dir, EXTRA_HEADS_FILE))) {
    for (const [name, t] of readSafetensors(join(dir, EXTRA_HEADS_FILE)).tensors) weights.set(state.lora ? `base_model.model.${name}` : name, t);
  }
  const opt = readSafetensors(join(dir, 'optimizer.safetensors'));
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [k, t] of opt.tensors) (k.startsWith('m.') ? m : v).set(k.slice(2), t.data);
  return { state, weights, optimizer: { step: Number(opt.metadata.adam_step ?? state.step), m, v } };
}
