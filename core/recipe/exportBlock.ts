// The recipe's `export:` block: what is written once the run (or the pipeline's result) is complete,
// each entry as `anneal export --format F [--quant Q] [--out DIR]` writes it (daemon/export).
//   export:
//     - {format: merged}
//     - {format: gguf, quant: q8_0, out: dist/model-q8}
// One entry may be written without the list. Pure: reads the value and names its problems; check.ts
// and semantic.ts turn those into `recipe-export-invalid` diagnostics, resolve.ts makes `out` absolute.

export const RECIPE_EXPORT_FORMATS = ['peft', 'merged', 'gguf'] as const;
export type RecipeExportFormat = (typeof RECIPE_EXPORT_FORMATS)[number];
/** GGUF quantizations (daemon/export/ggufQuant.ts QUANT_TYPES; a unit test keeps them equal). */
export const RECIPE_EXPORT_QUANTS = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as const;

/** One export as the recipe writes it (`out` relative to the recipe until resolved). */
export interface RecipeExport {
  format: RecipeExportFormat;
  /** gguf only; default f16. */
  quant?: string;
  out?: string;
}

export interface ExportProblem {
  path: (string | number)[];
  message: string;
  on: 'key' | 'value';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const KEYS = ['format', 'quant', 'out'];

/** The block's entries (only the valid ones) and every problem, with the recipe path it is on. */
export function readExports(value: unknown): { exports: RecipeExport[]; problems: ExportProblem[] } {
  const problems: ExportProblem[] = [];
  const exports: RecipeExport[] = [];
  const list = Array.isArray(value) ? value : [value];
  const at = (i: number, ...rest: (string | number)[]) => (Array.isArray(value) ? ['export', i, ...rest] : ['export', ...rest]);
  if (Array.isArray(value) && value.length === 0) problems.push({ path: ['export'], message: '`export` lists what to write when training ends, e.g. [{format: merged}, {format: gguf, quant: q8_0}]; remove it to export nothing.', on: 'value' });
  list.forEach((item, i) => {
    if (!isObj(item)) {
      problems.push({ path: at(i), message: 'Each export is a mapping `{format: peft|merged|gguf, quant?: ..., out?: folder}`, e.g. {format: gguf, quant: q8_0}.', on: 'value' });
      return;
    }
    let ok = true;
    for (const key of Object.keys(item)) {
      if (!KEYS.includes(key)) {
        problems.push({ path: at(i, key), message: `Unknown key \`${key}\` in an export; it takes format, quant (gguf only) and out.`, on: 'key' });
        ok = false;
      }
    }
    const format = item.format;
    if (format === undefined) {
      problems.push({ path: at(i), message: 'Add `format:` to the export: peft (the LoRA adapter), merged (a Hugging Face model folder) or gguf (llama.cpp / Ollama).', on: 'value' });
      ok = false;
    } else if (typeof format !== 'string' || !(RECIPE_EXPORT_FORMATS as readonly string[]).includes(format)) {
      problems.push({ path: at(i, 'format'), message: `\`${String(format)}\` is not an export format; choose peft (the LoRA adapter), merged (a Hugging Face model folder) or gguf (llama.cpp / Ollama).`, on: 'value' });
      ok = false;
    }
    if (item.quant !== undefined) {
      if (format !== 'gguf' && typeof format === 'string' && (RECIPE_EXPORT_FORMATS as readonly string[]).includes(format)) {
        problems.push({ path: at(i, 'quant'), message: `\`quant\` applies to format gguf only; a ${format} export is written as the model's own weights. Remove it, or use format: gguf.`, on: 'key' });
        ok = false;
      } else if (typeof item.quant !== 'string' || !(RECIPE_EXPORT_QUANTS as readonly string[]).includes(item.quant)) {
        problems.push({ path: at(i, 'quant'), message: `\`${String(item.quant)}\` is not a GGUF quantization Anneal writes; choose ${RECIPE_EXPORT_QUANTS.join(', ')} (default f16).`, on: 'value' });
        ok = false;
      }
    }
    if (item.out !== undefined && (typeof item.out !== 'string' || item.out.trim() === '')) {
      problems.push({ path: at(i, 'out'), message: '`out` is a folder relative to the recipe (new, empty, or an earlier export of Anneal\'s), e.g. out: dist/model-gguf.', on: 'value' });
      ok = false;
    }
    if (ok) exports.push({ format: format as RecipeExportFormat, ...(typeof item.quant === 'string' ? { quant: item.quant } : {}), ...(typeof item.out === 'string' ? { out: item.out } : {}) });
  });
  // Two entries writing the same default folder would refuse each other.
  const seen = new Map<string, number>();
  list.forEach((item, i) => {
    if (!isObj(item) || item.out !== undefined || typeof item.format !== 'string') return;
    const leaf = item.format === 'gguf' ? `gguf-${typeof item.quant === 'string' ? item.quant : 'f16'}` : item.format;
    if (seen.has(leaf)) problems.push({ path: at(i), message: `This export writes the same folder as the one above it (exports/${leaf}); remove one, or give it \`out:\`.`, on: 'value' });
    else seen.set(leaf, i);
  });
  return { exports, problems };
}
