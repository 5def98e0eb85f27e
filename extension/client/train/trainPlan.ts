// What "Train" starts, decided from plain inputs: which recipe belongs to a dataset. Pure (no vscode).
// The settings and sample prompts of a recipe-less run are core/recipe/quickStart.ts's (the daemon and
// the CLI use the same ones).
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Stage } from '../../../core/recipe/types.ts';
import { rewardModules } from '../../../core/recipe/userCode.ts';

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
  /** Absolute paths of the reward modules it runs (workspace code: training it needs Workspace Trust); absent when none. */
  rewardModules?: string[];
}

/** The stage, data and reward modules a recipe names (paths resolved from its folder); empty when it does not parse. */
export function recipeFacts(text: string, recipePath: string): RecipeFacts {
  let value: unknown;
  try {
    // YAML 1.2 reads JSON too; merge keys as the recipe checker reads them, so `<<: *reward` hides no reward module.
    value = parseYaml(text, { merge: true });
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const v = value as { stage?: unknown; data?: { train?: unknown; eval?: unknown }; rewards?: unknown };
  const dir = dirname(recipePath);
  const facts: RecipeFacts = {};
  const modules = rewardModules(v.rewards, recipePath);
  if (modules.length > 0) facts.rewardModules = modules;
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
