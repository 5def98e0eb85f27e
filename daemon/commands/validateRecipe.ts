// Recipe files in `anneal validate`: read the file and hand it to core/recipe, which also checks the
// data files and model folder the recipe names. core/recipe (YAML, the JSON Schema, reward checks)
// is required on the first recipe, and in the CLI it is a bundle of its own (esbuild.mjs), so
// checking datasets alone never compiles it.

import { readFileSync, statSync } from 'node:fs';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';

/** `*.anneal.yaml`, `*.anneal.yml` and `*.anneal.json` are recipes; everything else is a dataset. */
export function isRecipePath(file: string): boolean {
  return /\.anneal\.(ya?ml|json)$/i.test(file);
}

/** A file that cannot be read at all (exit 2 in the CLI). */
export class UnreadableFileError extends Error {}

/** Diagnostics of one recipe file. */
export function checkRecipeFile(file: string): { diagnostics: Diagnostic[] } {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw new UnreadableFileError(`${file} is a folder; pass the recipe file itself.`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof UnreadableFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UnreadableFileError(code === 'ENOENT' ? `${file} does not exist; check the path.` : `cannot read ${file} (${code ?? (err as Error).message}).`);
  }
  const { checkRecipe } = require('../../core/recipe/index.ts') as typeof import('../../core/recipe/index.ts');
  return { diagnostics: checkRecipe(text, file, nodeFiles).diagnostics };
}
