// Which run a command acts on: the one clicked in the Runs view, an id passed by another command,
// or, from the palette, the only candidate or one the user picks.
import * as vscode from 'vscode';
import type { RunInfo, RunStatus } from '../../../core/protocol/runs.ts';
import { describeRun } from '../runs/runItem.ts';
import type { RunsModel } from '../runs/runsModel.ts';

/** The run id carried by a command argument (a Runs view item, a run id, or a run record). */
export function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (typeof arg === 'object' && arg !== null) {
    const a = arg as { run?: { id?: unknown }; id?: unknown; runId?: unknown };
    if (typeof a.run?.id === 'string') return a.run.id;
    if (typeof a.runId === 'string') return a.runId;
    if (typeof a.id === 'string') return a.id;
  }
  return undefined;
}

/** The run to act on, among runs in `statuses`; undefined (after saying why) when there is none. */
export async function pickRun(
  runs: RunsModel,
  arg: unknown,
  statuses: readonly RunStatus[],
  action: string,
): Promise<RunInfo | undefined> {
  const id = runIdOf(arg);
  if (id) {
    const run = runs.get(id);
    if (run) return run;
    await runs.refresh();
    return runs.get(id) ?? { id } as RunInfo;
  }
  const candidates = runs.runs.filter((r) => statuses.includes(r.status));
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(`Anneal: no run to ${action} (none is ${statuses.join(', ')}).`);
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const now = new Date();
  const picked = await vscode.window.showQuickPick(
    candidates.map((run) => {
      const d = describeRun(run, runs.extras(run.id), now);
      return { label: d.label, description: `${run.status} · ${d.description}`, detail: run.id, run };
    }),
    { title: `Anneal: ${action} which run?`, placeHolder: 'Pick a run' },
  );
  return picked?.run;
}
