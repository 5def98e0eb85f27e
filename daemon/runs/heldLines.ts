// A run's stream lines (metrics, samples, log) while its disk is full: held in memory in order and
// written once space returns, so a file never gets a torn line or a gap; what could not be kept is
// counted, and the run's end says what its record lacks.
import type { RunStore, StreamFile } from './store.ts';

/** Lines held in memory per run while its disk is full, written in order once space returns. */
const MAX_PENDING_LINES = 20_000;

/** A run's stream lines that could not be written yet (disk full), oldest first. */
interface PendingLines {
  lines: { file: StreamFile; line: string }[];
  /** Lines dropped because the buffer was full. */
  lost: Record<StreamFile, number>;
  /** Lines that were held and later written. */
  held: number;
}

export class HeldLines {
  private readonly pending = new Map<string, PendingLines>();
  private readonly lostLines = new Map<string, Record<StreamFile, number>>();

  constructor(private readonly store: RunStore, private readonly log?: (line: string) => void) {}

  /**
   * Appends a stream line, whole (RunStore.append) or held in memory: while the disk is full, lines
   * wait in order and are written once a later append finds space again, so the file never has a torn
   * line or a gap. Past MAX_PENDING_LINES the oldest are dropped and counted (the run is degraded).
   */
  append(id: string, file: StreamFile, line: string): void {
    let pending = this.pending.get(id);
    if (!pending) {
      try {
        this.store.append(id, file, line);
        return;
      } catch (err) {
        this.log?.(`[anneal] could not write to run ${id} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); holding its lines in memory until the disk has space`);
        pending = { lines: [], lost: { 'metrics.jsonl': 0, 'samples.jsonl': 0, 'log.txt': 0 }, held: 0 };
        this.pending.set(id, pending);
      }
    }
    pending.lines.push({ file, line });
    if (pending.lines.length > MAX_PENDING_LINES) pending.lost[pending.lines.shift()!.file]++;
    this.flush(id);
  }

  /** Writes a run's held lines in order; true once none are left. */
  private flush(id: string): boolean {
    const pending = this.pending.get(id);
    if (!pending) return true;
    while (pending.lines.length > 0) {
      const next = pending.lines[0]!;
      try {
        this.store.append(id, next.file, next.line);
      } catch {
        return false;
      }
      pending.lines.shift();
      pending.held++;
    }
    this.pending.delete(id);
    const lost = Object.values(pending.lost).reduce((a, b) => a + b, 0);
    if (lost > 0) {
      const before = this.lostLines.get(id);
      const all = { ...pending.lost };
      if (before) for (const f of Object.keys(all) as StreamFile[]) all[f] += before[f];
      this.lostLines.set(id, all);
    }
    const note = `[anneal] the disk was full for a while: ${pending.held} line(s) were held in memory and written once space returned${lost > 0 ? `; ${lost} older line(s) did not fit in memory and are lost` : ''}`;
    try {
      this.store.append(id, 'log.txt', note);
    } catch {
      /* full again: the next append tells */
    }
    return true;
  }

  /**
   * At a run's end: a last try to write its held lines; returns the sentence saying what its record
   * lacks (lines still unwritten or dropped), or undefined when nothing was lost.
   */
  settle(id: string): string | undefined {
    this.flush(id);
    const pending = this.pending.get(id);
    const lost: Record<StreamFile, number> = { 'metrics.jsonl': 0, 'samples.jsonl': 0, 'log.txt': 0, ...this.lostLines.get(id) };
    for (const l of pending?.lines ?? []) lost[l.file]++;
    this.pending.delete(id);
    this.lostLines.delete(id);
    const parts = (Object.keys(lost) as StreamFile[]).filter((f) => lost[f] > 0).map((f) => `${lost[f]} line(s) of ${f}`);
    if (parts.length === 0) return undefined;
    return `Its record is incomplete: ${parts.join(', ')} could not be written because the disk was full; free some space (the trained output is not affected).`;
  }
}
