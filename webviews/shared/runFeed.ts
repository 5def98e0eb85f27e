// Keeps a view subscribed to the runs it shows, across reconnects: each time the session becomes
// ready it subscribes again from where the view's data ends (see resubscribe.ts), so the curves
// neither lose nor repeat a point. History replays before the subscribe result arrives; the view
// asks `isReplaying` to tell history from live points.

import { GetRun, RunStatusNotification, Subscribe, Unsubscribe } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import type { DaemonSession } from './daemonSession.ts';
import { resubscribeFrom } from './resubscribe.ts';

/** The view's data, as far as subscriptions are concerned. */
export interface FeedTarget {
  /** Highest step the view holds for the run (undefined when it holds nothing). */
  lastStep(runId: string): number | undefined;
  /** Drops the run's data with step >= `step`. */
  truncateFrom(runId: string, step: number): void;
  /** The run's record, from a subscribe result or a status notification. */
  setRun(run: RunInfo): void;
  /** A request failed in a way the user should see. */
  error(message: string): void;
}

export class RunFeed {
  private runIds: string[] = [];
  private readonly resumesSeen = new Map<string, number>();
  private readonly replaying = new Set<string>();

  constructor(private readonly session: DaemonSession, private readonly target: FeedTarget) {
    session.onState((s) => {
      if (s.state === 'ready') for (const id of this.runIds) void this.subscribe(id);
      else this.replaying.clear();
    });
    session.on(RunStatusNotification.type, ({ run }) => {
      if (this.runIds.includes(run.id)) this.resumesSeen.set(run.id, run.resumes.length);
    });
  }

  get shown(): readonly string[] {
    return this.runIds;
  }

  /** True while the run's history is replaying. */
  isReplaying(runId: string): boolean {
    return this.replaying.has(runId);
  }

  /** Shows exactly these runs: subscribes to the new ones, unsubscribes from the others. */
  setRuns(runIds: string[]): void {
    const next = [...new Set(runIds)];
    const removed = this.runIds.filter((id) => !next.includes(id));
    const added = next.filter((id) => !this.runIds.includes(id));
    this.runIds = next;
    if (this.session.current.state !== 'ready') return;
    for (const id of removed) {
      this.resumesSeen.delete(id);
      void this.session.request(Unsubscribe.type, { runId: id }).catch(() => {});
    }
    for (const id of added) void this.subscribe(id);
  }

  private async subscribe(runId: string): Promise<void> {
    try {
      let fromStep = 0;
      const last = this.target.lastStep(runId);
      if (last !== undefined) {
        const { run } = await this.session.request(GetRun.type, { runId });
        fromStep = resubscribeFrom(last, this.resumesSeen.get(runId) ?? run.resumes.length, run);
        this.target.truncateFrom(runId, fromStep);
      }
      this.replaying.add(runId);
      const result = await this.session.request(Subscribe.type, { runId, fromStep });
      this.resumesSeen.set(runId, result.run.resumes.length);
      this.target.setRun(result.run);
    } catch (err) {
      if (this.session.current.state === 'ready') this.target.error(`Could not follow run ${runId}: ${(err as Error).message}`);
    } finally {
      this.replaying.delete(runId);
    }
  }
}
