// A recipe-less run ("Train SFT" on a dataset, `anneal train sft --data X --model tiny`): the settings
// it gets and the prompts it samples. One owner, so the editor and the CLI start the same run.

import { DEFAULT_LORA } from './defaults.ts';
import type { LoraConfig, SamplesConfig, Stage, TrainingArguments } from './types.ts';

/**
 * Settings for a recipe-less run. The built-in tiny model starts from random weights: TRL's 2e-5 would
 * leave its loss flat, so it gets the learning rate and schedule of examples/sft.anneal.yaml. A
 * pretrained model gets LoRA (see `quickStartLora`) with a LoRA learning rate, and a batch and length
 * that fit a laptop's memory. `maxSteps` (the `anneal.train.maxSteps` setting) caps any run.
 */
export function quickStartArgs(model: string, maxSteps: number, stage: Stage = 'sft'): Partial<TrainingArguments> {
  const args: Partial<TrainingArguments> = {};
  if (model !== 'tiny') Object.assign(args, PRETRAINED_ARGS, PREFERENCE_STAGES.includes(stage) ? PRETRAINED_PREFERENCE_ARGS : {});
  if (model === 'tiny' && PREFERENCE_STAGES.includes(stage)) {
    // examples/dpo.anneal.yaml's settings: the tiny model moves at a from-scratch rate.
    Object.assign(args, { learning_rate: 5e-4, per_device_train_batch_size: 8, logging_steps: 5 } satisfies Partial<TrainingArguments>);
  } else if (model === 'tiny') {
    Object.assign(args, {
      learning_rate: 5e-3,
      lr_scheduler_type: 'cosine',
      warmup_ratio: 0.05,
      weight_decay: 0.01,
      per_device_train_batch_size: 16,
      logging_steps: 5,
    } satisfies Partial<TrainingArguments>);
  }
  if (maxSteps > 0) {
    args.max_steps = maxSteps;
    if (model === 'tiny') args.logging_steps = Math.max(1, Math.min(5, Math.floor(maxSteps / 20)));
  }
  return args;
}

// Full fine-tuning of even a 135M model needs weights + gradients + two Adam moments (4x the weights)
// plus activations, and TRL's 2e-5 learning rate barely moves LoRA adapters. LoRA r=16 on every linear
// layer at 2e-4 (the usual LoRA rate, 10x TRL's full-tuning default) learns within a few dozen steps;
// batch 4 x 512 tokens. Each layer recomputed in the backward pass (gradient_checkpointing) keeps a
// step of SmolLM2-135M near 3 GB (about 7.5 GB without it on native TensorFlow, more than wasm's 4 GB
// heap), for about a third more time per step, so it is on only where a step would not otherwise fit:
// the engine decides from its memory estimate and the run's real batches (RunInfo.autoCheckpointing).
const PRETRAINED_ARGS = {
  gradient_checkpointing: true,
  learning_rate: 2e-4,
  lr_scheduler_type: 'cosine',
  warmup_ratio: 0.03,
  per_device_train_batch_size: 4,
  gradient_accumulation_steps: 1,
  max_length: 512,
  logging_steps: 1,
} satisfies Partial<TrainingArguments>;

/** Stages that compare a chosen with a rejected completion: a learning rate well below SFT's (the seeds: "lr below SFT's"). */
const PREFERENCE_STAGES: readonly Stage[] = ['dpo', 'kto', 'orpo', 'cpo', 'simpo'];

// Preference optimisation with LoRA moves the policy away from its reference on purpose, slowly: 5e-5
// is the usual LoRA rate for DPO (TRL's 1e-6 is for full fine-tuning), and each pair is two sequences,
// so half the SFT batch gives the same memory.
const PRETRAINED_PREFERENCE_ARGS = {
  learning_rate: 5e-5,
  per_device_train_batch_size: 2,
} satisfies Partial<TrainingArguments>;

/** LoRA for a recipe-less run on a pretrained model (null for `tiny`, which trains from scratch). */
export function quickStartLora(model: string): LoraConfig | null {
  return model === 'tiny' ? null : { ...DEFAULT_LORA };
}

/** What a recipe-less run chose for the user and why, for its log (empty when there is nothing to say). */
export function quickStartNotes(model: string, stage: Stage = 'sft'): string[] {
  if (model === 'tiny') return [];
  const a = { ...PRETRAINED_ARGS, ...quickStartArgs(model, 0, stage) };
  const l = DEFAULT_LORA;
  return [
    `no recipe: LoRA r=${l.r}, alpha=${l.alpha}, dropout=${l.dropout} on all linear layers (full fine-tuning needs about 4x the weights' memory for gradients and Adam, and rarely helps a small dataset)`,
    `no recipe: learning_rate=${a.learning_rate} with ${a.lr_scheduler_type} decay and ${a.warmup_ratio * 100}% warmup (a LoRA rate for ${stage}; TRL's ${stage === 'sft' ? '2e-5' : '1e-6'} is for full fine-tuning), batch ${a.per_device_train_batch_size} x max_length ${a.max_length} tokens, with layers recomputed in the backward pass (gradient_checkpointing) only if a step would not fit in memory otherwise; write a recipe (*.anneal.yaml) to change any of these`,
  ];
}

/** Sampling for a recipe-less run: the first prompts of the data, every `everySteps` steps. */
export function quickStartSamples(prompts: string[], maxSteps: number, model = 'tiny'): Partial<SamplesConfig> | undefined {
  if (prompts.length === 0) return undefined;
  const every = maxSteps > 0 ? Math.max(1, Math.min(25, Math.floor(maxSteps / 4))) : 25;
  // A pretrained model answers in sentences: give it room.
  return { prompts, every_steps: every, max_new_tokens: model === 'tiny' ? 24 : 64, temperature: 0.3, top_p: 0.9 };
}

function lastUserText(turns: unknown): string | undefined {
  if (typeof turns === 'string') return turns;
  if (!Array.isArray(turns)) return undefined;
  for (let i = turns.length - 1; i >= 0; i--) {
    const m = turns[i] as { role?: unknown; content?: unknown };
    if (m && m.role === 'user' && typeof m.content === 'string') return m.content;
  }
  return undefined;
}

/** Up to `max` distinct prompts from the first records of a JSONL text (messages, prompt, instruction). */
export function samplePrompts(text: string, max = 2, maxChars = 200): string[] {
  const out: string[] = [];
  let start = 0;
  for (let lines = 0; lines < 200 && start < text.length && out.length < max; lines++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (!line) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof record !== 'object' || record === null) continue;
    let prompt: string | undefined;
    if (Array.isArray(record.messages)) {
      const firstAssistant = (record.messages as { role?: unknown }[]).findIndex((m) => m?.role === 'assistant');
      prompt = lastUserText(firstAssistant >= 0 ? record.messages.slice(0, firstAssistant) : record.messages);
    } else if (record.prompt !== undefined) {
      prompt = lastUserText(record.prompt);
    } else if (typeof record.instruction === 'string') {
      prompt = record.instruction;
    }
    if (prompt && prompt.length <= maxChars && !out.includes(prompt)) out.push(prompt);
  }
  return out;
}
