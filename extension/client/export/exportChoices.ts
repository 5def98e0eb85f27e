// What "Anneal: Export Run…" offers and says, from plain data: the formats and GGUF quantizations (the
// lists core/recipe/exportBlock.ts keeps for the recipe's `export:` block, so the editor offers what the
// exporter writes), which run a Runs view item exports, and the messages at the end. Pure (no vscode).
import { EXPORT_FORMATS, GGUF_QUANTS, quantsOf } from '../../../core/recipe/exportBlock.ts';
import type { ExportRunResult } from '../../../core/protocol/daemon.ts';
import type { PipelineInfo } from '../../../core/protocol/pipelines.ts';
import type { RunInfo } from '../../../core/protocol/runs.ts';

/** What is exported: `run` is what runs/export takes (a run id, or the absolute folder of weights). */
export interface ExportTarget {
  run: string;
  /** "run sft-…", "pipeline pipeline-…'s result (dpo)". */
  label: string;
  /** False for a full fine-tune (no adapter to export as peft); undefined when not known. */
  lora?: boolean;
}

export interface FormatChoice {
  format: string;
  label: string;
  detail: string;
}

export interface QuantChoice {
  quant: string;
  label: string;
  description: string;
}

/** Short labels; a format added to the list later shows under its own name. */
const FORMAT_LABELS: Record<string, string> = { peft: 'PEFT adapter', merged: 'Merged model', gguf: 'GGUF', 'gguf-lora': 'GGUF adapter' };

/** Whether a format takes a quantization (gguf, gguf-lora). */
export const takesQuant = (format: string): boolean => quantsOf(format).length > 0;

/** The formats to offer for `target`, in the exporter's order; the adapter formats only when the run has one. */
export function formatChoices(target: Pick<ExportTarget, 'lora'>, formats: readonly { name: string; describe: string }[] = EXPORT_FORMATS): FormatChoice[] {
  return formats
    .filter((f) => !(target.lora === false && /peft|lora/i.test(f.name)))
    .map((f) => ({ format: f.name, label: FORMAT_LABELS[f.name] ?? f.name, detail: `${f.describe[0]!.toUpperCase()}${f.describe.slice(1)}.` }));
}

/** The quantizations `format` takes, the exporter's default (f16) first, each with what it trades. */
export function quantChoices(format: string): QuantChoice[] {
  const describe = new Map<string, string>(GGUF_QUANTS.map((q) => [q.name, q.describe]));
  const ordered = [...quantsOf(format)].sort((a, b) => (a === 'f16' ? -1 : b === 'f16' ? 1 : 0));
  return ordered.map((quant) => ({ quant, label: quant, description: `${describe.get(quant) ?? ''}${quant === 'f16' ? ' (default)' : ''}` }));
}

/** The pipeline's result as an export target: its stage's run when known (the export lands in that run's folder), else the output folder. */
export function pipelineResultTarget(info: PipelineInfo, runs: readonly RunInfo[]): ExportTarget | undefined {
  if (!info.result) return undefined;
  const stage = info.stages.find((s) => s.name === info.result!.stage);
  const run = stage?.runId ? runs.find((r) => r.id === stage.runId) : undefined;
  return {
    run: stage?.runId ?? info.result.output,
    label: `the result of pipeline ${info.id} (${info.result.stage})`,
    ...(run ? { lora: run.lora !== null } : {}),
  };
}

/** A run as an export target. */
export function runTarget(run: RunInfo): ExportTarget {
  return { run: run.id, label: `${run.stage.toUpperCase()} run ${run.id}`, lora: run.lora !== null };
}

/** "GGUF q8_0", "merged": the format as a message names it. */
export const formatTitle = (format: string, quant?: string): string => (/gguf/.test(format) ? `${format.toUpperCase()} ${quant ?? 'f16'}` : format);

/** A name Ollama accepts (lowercase letters, digits, `-`, `_`, `.`), from the GGUF file's name. */
export function ollamaModelName(result: Pick<ExportRunResult, 'gguf' | 'runId' | 'outDir'>): string {
  const from = result.gguf ?? result.runId ?? result.outDir;
  const leaf = from.split(/[\\/]/).filter(Boolean).pop() ?? 'model';
  const name = leaf.replace(/\.gguf$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-_.]+|[-_.]+$/g, '');
  return name || 'anneal-model';
}

/** Single-quoted for a POSIX shell. */
const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that loads a GGUF export into Ollama (its Modelfile names the .gguf beside it). */
export function ollamaCreateCommand(result: Pick<ExportRunResult, 'gguf' | 'runId' | 'outDir'>): string {
  return `cd ${shellQuote(result.outDir)} && ollama create ${ollamaModelName(result)} -f Modelfile`;
}

/** The message once an export is written: what, where, and the exporter's notes. */
export function exportDoneMessage(target: Pick<ExportTarget, 'label'>, result: ExportRunResult): string {
  const what = formatTitle(result.format, result.quant);
  const where = result.gguf ?? result.outDir;
  const from = result.checkpointStep !== undefined ? ` (from its checkpoint at step ${result.checkpointStep})` : '';
  const notes = result.notes.length ? ` ${result.notes.join(' ')}` : '';
  // A GGUF's check in llama.cpp: "llama.cpp gives Anneal's answers on 3/3 prompts", or what differs.
  const check = result.llamaCheck ? ` ${result.llamaCheck.summary.split('\n')[0]}` : '';
  return `Anneal: exported ${target.label}${from} as ${what} to ${where}.${check}${notes}`;
}
