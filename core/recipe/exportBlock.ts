// The recipe's `export:` block: what is written once the run (or the pipeline's result) is complete,
// each entry as `anneal export --format F [--quant Q] [--out DIR]` writes it (daemon/export).
//   export:
//     - {format: merged}
//     - {format: gguf, quant: q4_k_m, out: dist/model-q4}
//     - {format: gguf-lora}
// One entry may be written without the list. Pure: reads the value and names its problems; check.ts
// and semantic.ts turn those into `recipe-export-invalid` diagnostics, resolve.ts makes `out` absolute.

/**
 * Every export format, with a line saying what it writes: the one list the CLI, `runs/export`, the
 * recipe check and the editor offer.
 */
export const EXPORT_FORMATS = [
  { name: 'peft', describe: 'the LoRA adapter as PEFT writes it (adapter_config.json + adapter_model.safetensors)' },
  { name: 'merged', describe: 'the model with the adapter folded in, as a Hugging Face folder (transformers, vLLM)' },
  { name: 'gguf', describe: 'the merged model as one GGUF file with an Ollama Modelfile (llama.cpp, Ollama, LM Studio)' },
  { name: 'gguf-lora', describe: "the LoRA adapter as a GGUF adapter for llama.cpp's --lora and Ollama's ADAPTER, used with a GGUF of its base" },
] as const;
export type RecipeExportFormat = (typeof EXPORT_FORMATS)[number]['name'];
export const RECIPE_EXPORT_FORMATS: readonly RecipeExportFormat[] = EXPORT_FORMATS.map((f) => f.name);

/** GGUF encodings of a `gguf` export (`quant`, default f16); daemon/export/ggufQuant.ts maps each to its GGML types. */
export const GGUF_QUANTS = [
  { name: 'f32', describe: 'float32, lossless (largest)' },
  { name: 'f16', describe: 'float16: half the size, rounding only' },
  { name: 'bf16', describe: 'bfloat16: float32\'s range in half the size' },
  { name: 'q8_0', describe: '8-bit blocks of 32: about half of f16, near-lossless' },
  { name: 'q6_k', describe: '6.6-bit k-quant super-blocks of 256: close to q8_0, 20% smaller' },
  { name: 'q5_k_m', describe: "5-bit k-quants, Q6_K for the head and some attn_v / ffn_down layers (llama.cpp's Q5_K_M mix)" },
  { name: 'q4_k_m', describe: "4-bit k-quants, Q6_K for the head and some attn_v / ffn_down layers (llama.cpp's Q4_K_M mix; the usual choice)" },
  { name: 'q4_k_s', describe: "4-bit k-quants, Q5_K for the first attn_v / ffn_down layers (llama.cpp's Q4_K_S mix)" },
  { name: 'q4_0', describe: '4-bit blocks of 32 with one scale: smallest, visible quality loss on small models' },
] as const;
export type GgufQuantName = (typeof GGUF_QUANTS)[number]['name'];
export const RECIPE_EXPORT_QUANTS: readonly GgufQuantName[] = GGUF_QUANTS.map((q) => q.name);
/** The encodings of a `gguf-lora` adapter's tensors (llama.cpp applies them in float). */
export const GGUF_LORA_QUANTS: readonly GgufQuantName[] = ['f16', 'f32'];

/** The quant names `format` takes (empty: it takes none). */
export function quantsOf(format: string): readonly string[] {
  return format === 'gguf' ? RECIPE_EXPORT_QUANTS : format === 'gguf-lora' ? GGUF_LORA_QUANTS : [];
}

/** The folder an export goes to under `exports/` when it names none. */
export function exportFolderName(format: string, quant?: string): string {
  return format === 'gguf' ? `gguf-${quant ?? 'f16'}` : format;
}

const FORMAT_CHOICE = 'peft (the LoRA adapter), merged (a Hugging Face model folder), gguf (llama.cpp / Ollama) or gguf-lora (the adapter for llama.cpp / Ollama)';

/** One export as the recipe writes it (`out` relative to the recipe until resolved). */
export interface RecipeExport {
  format: RecipeExportFormat;
  /** gguf (default f16) and gguf-lora (f16 or f32) only. */
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
      problems.push({ path: at(i), message: 'Each export is a mapping `{format: peft|merged|gguf|gguf-lora, quant?: ..., out?: folder}`, e.g. {format: gguf, quant: q4_k_m}.', on: 'value' });
      return;
    }
    let ok = true;
    for (const key of Object.keys(item)) {
      if (!KEYS.includes(key)) {
        problems.push({ path: at(i, key), message: `Unknown key \`${key}\` in an export; it takes format, quant (gguf, gguf-lora) and out.`, on: 'key' });
        ok = false;
      }
    }
    const format = item.format;
    if (format === undefined) {
      problems.push({ path: at(i), message: `Add \`format:\` to the export: ${FORMAT_CHOICE}.`, on: 'value' });
      ok = false;
    } else if (typeof format !== 'string' || !(RECIPE_EXPORT_FORMATS as readonly string[]).includes(format)) {
      problems.push({ path: at(i, 'format'), message: `\`${String(format)}\` is not an export format; choose ${FORMAT_CHOICE}.`, on: 'value' });
      ok = false;
    }
    if (item.quant !== undefined && typeof format === 'string' && (RECIPE_EXPORT_FORMATS as readonly string[]).includes(format)) {
      const quants = quantsOf(format);
      if (quants.length === 0) {
        problems.push({ path: at(i, 'quant'), message: `\`quant\` applies to format gguf only (and gguf-lora: f16 or f32); a ${format} export is written as the model's own weights. Remove it, or use format: gguf.`, on: 'key' });
        ok = false;
      } else if (typeof item.quant !== 'string' || !quants.includes(item.quant)) {
        const what = format === 'gguf' ? 'a GGUF quantization Anneal writes' : 'an encoding of a GGUF adapter';
        problems.push({ path: at(i, 'quant'), message: `\`${String(item.quant)}\` is not ${what}; choose ${quants.join(', ')} (default f16).`, on: 'value' });
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
    const leaf = exportFolderName(item.format, typeof item.quant === 'string' ? item.quant : undefined);
    if (seen.has(leaf)) problems.push({ path: at(i), message: `This export writes the same folder as the one above it (exports/${leaf}); remove one, or give it \`out:\`.`, on: 'value' });
    else seen.set(leaf, i);
  });
  return { exports, problems };
}
