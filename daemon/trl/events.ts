// The events a TRL run reports (python/anneal_trl/events.py is the other end): one JSON object per
// stdout line after the `@anneal ` marker, mirroring the engine's TrainEvents (daemon/engine/api.ts).
// Every other line the Python processes print is the run's log.

import type { BackendReport } from '../engine/api.ts';
import type { ScoredCompletion } from '../../core/protocol/runs.ts';

export const EVENT_MARKER = '@anneal ';

export type TrlEvent =
  | { kind: 'status'; phase: 'loading' | 'training' | 'saving' | 'done'; message?: string; totalSteps?: number; backend?: BackendReport }
  | { kind: 'metrics'; step: number; metrics: Record<string, number | null> }
  | { kind: 'sample'; step: number; prompt: string; completion: string; scored?: ScoredCompletion }
  | { kind: 'checkpoint'; step: number; path: string }
  | { kind: 'log'; line: string }
  | { kind: 'stopped'; step: number }
  | { kind: 'done'; step: number; outputDir: string }
  | { kind: 'error'; message: string }
  | { kind: 'exit'; code: number };

const KINDS = new Set(['status', 'metrics', 'sample', 'checkpoint', 'log', 'stopped', 'done', 'error', 'exit']);

/** The event a line carries, or undefined for a plain log line (or a marker line that is not an event). */
export function parseEvent(line: string): TrlEvent | undefined {
  if (!line.startsWith(EVENT_MARKER)) return undefined;
  try {
    const value = JSON.parse(line.slice(EVENT_MARKER.length)) as { kind?: unknown };
    return value && typeof value === 'object' && typeof value.kind === 'string' && KINDS.has(value.kind) ? (value as TrlEvent) : undefined;
  } catch {
    return undefined;
  }
}
