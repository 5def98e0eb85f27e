// The recipe diagnostic catalogue: every code checkRecipe can emit, with its fixed severity.
// Codes are a public contract (CLI --json, quick fixes, docs/recipe-diagnostics.md); never rename one.

import type { Severity } from '../diagnostics.ts';

export const RECIPE_CODES = {
  // Syntax and schema
  'recipe-yaml-syntax': 'error',
  'recipe-duplicate-key': 'error',
  'recipe-not-mapping': 'error',
  'recipe-unknown-key': 'error',
  'recipe-wrong-type': 'error',
  'recipe-missing-key': 'error',
  'recipe-invalid-value': 'error',
  // Files the recipe points at
  'recipe-data-missing': 'error',
  'recipe-data-invalid': 'warning',
  'recipe-stage-data-mismatch': 'error',
  'recipe-reward-column-missing': 'error',
  'recipe-reward-file-missing': 'error',
  'recipe-reward-unknown': 'error',
  'recipe-reward-module-invalid': 'error',
  'recipe-reward-no-function': 'error',
  'recipe-reward-model-missing': 'error',
  'recipe-reward-model-no-head': 'error',
  'recipe-reward-source-conflict': 'error',
  'recipe-model-missing': 'error',
  'recipe-model-incomplete': 'error',
  'recipe-model-hub-cached': 'info',
  'recipe-model-hub-download': 'info',
  'recipe-max-length-context': 'warning',
  // Settings that work against each other
  'recipe-rewards-missing': 'error',
  'recipe-reward-weights-both': 'error',
  'recipe-reward-weight-zero': 'info',
  'recipe-key-unused': 'info',
  'recipe-eval-steps-without-eval': 'warning',
  'recipe-warmup-both': 'info',
  'recipe-4bit-needs-lora': 'error',
  'recipe-generations-batch': 'warning',
  // Pipelines (stages:, pipeline.ts)
  'recipe-pipeline-invalid': 'error',
  // Gates (seed 004's entry, exit and rollback conditions; core/gates)
  'recipe-gate-invalid': 'error',
  'recipe-gate-unknown-metric': 'warning',
  // Export (`export:`, exportBlock.ts)
  'recipe-export-invalid': 'error',
  // Ranges from the post-training guides
  'recipe-lr-range': 'warning',
  'recipe-beta-range': 'warning',
  'recipe-epochs-range': 'warning',
  'recipe-generations-range': 'warning',
  'recipe-temperature-range': 'warning',
  'recipe-lora-alpha': 'info',
  'recipe-effective-batch': 'warning',
} as const satisfies Record<string, Severity>;

export type RecipeCode = keyof typeof RECIPE_CODES;
