// The checks of `engine:`, `python:` and `accelerate:` (issue #12): what TRL + Accelerate cannot train,
// and launch settings that contradict each other. The TRL engine itself (daemon/trl) checks the rest
// (the Python's packages, and every key against TRL's config classes) before it launches.

import type { Range } from '../diagnostics.ts';
import type { RecipeCode } from './codes.ts';
import { hasKey, keyRange, valueRange, type RecipeDocument } from './document.ts';
import type { Stage } from './types.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why TRL 1.16 cannot train a stage, or undefined. */
export function trlStageRefusal(stage: Stage): string | undefined {
  return stage === 'ppo'
    ? 'TRL 1.16 has no PPO trainer (TRL removed it after 1.12); train PPO on Anneal\'s engine (remove `engine: trl`), or use GRPO with a reward model as its reward.'
    : undefined;
}

/** Diagnostics of the engine keys. */
export function engineDiagnostics(
  document: RecipeDocument,
  recipe: Obj,
  stage: Stage | undefined,
  add: (code: RecipeCode, message: string, range: Range) => void,
): void {
  const trl = recipe.engine === 'trl';
  if (!trl) {
    for (const key of ['python', 'accelerate']) {
      if (hasKey(document, [key])) add('recipe-key-unused', `\`${key}\` is only read by the TRL engine; add \`engine: trl\` (or train with \`--engine trl\`) or remove it.`, keyRange(document, [key]));
    }
    return;
  }
  const refusal = stage ? trlStageRefusal(stage) : undefined;
  if (refusal) add('recipe-invalid-value', refusal, valueRange(document, ['engine']));
  if (recipe.model === 'tiny') {
    add('recipe-invalid-value', 'The built-in `tiny` model is Anneal\'s own; TRL needs a Hugging Face model (a folder, a .gguf file or a Hub id `org/name`) — change `model` or remove `engine: trl`.', valueRange(document, ['model']));
  }
  const launch = isObj(recipe.accelerate) ? recipe.accelerate : undefined;
  if (launch?.use_deepspeed === true && launch.use_fsdp === true) {
    add('recipe-invalid-value', 'Accelerate shards with DeepSpeed or FSDP, not both; remove one of `use_deepspeed` and `use_fsdp`.', keyRange(document, ['accelerate', 'use_fsdp']));
  }
  if (launch?.zero_stage !== undefined && launch.use_deepspeed !== true) {
    add('recipe-key-unused', '`zero_stage` is DeepSpeed\'s; add `use_deepspeed: true` or remove it.', keyRange(document, ['accelerate', 'zero_stage']));
  }
  if (launch?.cpu === true && typeof launch.mixed_precision === 'string' && launch.mixed_precision !== 'no') {
    add('recipe-invalid-value', `mixed_precision ${launch.mixed_precision} needs a GPU; with \`cpu: true\` use \`mixed_precision: no\`.`, valueRange(document, ['accelerate', 'mixed_precision']));
  }
}

/** engine trl: a reward `file` is a Python module (TRL calls it in the training processes). */
export function pythonRewardFileDiagnostics(
  written: string,
  path: string,
  files: { exists(path: string): boolean; isDirectory(path: string): boolean },
  range: Range,
  add: (code: RecipeCode, message: string, range: Range) => void,
): void {
  if (!files.exists(path)) {
    add('recipe-reward-file-missing', `Reward module \`${written}\` not found (looked in ${path}); fix the path or use a built-in reward name.`, range);
  } else if (files.isDirectory(path) || !path.toLowerCase().endsWith('.py')) {
    add(
      'recipe-reward-module-invalid',
      `\`${written}\` is ${files.isDirectory(path) ? 'a folder' : 'not a Python file'}; with \`engine: trl\` a reward \`file\` is a Python module defining \`reward(prompts, completions, **kwargs)\` (TRL calls it), or use a built-in reward.`,
      range,
    );
  }
}
