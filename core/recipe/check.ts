// checkRecipe: text in, diagnostics (and, when there are no errors, the resolved recipe) out.
// Parse with positions -> schema -> semantic checks against the files the recipe names.

import { isMap } from 'yaml';
import type { Diagnostic } from '../diagnostics.ts';
import type { FileAccess } from '../fileAccess.ts';
import { RECIPE_CODES } from './codes.ts';
import { documentStartRange, keyRange, parseRecipeText, valueRange, type RecipeDocument } from './document.ts';
import { checkableView, expandPipeline, isPipeline, type PipelineStage } from './pipeline.ts';
import { applyDefaults } from './resolve.ts';
import { readExports, type RecipeExport } from './exportBlock.ts';
import { resolveFrom } from './files.ts';
import { schemaDiagnostics } from './schemaCheck.ts';
import { semanticDiagnostics, type RecipeOverrides } from './semantic.ts';
import type { Recipe, ResolvedRecipe } from './types.ts';

export interface RecipeCheck {
  /** Sorted by position. */
  diagnostics: Diagnostic[];
  /** Present when no diagnostic is an error (and the recipe is a single stage). */
  recipe?: ResolvedRecipe;
  /** A pipeline recipe's stages, each resolved as a recipe of its own; present when no diagnostic is an error. */
  pipeline?: ResolvedPipelineStage[];
  /** A pipeline's top-level `export:` (each `out` absolute): written from its result. */
  pipelineExports?: RecipeExport[];
}

export interface ResolvedPipelineStage extends Pick<PipelineStage, 'index' | 'name' | 'from' | 'merge'> {
  /** `model` is `@name` where the stage starts from an earlier stage's output. */
  recipe: ResolvedRecipe;
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
  if (isPipeline(value)) return checkPipeline(document, value, filePath, files, overrides, diagnostics);
  const withOverrides = { ...value, ...overrides.args, ...(overrides.model ? { model: overrides.model } : {}), ...(overrides.data ? { data: overrides.data } : {}) };
  diagnostics.push(...schemaDiagnostics(document, withOverrides));
  diagnostics.push(...semanticDiagnostics(document, { ...value, ...overrides.args }, filePath, files, overrides));
  diagnostics.sort(byPosition);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  return { diagnostics, recipe: applyDefaults(withOverrides as unknown as Recipe, filePath, overrides, files) };
}

/**
 * A pipeline: its own problems (stages, names, @references), then each stage checked as a recipe of
 * its own — the shared keys and the item's merged — with every diagnostic on the text it comes from (a
 * shared key's once, however many stages share it). `--data` does not apply to a pipeline.
 */
function checkPipeline(document: RecipeDocument, value: Record<string, unknown>, filePath: string, files: FileAccess, overrides: RecipeOverrides, diagnostics: Diagnostic[]): RecipeCheck {
  const { stages, problems } = expandPipeline(value);
  for (const p of problems) {
    diagnostics.push({ code: 'recipe-pipeline-invalid', severity: RECIPE_CODES['recipe-pipeline-invalid'], message: p.message, range: p.on === 'key' ? keyRange(document, p.path) : valueRange(document, p.path) });
  }
  const stageOverrides: RecipeOverrides = { ...overrides, data: undefined };
  const exportBlock = value.export !== undefined ? readExports(value.export) : undefined;
  for (const p of exportBlock?.problems ?? []) {
    diagnostics.push({ code: 'recipe-export-invalid', severity: RECIPE_CODES['recipe-export-invalid'], message: p.message, range: p.on === 'key' ? keyRange(document, p.path) : valueRange(document, p.path) });
  }
  const topModel = overrides.model ?? value.model;
  for (const stage of stages) {
    const view = { ...checkableView(stage, topModel), ...overrides.args };
    const scoped: RecipeDocument = { ...document, scope: { prefix: ['stages', stage.index], own: stage.own } };
    diagnostics.push(...schemaDiagnostics(scoped, view), ...semanticDiagnostics(scoped, view, filePath, files, stageOverrides));
  }
  const seen = new Set<string>();
  const unique = diagnostics.filter((d) => {
    const key = `${d.code}:${JSON.stringify(d.range)}:${d.message}`;
    return !seen.has(key) && (seen.add(key), true);
  });
  unique.sort(byPosition);
  if (unique.some((d) => d.severity === 'error')) return { diagnostics: unique };
  const pipeline = stages.map((s): ResolvedPipelineStage => {
    const recipe = applyDefaults({ ...s.recipe, ...overrides.args, ...(s.from.kind === 'model' && overrides.model && s.recipe.model === value.model ? { model: overrides.model } : {}) } as unknown as Recipe, filePath, stageOverrides, files);
    if (s.from.kind === 'stage') recipe.model = `@${s.from.name}`;
    return { index: s.index, name: s.name, from: s.from, merge: s.merge, recipe };
  });
  const pipelineExports = exportBlock?.exports.map((e) => (e.out !== undefined ? { ...e, out: resolveFrom(filePath, e.out) } : e));
  return { diagnostics: unique, pipeline, ...(pipelineExports ? { pipelineExports } : {}) };
}

/**
 * Check a recipe and fill TRL's defaults (absolute paths, every training argument set); `recipe` is
 * absent when the recipe has errors. Overrides (absolute model / data paths) replace the file's.
 */
export function resolveRecipe(text: string, filePath: string, files: FileAccess, overrides: RecipeOverrides = {}): RecipeCheck {
  return checkRecipe(text, filePath, files, overrides);
}
