// What a run's TRL processes did after its daemon was killed (kill -9): they trained on until they saw
// their launcher's stdin close, saved a checkpoint and stopped, their event lines going to
// trl/orphaned.log (the launcher's relay) since nobody read them. A resumed run takes that work up
// instead of training those steps again: the logged metrics join the run's history and the checkpoint
// saved after the kill becomes the one it resumes from — only when the log holds every logged step
// since the checkpoint the daemon recorded (lines the dying worker had read but not passed on are lost).
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricRecord } from '../../core/protocol/runs.ts';
import { parseEvent } from './events.ts';

export interface OrphanedWork {
  /** The metrics logged after `fromStep`, up to the checkpoint, in step order. */
  metrics: MetricRecord[];
  checkpoint: { step: number; path: string };
}

/** The step of a checkpoint path (`…/step-12`), 0 for none. */
export function checkpointStep(path: string | undefined): number {
  const m = path ? /step-(\d+)\/?$/.exec(path) : null;
  return m ? Number(m[1]) : 0;
}

/**
 * The work to take up from `<runDir>/trl/orphaned.log` after the recorded checkpoint `fromStep`, or why
 * not (`reason`), or undefined when there is no such log. The log is renamed once read, so it is
 * taken up once.
 */
export function takeOrphanedWork(runDir: string, fromStep: number, loggingSteps: number): OrphanedWork | { reason: string } | undefined {
  const path = join(runDir, 'trl', 'orphaned.log');
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  renameSync(path, join(runDir, 'trl', 'orphaned.read.log'));
  const byStep = new Map<number, MetricRecord>();
  let checkpoint: OrphanedWork['checkpoint'] | undefined;
  for (const line of text.split('\n')) {
    const event = parseEvent(line);
    if (event?.kind === 'metrics' && event.step > fromStep) {
      const record: MetricRecord = { step: event.step };
      for (const [k, v] of Object.entries(event.metrics)) if (typeof v === 'number') record[k] = v;
      byStep.set(event.step, { ...byStep.get(event.step), ...record });
    }
    if (event?.kind === 'checkpoint' && event.step > (checkpoint?.step ?? fromStep) && existsSync(join(event.path, 'trainer_state.json'))) {
      checkpoint = { step: event.step, path: event.path };
    }
  }
  if (!checkpoint) return { reason: 'no checkpoint newer than the recorded one was saved after the daemon stopped' };
  const every = Math.max(1, Math.floor(loggingSteps));
  for (let step = Math.ceil((fromStep + 1) / every) * every; step <= checkpoint.step; step += every) {
    if (!byStep.has(step)) return { reason: `step ${step}'s metrics were lost with the daemon, so the history would have a gap` };
  }
  const metrics = [...byStep.values()].filter((m) => m.step <= checkpoint!.step).sort((a, b) => a.step - b.step);
  return { metrics, checkpoint };
}
