// The scores of each preference file, kept by the extension host for the session, and the scorings
// under way: the pair inspector and the dataset report of a file both read them and redraw when they
// change. A file's scores are keyed by record text (core/pairs/pairScores.ts), so they stay right
// through edits without being told about them. No vscode import: plain listeners.
import type { ScoredFile } from '../../../core/pairs/pairScores.ts';

export type ScoreEvent =
  | { kind: 'scores'; uri: string }
  /** `done`/`total` pairs of a scoring under way; `label` says with what. */
  | { kind: 'progress'; uri: string; label: string; done: number; total: number }
  /** A scoring ended without new scores (failed or cancelled). */
  | { kind: 'ended'; uri: string };

export class ScoreStore {
  private readonly files = new Map<string, ScoredFile>();
  private readonly listeners = new Set<(event: ScoreEvent) => void>();

  get(uri: string): ScoredFile | undefined {
    return this.files.get(uri);
  }

  set(uri: string, scores: ScoredFile | undefined): void {
    if (scores) this.files.set(uri, scores);
    else this.files.delete(uri);
    this.emit({ kind: 'scores', uri });
  }

  emit(event: ScoreEvent): void {
    for (const l of [...this.listeners]) l(event);
  }

  /** Listens to every file's events; returns the disposer. */
  listen(listener: (event: ScoreEvent) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }
}

/** The one store of the extension host (panels are opened from several places). */
export const scoreStore = new ScoreStore();
