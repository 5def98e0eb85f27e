// The stage a recipe file trains, for `anneal train --config RECIPE` without a STAGE: its `stage:`, or
// a pipeline's first (the daemon runs them all). The daemon checks the recipe itself; this only reads it.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** The recipe's `stage`, or its first `stages:` item's; undefined when the file says neither (or cannot be read). */
export function stageOfRecipe(path: string): string | undefined {
  let value: unknown;
  try {
    value = parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const recipe = value as { stage?: unknown; stages?: unknown };
  const first = Array.isArray(recipe.stages) ? (recipe.stages[0] as { stage?: unknown } | undefined) : undefined;
  const stage = first?.stage ?? recipe.stage;
  return typeof stage === 'string' ? stage : undefined;
}
