// Where to pick a run's stream up again after the connection dropped, so that no point is lost or
// shown twice. Pure: unit-tested without a daemon.

import type { RunInfo } from '../../core/protocol/runs.ts';

/**
 * The `fromStep` for a re-subscription. The last step seen may be incomplete (a step's train and eval
 * records, or a step's several samples, arrive as separate notifications), so the view drops what it
 * holds from that step on and asks for it again. A resume that happened while we were away redid
 * every step after its checkpoint, so those steps are replaced too.
 */
export function resubscribeFrom(lastStepSeen: number | undefined, knownResumes: number, run: Pick<RunInfo, 'resumes'>): number {
  if (lastStepSeen === undefined) return 0;
  let from = lastStepSeen;
  for (const resume of run.resumes.slice(knownResumes)) from = Math.min(from, resume.fromStep + 1);
  return Math.max(0, from);
}
