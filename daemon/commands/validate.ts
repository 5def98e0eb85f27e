// `anneal validate FILE... [--json] [--kind K] [--model DIR] [--max-length N]`: the same checks the
// editor shows, for scripts and CI. Exit 0 when clean (warnings allowed), 1 when any error was found,
// 2 for usage or I/O problems. Datasets are streamed from disk in chunks, so file size is not bounded
// by memory for the text itself.

import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import type { Diagnostic } from '../../core/diagnostics.ts';
import { DatasetModel, datasetOptionsFor, type DatasetCheckOptions, type DatasetKind, type DatasetSummary, type NormalizedRecord } from '../../core/datasets/index.ts';
import { nodeFiles } from '../../core/nodeFiles.ts';
import { checkRecipeFile, isRecipePath, UnreadableFileError } from './validateRecipe.ts';
import { lineChunks } from './lineChunks.ts';
import { analyzeChunks, loadTokenizer, runWorker, workerCount } from './validateParallel.ts';
import { WORKER_COMMAND } from './validateWorkerCommand.ts';

const KINDS: DatasetKind[] = ['sft', 'preference', 'prompt-only', 'text', 'unpaired-preference', 'stepwise-supervision'];
const CHUNK_BYTES = 8 << 20;

interface ValidateOptions {
  json?: boolean;
  kind?: string;
  model?: string;
  maxLength?: string;
}

/** Thrown for problems a user must fix before anything can be checked (exit 2). */
class UsageError extends UnreadableFileError {}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check datasets (*.jsonl) and recipes (*.anneal.yaml) and print their diagnostics')
    .argument('<files...>', 'dataset or recipe files')
    .option('--json', 'print one JSON object per diagnostic, one per line')
    .option('--kind <kind>', `treat datasets as this kind (${KINDS.join(', ')})`)
    .option('--model <dir>', "count tokens with this Hugging Face model folder's tokenizer")
    .option('--max-length <tokens>', 'with --model: warn about records longer than this many tokens')
    .action(async (files: string[], options: ValidateOptions) => {
      process.exitCode = await runValidate(files, options, process.stdout.isTTY === true && !process.env.NO_COLOR);
    });
  // Worker threads for large files re-enter the CLI through this hidden command.
  program.command(WORKER_COMMAND, { hidden: true }).action(runWorker);
}

/** Check every file, print diagnostics, return the exit code. */
export async function runValidate(files: string[], options: ValidateOptions, color: boolean): Promise<number> {
  let checkOptions: DatasetCheckOptions;
  try {
    checkOptions = datasetOptions(options);
  } catch (err) {
    process.stderr.write(`anneal validate: ${(err as Error).message}\n`);
    return 2;
  }
  const out = new Output(options.json === true, color);
  let ioFailed = false;
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const file of files) {
    try {
      const result: FileResult = isRecipePath(file) ? checkRecipeFile(file) : await checkDatasetFile(file, checkOptions, options);
      for (const d of result.diagnostics) out.diagnostic(file, d);
      const counts = count(result.diagnostics, result.summary);
      errors += counts.error;
      warnings += counts.warning;
      infos += counts.info;
      out.fileSummary(file, counts, result.summary);
    } catch (err) {
      if (!(err instanceof UnreadableFileError)) throw err;
      ioFailed = true;
      out.flush();
      process.stderr.write(`anneal validate: ${err.message}\n`);
    }
  }
  out.total(files.length, errors, warnings, infos);
  out.flush();
  return ioFailed ? 2 : errors > 0 ? 1 : 0;
}

function datasetOptions(options: ValidateOptions): DatasetCheckOptions {
  const result: DatasetCheckOptions = { retainRecords: false };
  if (options.kind !== undefined) {
    if (!KINDS.includes(options.kind as DatasetKind)) throw new UsageError(`unknown --kind "${options.kind}"; use one of ${KINDS.join(', ')}.`);
    result.kind = options.kind as DatasetKind;
  }
  if (options.maxLength !== undefined) {
    const n = Number(options.maxLength);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--max-length must be a positive integer, not "${options.maxLength}".`);
    result.maxLength = n;
  }
  if (options.model !== undefined) {
    try {
      const tokenizer = loadTokenizer(options.model);
      result.countTokens = (record: NormalizedRecord) => tokenizer.countTokens(record);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return result;
}

interface FileResult {
  diagnostics: Diagnostic[];
  summary?: DatasetSummary;
}

/** Stream a dataset from disk through a DatasetModel in chunks of whole lines (large files: in workers). */
async function checkDatasetFile(file: string, base: DatasetCheckOptions, cli: ValidateOptions): Promise<FileResult> {
  let fd: number;
  try {
    if (statSync(file).isDirectory()) throw new UsageError(`${file} is a folder; pass the dataset files inside it.`);
    fd = openSync(file, 'r');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `${file} does not exist; check the path.` : `cannot read ${file} (${code ?? (err as Error).message}).`);
  }
  try {
    const fileOptions = datasetOptionsFor(file, nodeFiles, base);
    const datasetInfo = fileOptions.datasetInfo;
    const model = new DatasetModel(fileOptions);
    const stat = fstatSync(fd);
    if (stat.isFile()) {
      const options = { maxLength: base.maxLength, datasetInfo, nearDuplicates: base.nearDuplicates };
      await analyzeChunks(file, fd, stat.size, workerCount(stat.size), model, fileOptions, { options, modelDir: cli.model });
    } else {
      // A pipe or device: read it as it comes.
      for (const { lines, invalidUtf8 } of lineChunks(fd, CHUNK_BYTES)) model.appendLines(lines, invalidUtf8);
    }
    const report = model.report();
    return { diagnostics: report.diagnostics, summary: report.summary };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`cannot read ${file} (${code}).`);
    throw err;
  } finally {
    closeSync(fd);
  }
}

interface Counts {
  error: number;
  warning: number;
  info: number;
}

function count(diagnostics: Diagnostic[], summary: DatasetSummary | undefined): Counts {
  if (summary) return { error: summary.errors, warning: summary.warnings, info: summary.infos };
  const c = { error: 0, warning: 0, info: 0 };
  for (const d of diagnostics) c[d.severity === 'hint' ? 'info' : d.severity]++;
  return c;
}

const COLORS = { error: '\x1b[31m', warning: '\x1b[33m', info: '\x1b[36m', hint: '\x1b[36m', dim: '\x1b[2m', bold: '\x1b[1m', reset: '\x1b[0m' };

/** Buffered writer for both output styles. */
class Output {
  private buffer: string[] = [];

  constructor(private readonly json: boolean, private readonly color: boolean) {}

  diagnostic(file: string, d: Diagnostic): void {
    const line = d.range.start.line + 1;
    const column = d.range.start.character + 1;
    if (this.json) {
      this.write(JSON.stringify({ file, line, column, endLine: d.range.end.line + 1, endColumn: d.range.end.character + 1, severity: d.severity, code: d.code, message: d.message }));
    } else {
      const c = this.color ? COLORS : undefined;
      const where = `${file}:${line}:${column}`;
      const severity = c ? `${c[d.severity]}${d.severity}${c.reset}` : d.severity;
      this.write(`${c ? c.dim + where + c.reset : where} ${severity} ${d.code} ${d.message}`);
    }
  }

  fileSummary(file: string, counts: Counts, summary: DatasetSummary | undefined): void {
    if (this.json) return;
    const parts = [plural(counts.error, 'error'), plural(counts.warning, 'warning'), plural(counts.info, 'info')];
    if (!summary) {
      this.write(`${file}: recipe; ${parts.join(', ')}`);
      return;
    }
    const formats = Object.entries(summary.formats).map(([f, n]) => `${n} ${f}`).join(', ');
    const kind = summary.kind ? `${summary.kind}${summary.kindSource === 'forced' ? ' (forced)' : ''}` : 'unknown kind';
    const lengths = summary.tokens
      ? `tokens p50 ${summary.tokens.p50} p90 ${summary.tokens.p90} p99 ${summary.tokens.p99} max ${summary.tokens.max}`
      : `chars p50 ${summary.chars.p50} p90 ${summary.chars.p90} p99 ${summary.chars.p99} max ${summary.chars.max}`;
    const dups = summary.duplicates || summary.nearDuplicates ? `; ${summary.duplicates} duplicates, ${summary.nearDuplicates} near duplicates` : '';
    this.write(`${file}: ${kind}, ${plural(summary.records, 'record')}${formats ? ` (${formats})` : ''}; ${parts.join(', ')}; ${lengths}${dups}`);
  }

  total(files: number, errors: number, warnings: number, infos: number): void {
    if (this.json) return;
    const text = `${plural(files, 'file')} checked: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}, ${plural(infos, 'info')}`;
    this.write(this.color ? `${COLORS.bold}${text}${COLORS.reset}` : text);
  }

  private write(line: string): void {
    this.buffer.push(line);
    if (this.buffer.length >= 1000) this.flush();
  }

  flush(): void {
    if (this.buffer.length === 0) return;
    process.stdout.write(`${this.buffer.join('\n')}\n`);
    this.buffer = [];
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 || word === 'info' ? '' : 's'}`;
}
