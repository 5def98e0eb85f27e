// checkRecipe: text in, diagnostics (and, when there are no errors, the resolved recipe) out.
// Parse with positions -> schema -> semantic checks against the files the recipe names.

import { isMap } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import type { FileAccess } from '../fileAccess.ts';
import { RECIPE_CODES } from './codes.ts';
import { documentStartRange, parseRecipeText } from './document.ts';
import { applyDefaults } from './resolve.ts';
import { schemaDiagnostics } from './schemaCheck.ts';
import { semanticDiagnostics, type RecipeOverrides } from './semantic.ts';
import type { Recipe, ResolvedRecipe } from './types.ts';

export interface RecipeCheck {
  /** Sorted by position. */
  diagnostics: Diagnostic[];
  /** Present when no diagnostic is an error. */
  recipe?: ResolvedRecipe;
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character;
}

/** Check a recipe's text (`*.anneal.yaml`, `.yml` or `.json`); `filePath` anchors its relative paths. */
export function checkRecipe(text: string, filePath: string, files: FileAccess, overrides: RecipeOverrides = {}): RecipeCheck {
  const { document, diagnostics } = parseRecipeText(text);
  if (diagnostics.some((d) => d.code === 'recipe-yaml-syntax')) return { diagnostics: diagnostics.sort(byPosition) };
  const contents = document.doc.contents;
  if (!isMap(contents)) {
    const empty = contents === null || (typeof contents === 'object' && 'value' in contents && contents.value === null);
    diagnostics.push({
      code: 'recipe-not-mapping',
      severity: RECIPE_CODES['recipe-not-mapping'],
      message: empty
        ? 'The recipe is empty; start with `model: tiny`, `stage: sft` and `data: {train: data.jsonl}`.'
        : 'A recipe is a mapping of keys (model, stage, data, ...), not a list or a single value; rewrite it as `key: value` lines.',
      range: documentStartRange(document),
    });
    return { diagnostics };
  }
  let value: Record<string, unknown>;
  try {
    value = document.doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (err) {
    diagnostics.push({
      code: 'recipe-yaml-syntax',
      severity: 'error',
      message: `The recipe cannot be read (${(err as Error).message}); simplify its anchors and aliases.`,
      range: documentStartRange(document),
    });
    return { diagnostics };
  }
  const withOverrides = { ...value, ...overrides.args, ...(overrides.model ? { model: overrides.model } : {}), ...(overrides.data ? { data: overrides.data } : {}) };
  diagnostics.push(...schemaDiagnostics(document, withOverrides));
  diagnostics.push(...semanticDiagnostics(document, { ...value, ...overrides.args }, filePath, files, overrides));
  diagnostics.sort(byPosition);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  return { diagnostics, recipe: applyDefaults(withOverrides as unknown as Recipe, filePath, overrides, files) };
}

/**
 * Check a recipe and fill TRL's defaults (absolute paths, every training argument set); `recipe` is
 * absent when the recipe has errors. Overrides (absolute model / data paths) replace the file's.
 */
export function resolveRecipe(text: string, filePath: string, files: FileAccess, overrides: RecipeOverrides = {}): RecipeCheck {
  return checkRecipe(text, filePath, files, overrides);
}
