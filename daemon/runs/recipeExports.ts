// A recipe's `export:` block in the daemon: once a run completes (or a pipeline ends with a result),
// each export is written in turn by `anneal export` in a child process (pipelineMerge.ts, the same
// mechanism as a pipeline's `merge: true`), its progress logged into the run's (pipeline's) log, and
// what it wrote, or why not, recorded on the run's (pipeline's) record. A failed export is reported;
// the run stays completed. An `out` folder is replaced only when it is empty or an earlier export of
// Anneal's (it carries the anneal-run.json marker, as output_dir copies do).

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportRunResult } from '../../core/protocol/daemon.ts';
import type { RecipeExportRecord } from '../../core/protocol/runs.ts';
import type { RecipeExport } from '../../core/recipe/exportBlock.ts';
import { EXPORT_MARKER, exportRefusal, type ExportMarker } from './exportOutput.ts';
import { exportWeights, type ExportJob, type ExportWritten } from './pipelineMerge.ts';

/** The records of a recipe's exports, each `out` set (default: `<folder>/exports/<format>[-<quant>]`). */
export function exportRecords(exports: readonly RecipeExport[] | undefined, folder: string): RecipeExportRecord[] | undefined {
  if (!exports?.length) return undefined;
  return exports.map((e) => ({
    format: e.format,
    ...(e.quant !== undefined ? { quant: e.quant } : {}),
    out: e.out ?? join(folder, 'exports', e.format === 'gguf' ? `gguf-${e.quant ?? 'f16'}` : e.format),
    status: 'pending',
  }));
}

/** A `runs/export` result as the record a run lists beside its recipe's exports. */
export function exportedRecord(result: ExportRunResult): RecipeExportRecord {
  return {
    format: result.format,
    ...(result.quant !== undefined ? { quant: result.quant } : {}),
    out: result.outDir,
    status: 'done',
    files: result.files,
    ...(result.llamaCheck ? { llamaCheck: result.llamaCheck } : {}),
  };
}

/** `records` with `record` in place of the one written to the same folder (a re-export), else added at the end. */
export function withExport(records: readonly RecipeExportRecord[] | undefined, record: RecipeExportRecord): RecipeExportRecord[] {
  const list = [...(records ?? [])];
  const at = list.findIndex((r) => r.out === record.out);
  if (at >= 0) list[at] = record;
  else list.push(record);
  return list;
}

/** `merged`, `gguf (q8_0)`: an export in a log line. */
export const exportLabel = (r: Pick<RecipeExportRecord, 'format' | 'quant'>): string => (r.format === 'gguf' ? `gguf (${r.quant ?? 'f16'})` : r.format);

/** A sentence for the run's (pipeline's) message once every export has ended. */
export function exportsSummary(records: readonly RecipeExportRecord[]): string {
  const done = records.filter((r) => r.status === 'done');
  const failed = records.filter((r) => r.status === 'failed');
  const parts = [...(done.length ? [`Exported ${done.map((r) => `${exportLabel(r)} to ${r.out}`).join(', ')}.`] : []), ...failed.map((r) => `The ${exportLabel(r)} export failed: ${r.error}`)];
  return parts.join(' ');
}

export interface RecipeExportsHooks {
  /** A line for the run's (pipeline's) log. */
  log(line: string): void;
  /** A record changed: save it and tell the clients. */
  changed(): void;
  /** What the anneal-run.json marker names as the run and step. */
  marker: Omit<ExportMarker, 'exportedAt' | 'source'>;
}

/**
 * Writes each pending export of `records` from `source` (a run's output folder), one after another;
 * `done` resolves once every one has ended (never rejects). `kill` ends the export in progress; it
 * and the ones after it are recorded as failed with `why`.
 */
export function runRecipeExports(cliPath: string, source: string, records: RecipeExportRecord[], hooks: RecipeExportsHooks): { done: Promise<void>; kill(why: string): void } {
  let current: ExportJob<ExportWritten> | undefined;
  let killed: string | undefined;
  const fail = (r: RecipeExportRecord, error: string) => {
    r.status = 'failed';
    r.error = error;
    hooks.log(`[anneal] export ${exportLabel(r)} failed: ${error}`);
    hooks.changed();
  };
  const done = (async () => {
    for (const r of records) {
      if (r.status !== 'pending') continue;
      if (killed) {
        fail(r, killed);
        continue;
      }
      const refusal = exportRefusal(r.out);
      if (refusal) {
        fail(r, refusal.replace(/^output_dir /, 'out ').replace("Point output_dir at", "Point the export's out at").replace(/, and train again\.$/, '.'));
        continue;
      }
      rmSync(r.out, { recursive: true, force: true });
      r.status = 'running';
      hooks.log(`[anneal] export ${exportLabel(r)} of ${source} to ${r.out}`);
      hooks.changed();
      current = exportWeights(cliPath, source, { format: r.format, ...(r.quant ? { quant: r.quant } : {}), out: r.out }, (message) => hooks.log(`[anneal] export ${exportLabel(r)}: ${message}`));
      try {
        const written = await current.done;
        writeFileSync(join(written.outDir, EXPORT_MARKER), JSON.stringify({ ...hooks.marker, source, exportedAt: new Date().toISOString() } satisfies ExportMarker, null, 2) + '\n');
        r.status = 'done';
        r.out = written.outDir;
        r.files = written.files;
        r.error = undefined;
        if (written.llamaCheck) r.llamaCheck = written.llamaCheck;
        hooks.log(`[anneal] exported ${exportLabel(r)} to ${written.outDir}: ${written.files.join(', ')}`);
        if (written.llamaCheck) for (const line of written.llamaCheck.summary.split('\n')) hooks.log(`[anneal] export ${exportLabel(r)}: ${line}`);
        hooks.changed();
      } catch (err) {
        fail(r, killed ?? (err as Error).message);
      } finally {
        current = undefined;
      }
    }
  })();
  return {
    done,
    kill(why: string) {
      killed = why;
      current?.kill();
    },
  };
}

/** After a daemon restart: exports a dead daemon left pending or running are recorded as failed; true when one was. */
export function failUnfinishedExports(records: RecipeExportRecord[] | undefined, how: string): boolean {
  let changed = false;
  for (const r of records ?? []) {
    if (r.status !== 'pending' && r.status !== 'running') continue;
    r.status = 'failed';
    r.error = `The daemon stopped before this export was written; \`${how} --format ${r.format}${r.quant ? ` --quant ${r.quant}` : ''} --out ${r.out}\` writes it.`;
    changed = true;
  }
  return changed;
}

/**
 * The recipe exports being written, by the id of the run (or pipeline) they belong to: started once it
 * completes, ended at shutdown; `finished` appends the summary to its message.
 */
export class ExportJobs {
  private readonly jobs = new Map<string, { done: Promise<void>; kill(why: string): void; source: string }>();

  constructor(private readonly cliPath: string | undefined) {}

  busy(id: string): boolean {
    return this.jobs.has(id);
  }

  /** Writes the pending entries of `records` from `source` (a run id or an output folder, as `anneal export` takes it); false when there is no CLI to run. */
  start(id: string, source: string, records: RecipeExportRecord[], hooks: RecipeExportsHooks, finished: (summary: string) => void): boolean {
    if (!this.cliPath) return false;
    const job = { ...runRecipeExports(this.cliPath, source, records, hooks), source };
    this.jobs.set(id, job);
    void job.done.then(() => {
      this.jobs.delete(id);
      finished(exportsSummary(records));
    });
    return true;
  }

  /** Ends every export in progress (the daemon is shutting down); resolves once they are recorded. */
  killAll(): Promise<void>[] {
    return [...this.jobs.values()].map((job) => {
      job.kill(`The daemon shut down during the export; \`anneal export ${job.source}\` writes it.`);
      return job.done;
    });
  }
}
