// A checked recipe turned into what a run needs: every default filled, every path absolute.

import type { FileAccess } from '../fileAccess.ts';
import { stageRef } from './pipeline.ts';
import { hubRefOf } from '../hubCache.ts';
import { DEFAULT_LORA, DEFAULT_SAMPLES, defaultTrainingArguments } from './defaults.ts';
import { TRAINING_ARGUMENT_KEYS } from './schema.ts';
import { resolveFrom } from './files.ts';
import { readExports } from './exportBlock.ts';
import type { RecipeOverrides } from './semantic.ts';
import type { Recipe, ResolvedRecipe, RewardSpec, SamplesConfig, TrainingArguments } from './types.ts';

/**
 * Fill TRL's defaults into a schema-valid recipe and make its paths absolute (relative to `recipeFile`).
 * With `files`, a Hub model id (`org/name[@revision]` that is no existing path) stays an id.
 */
export function applyDefaults(recipe: Recipe, recipeFile: string, overrides: RecipeOverrides = {}, files?: FileAccess): ResolvedRecipe {
  const args = defaultTrainingArguments(recipe.stage) as unknown as Record<string, unknown>;
  for (const key of TRAINING_ARGUMENT_KEYS) {
    const v = (recipe as unknown as Record<string, unknown>)[key];
    if (v !== undefined) args[key] = v;
  }
  // PPO's reward model: a folder relative to the recipe, or a Hub id (like the recipe's own model).
  if (typeof args.reward_model_path === 'string' && stageRef(args.reward_model_path) === undefined) {
    const path = resolveFrom(recipeFile, args.reward_model_path);
    args.reward_model_path = files && hubRefOf(args.reward_model_path, path, files) ? args.reward_model_path : path;
  }
  // TRL: eval_steps left unset follows logging_steps.
  if (recipe.eval_steps === undefined) args.eval_steps = args.logging_steps;
  const modelPath = resolveFrom(recipeFile, recipe.model);
  // `@name`: a pipeline stage's output (pipeline.ts), known once that stage has run.
  const model = overrides.model ?? (recipe.model === 'tiny' || stageRef(recipe.model) !== undefined || (files && hubRefOf(recipe.model, modelPath, files)) ? recipe.model : modelPath);
  const data = overrides.data ?? {
    train: resolveFrom(recipeFile, recipe.data.train),
    ...(recipe.data.eval !== undefined ? { eval: resolveFrom(recipeFile, recipe.data.eval) } : {}),
  };
  const resolved: ResolvedRecipe = {
    stage: recipe.stage,
    model,
    data,
    args: args as unknown as TrainingArguments,
    lora: recipe.lora ? { ...DEFAULT_LORA, ...recipe.lora } : null,
  };
  if (recipe.samples?.prompts) resolved.samples = { ...DEFAULT_SAMPLES, ...recipe.samples } as SamplesConfig;
  if (recipe.output_dir !== undefined) resolved.output_dir = resolveFrom(recipeFile, recipe.output_dir);
  if (recipe.rewards) {
    const weights = recipe.reward_weights;
    resolved.rewards = recipe.rewards.map((r, i): RewardSpec => {
      const spec: RewardSpec = typeof r === 'string' ? { name: r } : { ...(r as RewardSpec) };
      if (spec.weight === undefined && weights?.[i] !== undefined) spec.weight = weights[i];
      if (spec.file !== undefined) spec.file = resolveFrom(recipeFile, spec.file);
      if (spec.model !== undefined && stageRef(spec.model) === undefined) {
        // Like the recipe's own model: a Hub id that is no existing path stays an id.
        const path = resolveFrom(recipeFile, spec.model);
        spec.model = files && hubRefOf(spec.model, path, files) ? spec.model : path;
      }
      return spec;
    });
  }
  if (recipe.gates !== undefined) resolved.gates = recipe.gates;
  if (recipe.export !== undefined) resolved.exports = readExports(recipe.export).exports.map((e) => (e.out !== undefined ? { ...e, out: resolveFrom(recipeFile, e.out) } : e));
  if (recipe.engine === 'trl') resolved.engine = 'trl';
  // Kept whatever `engine` says: `anneal train --engine trl` may choose TRL for a recipe that does not.
  {
    // A path (it has a slash) is relative to the recipe; a bare name is a command on PATH.
    if (recipe.python !== undefined) resolved.python = /[\\/]/.test(recipe.python) ? resolveFrom(recipeFile, recipe.python) : recipe.python;
    if (recipe.accelerate !== undefined) {
      resolved.accelerate = { ...recipe.accelerate };
      if (recipe.accelerate.config_file !== undefined) resolved.accelerate.config_file = resolveFrom(recipeFile, recipe.accelerate.config_file);
    }
  }
  return resolved;
}
