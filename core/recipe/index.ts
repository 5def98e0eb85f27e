// core/recipe: the recipe schema, its checks (schema + semantic) and defaults. See docs/recipe-diagnostics.md.

export { checkRecipe, resolveRecipe, type RecipeCheck, type ResolvedPipelineStage } from './check.ts';
export { expandPipeline, isPipeline, stageRef, type PipelineStage } from './pipeline.ts';
export { applyDefaults } from './resolve.ts';
export { defaultTrainingArguments, DEFAULT_LORA, DEFAULT_SAMPLES } from './defaults.ts';
export { recipeSchema, TRAINING_ARGUMENT_KEYS } from './schema.ts';
export { RECIPE_CODES, type RecipeCode } from './codes.ts';
export type { RecipeOverrides } from './semantic.ts';
export type { Recipe, ResolvedRecipe, RewardSpec, TrainingArguments, LoraConfig, SamplesConfig, Stage } from './types.ts';
