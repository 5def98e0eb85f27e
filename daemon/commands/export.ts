// `anneal export RUN --format peft|merged|gguf|gguf-lora [--quant Q] [--out DIR] [--json]`: writes a
// run's weights (its output, else its newest checkpoint) as its PEFT adapter, a merged Hugging Face
// folder, a GGUF with an Ollama Modelfile, or the adapter as a GGUF adapter for llama.cpp's --lora. RUN is a run id of the state dir or a folder. The export reads the state
// dir's files directly (no daemon needed) and computes on the host only (no tensor backend); the
// daemon's `runs/export` runs this same command in a child process.
//
// --json: one JSON object per line on stdout: {"event":"progress",...} while it works, then
// {"event":"done","result":{...}} or {"event":"error","message":...}. Exit 0 done, 1 export refused or
// failed, 2 usage error.

import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { resolveStateDir } from '../client/stateDir.ts';
import { exportRun, type ExportResult } from '../export/exportRun.ts';
import { EXPORT_FORMATS, GGUF_LORA_QUANTS, GGUF_QUANTS } from '../../core/recipe/exportBlock.ts';
import { checkPlan, llamaCheck } from '../export/llamaCheck.ts';

interface ExportOptions {
  format: string;
  quant?: string;
  out?: string;
  json?: boolean;
  stateDir?: string;
  check?: boolean;
}

function size(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The human summary of a finished export. */
export function formatExport(result: ExportResult, fileSize: (name: string) => number): string {
  const what = result.format === 'gguf' ? `GGUF (${result.quant})` : result.format === 'gguf-lora' ? `a GGUF LoRA adapter (${result.quant})` : result.format === 'merged' ? 'a merged Hugging Face model' : 'its PEFT adapter';
  const out = [`Exported ${result.source} as ${what} to ${result.outDir}`];
  if (result.merged) out.push(`  LoRA r=${result.merged.r} alpha=${result.merged.alpha} folded into ${result.merged.base} (${result.merged.modules} modules)`);
  for (const f of result.files) out.push(`  ${f.padEnd(34)} ${size(fileSize(f))}`);
  if (result.format === 'gguf') out.push('', `Ollama:    cd ${result.outDir} && ollama create NAME -f Modelfile`, `llama.cpp: llama-cli -m ${result.gguf} -cnv`);
  if (result.format === 'gguf-lora') out.push('', `llama.cpp: llama-cli -m BASE.gguf --lora ${result.gguf} -cnv`, ...(result.files.includes('Modelfile') ? [`Ollama:    cd ${result.outDir} && ollama create NAME -f Modelfile`] : []));
  if (result.format === 'merged') out.push('', `transformers: AutoModelForCausalLM.from_pretrained(${JSON.stringify(result.outDir)})`);
  for (const n of result.notes) out.push(`note: ${n}`);
  return out.join('\n') + '\n';
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export a run\'s weights: its LoRA adapter (peft), the model with the adapter merged in (a Hugging Face folder), a GGUF for llama.cpp / Ollama with a Modelfile, or the adapter as a GGUF adapter (gguf-lora).')
    .argument('<run>', 'a run id (see `anneal runs`), a run folder, or a weights folder (output/, checkpoints/step-N/, an adapter or model folder)')
    .requiredOption('--format <format>', EXPORT_FORMATS.map((f) => `${f.name}: ${f.describe}`).join('; '))
    .option('--quant <type>', `gguf: ${GGUF_QUANTS.map((q) => q.name).join(', ')}; gguf-lora: ${GGUF_LORA_QUANTS.join(', ')} (default f16)`)
    .option('--out <dir>', 'folder to create, new or empty (default: <run>/exports/<format>[-<quant>])')
    .option('--json', 'JSON lines: progress events, then the result')
    .option('--state-dir <dir>', 'daemon state dir holding the runs (default $ANNEAL_HOME or ~/.anneal)')
    .option('--no-check', 'gguf: skip running the file in llama.cpp on the run\'s sample prompts to compare its answers with Anneal\'s')
    .action(async (ref: string, opts: ExportOptions) => {
      const json = opts.json === true;
      const emit = (event: Record<string, unknown>) => process.stdout.write(JSON.stringify(event) + '\n');
      const tty = process.stderr.isTTY === true && !json;
      let lastLine = '';
      try {
        const result = await exportRun(ref, {
          format: opts.format,
          ...(opts.quant !== undefined ? { quant: opts.quant } : {}),
          ...(opts.out !== undefined ? { out: opts.out } : {}),
          stateDir: resolveStateDir(opts.stateDir),
          onProgress: (p) => {
            if (json) return emit({ event: 'progress', ...p });
            const line = p.total ? `${p.message} ${p.done}/${p.total}` : p.message;
            if (tty) process.stderr.write(`\r\x1b[2K${line}`);
            else if (p.message !== lastLine) process.stderr.write(`${p.message}\n`);
            lastLine = p.message;
          },
        });
        if (tty) process.stderr.write('\r\x1b[2K');
        if (!json) process.stdout.write(formatExport(result, (f) => statSync(join(result.outDir, f)).size));
        // A GGUF is checked where it will run: llama.cpp's greedy answers beside Anneal's (llamaCheck.ts).
        if (result.format === 'gguf' && result.gguf && opts.check !== false) {
          if (!json) process.stderr.write('Checking the GGUF in llama.cpp...\n');
          const check = await llamaCheck(result.gguf, checkPlan(ref, resolveStateDir(opts.stateDir)));
          if (json) emit({ event: 'llama-check', check });
          else process.stdout.write(`${check.summary}\n`);
        }
        if (json) emit({ event: 'done', result });
      } catch (err) {
        if (tty) process.stderr.write('\r\x1b[2K');
        const message = err instanceof Error ? err.message : String(err);
        if (json) emit({ event: 'error', message });
        process.stderr.write(`anneal: ${message}\n`);
        if (process.env.ANNEAL_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
        process.exitCode = 1;
      }
    });
}
