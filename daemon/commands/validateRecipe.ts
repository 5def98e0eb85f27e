// Recipe files in `anneal validate`: read the file and hand it to core/recipe.

import type { Diagnostic } from '../../core/diagnostics.ts';

/** `*.anneal.yaml`, `*.anneal.yml` and `*.anneal.json` are recipes; everything else is a dataset. */
export function isRecipePath(file: string): boolean {
  return /\.anneal\.(ya?ml|json)$/i.test(file);
}

/** Diagnostics of one recipe file. */
export function checkRecipeFile(file: string): { diagnostics: Diagnostic[] } {
  throw new Error(`recipe checking is not available yet (${file})`);
}
