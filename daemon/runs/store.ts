// The run store: one folder per run under `<stateDir>/runs/<id>/` holding `run.json` (rewritten
// atomically), append-only `metrics.jsonl` / `samples.jsonl` / `log.txt`, the engine's
// `checkpoints/step-N/` and `output/`. The daemon is the only writer of these files; appends are
// synchronous so a line is in the OS before the event is forwarded to any client.

import { existsSync, writeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, closeSync, ftruncateSync, writeFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CheckpointInfo, MetricRecord, RunInfo, SampleRecord } from '../../core/protocol/runs.ts';
import { invalidRunIdMessage, isValidRunId } from '../../core/protocol/runId.ts';

export type StreamFile = 'metrics.jsonl' | 'samples.jsonl' | 'log.txt';
const STREAM_FILES: StreamFile[] = ['metrics.jsonl', 'samples.jsonl', 'log.txt'];

/** Writes `text` to `path` via a temp file and a rename, so readers see the old or the new file, never half. */
export function writeFileAtomic(path: string, text: string, mode?: number): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
    renameSync(tmp, path);
  } catch (err) {
    // Disk full: leave the old file in place and no half-written temp behind.
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** A fresh run id: stage, UTC time and a random suffix, e.g. `sft-20261121-173344-9f2c`. */
export function newRunId(stage: string, now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stage}-${t}-${randomBytes(2).toString('hex')}`;
}

export class RunStore {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  /** The run's folder; throws on a malformed id so no caller can build a path outside the store. */
  dir(id: string): string {
    if (!isValidRunId(id)) throw new Error(invalidRunIdMessage(id));
    return join(this.root, id);
  }

  exists(id: string): boolean {
    return isValidRunId(id) && existsSync(join(this.dir(id), 'run.json'));
  }

  /** Creates the run's folder (it must not exist) and its first run.json. */
  create(run: RunInfo): void {
    const dir = this.dir(run.id);
    mkdirSync(dir, { recursive: false });
    try {
      mkdirSync(join(dir, 'checkpoints'));
      for (const f of STREAM_FILES) writeFileSync(join(dir, f), '');
      this.save(run);
    } catch (err) {
      // Disk full: no half-made run folder is left behind.
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  save(run: RunInfo): void {
    writeFileAtomic(join(this.dir(run.id), 'run.json'), JSON.stringify(run, null, 2) + '\n');
  }

  load(id: string): RunInfo | undefined {
    try {
      const run = JSON.parse(readFileSync(join(this.dir(id), 'run.json'), 'utf8')) as RunInfo;
      return run && typeof run === 'object' && run.id === id ? { ...run, resumes: run.resumes ?? [] } : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every readable run, newest first. Folders with a bad name or a broken run.json are skipped. */
  list(): RunInfo[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    const runs = names.filter(isValidRunId).map((id) => this.load(id)).filter((r): r is RunInfo => r !== undefined);
    return runs.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /**
   * Appends one line (a newline is added) to one of the run's stream files, whole or not at all: a
   * write cut short (disk full) is cut back off, so no torn line is left for the next one to glue onto.
   */
  append(id: string, file: StreamFile, line: string): void {
    const bytes = Buffer.from(line + '\n', 'utf8');
    const fd = openSync(join(this.dir(id), file), 'a');
    let before = -1;
    try {
      before = fstatSync(fd).size;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    } catch (err) {
      if (before >= 0) {
        try {
          ftruncateSync(fd, before);
        } catch {
          /* left for repairStreamFile at the next start */
        }
      }
      throw err;
    } finally {
      closeSync(fd);
    }
  }

  appendMetrics(id: string, record: MetricRecord): void {
    this.append(id, 'metrics.jsonl', JSON.stringify(record));
  }

  appendSample(id: string, record: SampleRecord): void {
    this.append(id, 'samples.jsonl', JSON.stringify(record));
  }

  /** A run's stored metrics and samples, and its log lines: what a new subscriber is replayed. */
  history(id: string): { metrics: MetricRecord[]; samples: SampleRecord[]; logs: string[] } {
    return {
      metrics: this.readRecords<MetricRecord>(id, 'metrics.jsonl'),
      samples: this.readRecords<SampleRecord>(id, 'samples.jsonl'),
      logs: this.readLines(id, 'log.txt'),
    };
  }

  /** The records of a JSONL stream file; a line torn by a crash is skipped. */
  readRecords<T>(id: string, file: 'metrics.jsonl' | 'samples.jsonl'): T[] {
    const out: T[] = [];
    for (const line of this.readLines(id, file)) {
      try {
        const value = JSON.parse(line) as T;
        if (value && typeof value === 'object') out.push(value);
      } catch {
        // A torn line from a killed daemon: history keeps every complete line.
      }
    }
    return out;
  }

  readLines(id: string, file: StreamFile): string[] {
    let text = '';
    try {
      text = readFileSync(join(this.dir(id), file), 'utf8');
    } catch {
      return [];
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  /**
   * Repairs a stream file after a crash or a full disk. A JSONL file keeps exactly its lines that parse
   * as JSON objects, wherever a broken one sits (a torn write in the middle glued to the next line);
   * the log is cut back to its last complete line. Returns how many lines were dropped.
   */
  repairStreamFile(id: string, file: StreamFile): number {
    if (file === 'log.txt') return this.repairTornLine(id, file);
    const path = join(this.dir(id), file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return 0; // missing: nothing to repair
    }
    if (text === '') return 0;
    const lines = text.split('\n');
    const tail = lines.pop(); // '' when the file ends with a newline
    const kept = lines.filter((line) => {
      try {
        const value = JSON.parse(line);
        return typeof value === 'object' && value !== null && !Array.isArray(value);
      } catch {
        return false;
      }
    });
    const dropped = lines.length - kept.length + (tail ? 1 : 0);
    if (dropped > 0) writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
    return dropped;
  }

  /**
   * Cuts a stream file back to its last complete line. A daemon killed mid-append can leave half a
   * line; the next append would glue onto it. Returns 1 when it cut, else 0.
   */
  repairTornLine(id: string, file: StreamFile): number {
    const path = join(this.dir(id), file);
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r+');
      const size = fstatSync(fd).size;
      if (size === 0) return 0;
      const tailSize = Math.min(size, 64 * 1024);
      const tail = Buffer.alloc(tailSize);
      readSync(fd, tail, 0, tailSize, size - tailSize);
      if (tail[tailSize - 1] === 0x0a) return 0;
      const lastNewline = tail.lastIndexOf(0x0a);
      ftruncateSync(fd, lastNewline < 0 ? Math.max(0, size - tailSize) : size - tailSize + lastNewline + 1);
      return 1;
    } catch {
      return 0; // missing file: nothing to repair
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * Drops metrics and samples logged after `step` (they belong to steps a resume will redo), so the
   * stored history and a replay match the resumed run's curve exactly.
   */
  truncateAfter(id: string, step: number): void {
    for (const file of ['metrics.jsonl', 'samples.jsonl'] as const) {
      const kept = this.readRecords<{ step: number }>(id, file).filter((r) => typeof r.step === 'number' && r.step <= step);
      writeFileAtomic(join(this.dir(id), file), kept.map((r) => JSON.stringify(r) + '\n').join(''));
    }
  }

  /**
   * The newest complete checkpoint folder (`checkpoints/step-N`; the engine renames them into place)
   * with step <= maxStep.
   */
  latestCheckpoint(id: string, maxStep = Infinity): CheckpointInfo | undefined {
    const dir = join(this.dir(id), 'checkpoints');
    let best: CheckpointInfo | undefined;
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return undefined;
    }
    for (const name of names) {
      const m = /^step-(\d+)$/.exec(name);
      if (!m) continue;
      const path = join(dir, name);
      try {
        if (!statSync(path).isDirectory()) continue;
      } catch {
        continue;
      }
      const step = Number(m[1]);
      if (step <= maxStep && (!best || step > best.step)) best = { step, path };
    }
    return best;
  }

  /**
   * Deletes checkpoint folders the engine never finished (hidden temp folders left by a crash or a
   * full disk); only called while no worker runs for this run. Returns how many were removed.
   */
  removeUnfinishedCheckpoints(id: string): number {
    const dir = join(this.dir(id), 'checkpoints');
    let removed = 0;
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return 0;
    }
    for (const name of names) {
      if (/^step-\d+$/.test(name)) continue;
      if (name.startsWith('.') || name.includes('.tmp')) {
        rmSync(join(dir, name), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }
}
