// `anneal export RUN --format peft|merged|gguf|gguf-lora [--quant Q] [--out DIR]`: every refusal a user
// can cause (unknown format or quantization, a run without weights, a non-empty --out, an adapter asked
// of a full fine-tune) is said before any weights load; then the weights are written into a temporary
// sibling of the target folder, renamed into place when complete.
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { ExportFormat, ExportRunResult } from '../../core/protocol/daemon.ts';
import { exportFolderName, quantsOf, RECIPE_EXPORT_FORMATS } from '../../core/recipe/exportBlock.ts';
import { loadExportModel, type ExportModel } from './exportModel.ts';
import { writeGgufExport } from './ggufExport.ts';
import { writeGgufLoraExport } from './ggufLora.ts';
import { quantType } from './ggufQuant.ts';
import { writeMergedFolder } from './hfFolder.ts';
import { resolveExportSource, type ExportSource } from './source.ts';

export interface ExportOptions {
  format: string;
  /** gguf (default f16) and gguf-lora (f16 or f32) only. */
  quant?: string;
  /** The folder to create (must not exist, or be empty); default `<run>/exports/<format>[-<quant>]`. */
  out?: string;
  stateDir: string;
  /** What is happening, for a progress line; `done`/`total` count tensors while a file is written. */
  onProgress?(p: { phase: 'loading' | 'merging' | 'writing'; message: string; done?: number; total?: number }): void;
}

/** What an export wrote (the `runs/export` result). */
export type ExportResult = ExportRunResult;

/** Why `dir` cannot be the export's target, or undefined. */
function outRefusal(dir: string): string | undefined {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) return `--out ${dir} exists and is a file; name a new or empty folder.`;
    entries = readdirSync(dir);
  } catch {
    return undefined;
  }
  return entries.length > 0 ? `--out ${dir} already exists and is not empty; name a new or empty folder (an export never writes over files).` : undefined;
}

function checkFormat(format: string): ExportFormat {
  if ((RECIPE_EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
  throw new Error(`--format ${format} is not an export format; choose peft (the LoRA adapter), merged (a Hugging Face model folder), gguf (llama.cpp / Ollama) or gguf-lora (the adapter for llama.cpp / Ollama).`);
}

/** The folder an export goes to when --out is not given. */
export function defaultOutDir(source: ExportSource, format: ExportFormat, quant?: string): string {
  const leaf = exportFolderName(format, quant);
  return source.runDir ? join(source.runDir, 'exports', leaf) : `${source.weightsDir.replace(/[\\/]+$/, '')}-${leaf}`;
}

/** A short name for files inside the export (the run id, else the folder's name). */
function exportName(source: ExportSource): string {
  const raw = source.run?.id ?? basename(source.weightsDir === '/' ? 'model' : source.weightsDir);
  return raw.replace(/[^A-Za-z0-9._-]+/g, '-') || 'model';
}

/** Fills a temporary sibling of `dir` and renames it into place (`dir` is absent or empty); nothing half-written is left. */
async function writeFolderAtomically(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.export-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    await fill(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new Error(`The disk is full: ${dir} could not be written; free some space or choose --out on another disk.`);
    throw err;
  }
}

/** Copies the adapter (without optimizer state) and the tokenizer files the run trained with. */
async function writePeft(dir: string, source: ExportSource, model: () => Promise<ExportModel>): Promise<string[]> {
  const skip = new Set(['optimizer.safetensors', 'trainer_state.json']);
  const names = readdirSync(source.weightsDir).filter((n) => !skip.has(n) && statSync(join(source.weightsDir, n)).isFile());
  for (const n of names) cpSync(join(source.weightsDir, n), join(dir, n));
  // A checkpoint holds only the adapter: add the base's tokenizer so the folder is complete.
  if (!names.includes('tokenizer.json')) {
    const m = await model();
    for (const [n, text] of m.tokenizerFiles) {
      writeFileSync(join(dir, n), text);
      names.push(n);
    }
  }
  return names.sort();
}

/** Runs one export; throws one sentence for anything the user can fix. */
export async function exportRun(ref: string, options: ExportOptions): Promise<ExportResult> {
  const format = checkFormat(options.format);
  const quants = quantsOf(format);
  if (options.quant !== undefined && quants.length === 0) throw new Error(`--quant applies to --format gguf and gguf-lora only (a ${format} export keeps float32 weights).`);
  if (options.quant !== undefined && format === 'gguf-lora' && !quants.includes(options.quant.toLowerCase())) {
    throw new Error(`--quant ${options.quant} is not an encoding of a GGUF adapter; choose ${quants.join(' or ')} (llama.cpp applies the adapter in float; quantize the base instead).`);
  }
  const quant = quants.length > 0 ? quantType(options.quant ?? 'f16') : undefined;
  const source = resolveExportSource(ref, options.stateDir);
  if ((format === 'peft' || format === 'gguf-lora') && source.kind !== 'adapter') {
    throw new Error(`${source.label} trained the whole model, so there is no LoRA adapter to export; use --format merged (its weights as a Hugging Face folder) or --format gguf.`);
  }
  const outDir = resolve(options.out ?? defaultOutDir(source, format, quant?.name));
  const refusal = outRefusal(outDir);
  if (refusal) throw new Error(refusal);
  if (outDir === resolve(source.weightsDir) || resolve(source.weightsDir).startsWith(outDir + '/')) throw new Error(`--out ${outDir} would overwrite the weights being exported; name another folder.`);

  const notes: string[] = [];
  if (source.checkpointStep !== undefined && source.run) notes.push(`run ${source.run.id} has no final output; exported its newest checkpoint (step ${source.checkpointStep})`);
  const purpose = format === 'gguf' ? 'a GGUF export' : 'a merged export';
  let loaded: ExportModel | undefined;
  const model = async () => {
    if (!loaded) {
      options.onProgress?.({ phase: 'loading', message: source.kind === 'adapter' ? `loading the base model and merging the adapter of ${source.label}` : `loading ${source.label}` });
      loaded = await loadExportModel(source, purpose);
      if (loaded.chatTemplateIsFallback) notes.push('the tokenizer ships no chat template; training used Anneal\'s ChatML fallback, which the export carries so other tools render the same turns');
    }
    return loaded;
  };
  if (format === 'merged' || format === 'gguf') await model();

  let files: string[] = [];
  let gguf: string | undefined;
  await writeFolderAtomically(outDir, async (tmp) => {
    if (format === 'peft') files = await writePeft(tmp, source, model);
    else if (format === 'gguf-lora') {
      const name = `${exportName(source)}-lora-${quant!.name}.gguf`;
      const result = await writeGgufLoraExport(tmp, name, source.weightsDir, source.seed, quant!, (done, total) => options.onProgress?.({ phase: 'writing', message: `writing ${name}`, done, total }));
      files = result.files;
      gguf = join(outDir, name);
      notes.push(...result.notes);
    } else if (format === 'merged') {
      options.onProgress?.({ phase: 'writing', message: 'writing model.safetensors' });
      files = writeMergedFolder(tmp, loaded!);
    } else {
      const name = `${exportName(source)}-${quant!.name}.gguf`;
      const result = writeGgufExport(tmp, name, loaded!, quant!, (done, total) => options.onProgress?.({ phase: 'writing', message: `writing ${name}`, done, total }));
      files = result.files;
      gguf = join(outDir, name);
      notes.push(...result.notes);
    }
  });
  return {
    format,
    ...(quant ? { quant: quant.name } : {}),
    outDir,
    files,
    source: source.label,
    ...(source.run ? { runId: source.run.id } : {}),
    ...(source.checkpointStep !== undefined ? { checkpointStep: source.checkpointStep } : {}),
    ...(loaded?.merged ? { merged: loaded.merged } : {}),
    ...(gguf ? { gguf } : {}),
    notes,
  };
}
