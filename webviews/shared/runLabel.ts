// How a run is named in pickers (dashboard and samples).

import type { RunInfo } from '../../core/protocol/runs.ts';

/** A short label for a run in the picker: "sft · tiny · 2026-11-21 18:02 · completed". */
export function runLabel(run: RunInfo): string {
  const model = run.model === 'tiny' ? 'tiny' : (run.model.split(/[\\/]/).filter(Boolean).pop() ?? run.model);
  const when = run.createdAt ? run.createdAt.slice(0, 16).replace('T', ' ') : '';
  return [run.stage, model, when, run.status].filter(Boolean).join(' · ');
}
