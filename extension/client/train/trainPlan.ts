// What "Train" starts, decided from plain inputs: which recipe belongs to a dataset, the settings a
// recipe-less run of the built-in tiny model gets, and the prompts it samples. Pure (no vscode).
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { SamplesConfig, Stage, TrainingArguments } from '../../../core/recipe/types.ts';

/** Recipes are `*.anneal.yaml`, `*.anneal.yml` or `*.anneal.json`. */
export function isRecipePath(path: string): boolean {
  return /\.anneal\.(ya?ml|json)$/i.test(path);
}

/** Datasets are JSON Lines files. */
export function isDatasetPath(path: string): boolean {
  return /\.jsonl$/i.test(path);
}

export interface RecipeFacts {
  stage?: Stage;
  /** Absolute paths of the recipe's train and eval data. */
  train?: string;
  eval?: string;
}

/** The stage and data a recipe names (paths resolved from its folder); empty when it does not parse. */
export function recipeFacts(text: string, recipePath: string): RecipeFacts {
  let value: unknown;
  try {
    value = parseYaml(text); // YAML 1.2 reads JSON too
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const v = value as { stage?: unknown; data?: { train?: unknown; eval?: unknown } };
  const dir = dirname(recipePath);
  const facts: RecipeFacts = {};
  if (typeof v.stage === 'string') facts.stage = v.stage as Stage;
  if (typeof v.data?.train === 'string') facts.train = resolve(dir, v.data.train);
  if (typeof v.data?.eval === 'string') facts.eval = resolve(dir, v.data.eval);
  return facts;
}

/** Of the recipes beside a dataset, the one that trains `stage` on it (by name order), if any. */
export function recipeForDataset(
  datasetPath: string,
  stage: Stage,
  recipes: { path: string; text: string }[],
): string | undefined {
  const target = resolve(datasetPath);
  const matches = recipes
    .map((r) => ({ path: r.path, facts: recipeFacts(r.text, r.path) }))
    .filter((r) => r.facts.train === target && (r.facts.stage ?? 'sft') === stage)
    .map((r) => r.path)
    .sort();
  return matches[0];
}

/**
 * Settings for a recipe-less run. The built-in tiny model starts from random weights: TRL's 2e-5 would
 * leave its loss flat, so it gets the learning rate and schedule of examples/sft.anneal.yaml. A real
 * model keeps TRL's defaults. `maxSteps` (the `anneal.train.maxSteps` setting) caps any run.
 */
export function quickStartArgs(model: string, maxSteps: number): Partial<TrainingArguments> {
  const args: Partial<TrainingArguments> = {};
  if (model === 'tiny') {
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

/** Sampling for a recipe-less run: the first prompts of the data, every `everySteps` steps. */
export function quickStartSamples(prompts: string[], maxSteps: number): Partial<SamplesConfig> | undefined {
  if (prompts.length === 0) return undefined;
  const every = maxSteps > 0 ? Math.max(1, Math.min(25, Math.floor(maxSteps / 4))) : 25;
  return { prompts, every_steps: every, max_new_tokens: 24, temperature: 0.3, top_p: 0.9 };
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
