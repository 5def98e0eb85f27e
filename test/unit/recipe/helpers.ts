// Shared by the recipe tests: check a recipe text as if it sat in test/fixtures/recipe/.

import { fileURLToPath } from 'node:url';
import { nodeFiles } from '../../../core/nodeFiles.ts';
import { checkRecipe, type RecipeCheck, type RecipeOverrides } from '../../../core/recipe/index.ts';
import type { Diagnostic } from '../../../core/diagnostics.ts';

export const fixtureDir = fileURLToPath(new URL('../../fixtures/recipe/', import.meta.url));
export const recipePath = `${fixtureDir}test.anneal.yaml`;

export function check(text: string, overrides?: RecipeOverrides): RecipeCheck {
  return checkRecipe(text, recipePath, nodeFiles, overrides);
}

export function codes(result: RecipeCheck): string[] {
  return result.diagnostics.map((d) => d.code);
}

export function only(result: RecipeCheck, code: string): Diagnostic {
  const found = result.diagnostics.filter((d) => d.code === code);
  if (found.length !== 1) throw new Error(`expected one ${code}, got ${JSON.stringify(result.diagnostics, null, 1)}`);
  return found[0];
}

/** [startLine, startChar, endLine, endChar] */
export function span(d: Diagnostic): number[] {
  return [d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character];
}

/** A valid SFT recipe on the tiny model plus extra lines. */
export function sft(extra = ''): string {
  return `model: tiny\nstage: sft\ndata:\n  train: chat.jsonl\n${extra}`;
}
