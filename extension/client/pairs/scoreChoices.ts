// The models "Score with a model…" offers: completed runs whose output can score pairs (a reward
// model, or a policy adapter with its base as the reference), newest first, plus a folder of the
// user's. Pure (no vscode import) so the choice and its wording are unit-tested.
import type { RunInfo } from '../../../core/protocol/runs.ts';
import { SCORING_STAGES } from '../../../core/protocol/scorePairs.ts';
import { modelName, relativeTime } from '../runs/runItem.ts';

export type ScoreTargetChoice = { kind: 'run'; run: RunInfo } | { kind: 'folder' };

export interface ModelChoice {
  label: string;
  description?: string;
  detail?: string;
  target: ScoreTargetChoice;
}

/** True when the run's output can score pairs: completed, of a scoring stage, with a head or an adapter. */
export function canScoreWith(run: RunInfo): boolean {
  if (run.status !== 'completed' || !(SCORING_STAGES as readonly string[]).includes(run.stage)) return false;
  // A full fine-tune of a policy is a plain model: no head, and no adapter to compare with its base.
  return run.stage === 'reward' || run.lora !== null;
}

function fileName(path: string): string {
  return path.split(/[\\/]/).filter(Boolean).pop() ?? path;
}

/** What the run scores with, in words. */
export function scoresWith(run: RunInfo): string {
  if (run.stage === 'reward') return 'reward model: each answer gets its score head\'s reward';
  const beta = typeof run.args.beta === 'number' ? run.args.beta : 0.1;
  return `implicit reward: beta × (log-prob with its LoRA adapter − without), beta ${beta}`;
}

/** The quick pick's rows: scoring runs (newest first, as listed), then "Choose a folder…". */
export function modelChoices(runs: readonly RunInfo[], dataPath: string, now: Date): ModelChoice[] {
  const rows: ModelChoice[] = runs.filter(canScoreWith).map((run) => ({
    label: `${run.stage.toUpperCase()} · ${run.id}`,
    description: [modelName(run.model), run.data.train === dataPath ? 'trained on this file' : `trained on ${fileName(run.data.train)}`, relativeTime(run.endedAt ?? run.createdAt, now)].filter(Boolean).join(' · '),
    detail: scoresWith(run),
    target: { kind: 'run', run },
  }));
  rows.push({ label: '$(folder) Choose a folder…', detail: 'a reward model folder, or a PEFT adapter folder (such as a run\'s output/)', target: { kind: 'folder' } });
  return rows;
}
