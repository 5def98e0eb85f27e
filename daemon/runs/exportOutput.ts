// A completed run's output copied to the recipe's `output_dir`. The run's own `output/` stays the
// source of truth; the copy is written under a temporary sibling name and renamed into place, so the
// folder holds the old output or the new one, never half. A folder Anneal did not write is never
// overwritten: ours carry an `anneal-run.json` marker naming the run.

import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The file that marks a folder as an Anneal export (safe to replace with a newer run's output). */
export const EXPORT_MARKER = 'anneal-run.json';

/** What the marker records. */
export interface ExportMarker {
  runId: string;
  source: string;
  step: number;
  exportedAt: string;
}

/** Why `target` may not be written to, in one sentence, or undefined when it may. */
export function exportRefusal(target: string): string | undefined {
  let entries: string[];
  try {
    if (!statSync(target).isDirectory()) return `output_dir ${target} exists and is not a folder; name a folder in the recipe's output_dir.`;
    entries = readdirSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return `output_dir ${target} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`;
  }
  if (entries.length === 0 || entries.includes(EXPORT_MARKER)) return undefined;
  return `output_dir ${target} already holds files Anneal did not write (it has no ${EXPORT_MARKER}); it was left untouched. Point output_dir at a new or empty folder, or empty this one, and train again.`;
}

/**
 * Copies `source` (a run's output/) to `target` atomically; throws one sentence when `target` is a
 * foreign folder or the copy fails (nothing half-written is left behind).
 */
export function exportOutput(source: string, target: string, marker: Omit<ExportMarker, 'exportedAt' | 'source'>): void {
  const refusal = exportRefusal(target);
  if (refusal) throw new Error(refusal);
  const parent = dirname(target);
  const tmp = join(parent, `.${basename(target)}.anneal-tmp-${process.pid}`);
  const old = join(parent, `.${basename(target)}.anneal-old-${process.pid}`);
  let movedOld = false;
  try {
    mkdirSync(parent, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    cpSync(source, tmp, { recursive: true });
    const record: ExportMarker = { ...marker, source, exportedAt: new Date().toISOString() };
    writeFileSync(join(tmp, EXPORT_MARKER), JSON.stringify(record, null, 2) + '\n');
    // rename() cannot replace a non-empty folder: move the previous export aside first.
    if (existsSync(target)) {
      rmSync(old, { recursive: true, force: true });
      renameSync(target, old);
      movedOld = true;
    }
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (movedOld && !existsSync(target)) {
      try {
        renameSync(old, target);
        movedOld = false;
      } catch {
        /* the previous export stays at the aside name; said below */
      }
    }
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOSPC' ? 'the disk is full' : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.message;
    throw new Error(`Could not copy the output to output_dir ${target} (${why}); the run's own output is intact in ${source}.${movedOld ? ` The previous export is kept in ${old}.` : ''}`);
  }
  if (movedOld) rmSync(old, { recursive: true, force: true });
}
