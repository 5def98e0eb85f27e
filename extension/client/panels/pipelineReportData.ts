// What the pipeline report shows of each stage, from the pipeline record and the stage's run history
// (its metrics and samples as the daemon replays them): the key metrics at the first and last logged
// step, and each sample prompt's answer at the first sample step (before the stage trained) and the
// last (after). Pure, so the figures are unit-testable.
import type { StageReport } from '../../../core/protocol/compareView.ts';
import type { PipelineStageInfo } from '../../../core/protocol/pipelines.ts';
import type { MetricRecord, RunInfo, SampleRecord } from '../../../core/protocol/runs.ts';

/** Metrics worth a line, in this order, when a stage logged them at its first and last step. */
const KEY_METRICS = ['loss', 'eval/loss', 'mean_token_accuracy', 'rewards/accuracies', 'rewards/margins', 'reward', 'kl', 'entropy'];

export interface StageHistory {
  metrics: MetricRecord[];
  samples: SampleRecord[];
}

/** First and last value of each key metric the stage logged at both ends. */
export function keyMetrics(metrics: readonly MetricRecord[]): { name: string; start: number; end: number }[] {
  if (metrics.length === 0) return [];
  const sorted = [...metrics].sort((a, b) => a.step - b.step);
  const first = (name: string) => sorted.find((r) => Number.isFinite(r[name]))?.[name];
  const last = (name: string) => [...sorted].reverse().find((r) => Number.isFinite(r[name]))?.[name];
  const out: { name: string; start: number; end: number }[] = [];
  for (const name of KEY_METRICS) {
    const start = first(name);
    const end = last(name);
    if (start !== undefined && end !== undefined) out.push({ name, start, end });
  }
  return out;
}

/**
 * Each prompt's first answer at the earliest sample step and at the latest one (GRPO/PPO groups give
 * several completions per prompt and step: the first stands for them). A prompt sampled once has no after.
 */
export function beforeAfter(samples: readonly SampleRecord[]): StageReport['samples'] {
  const byPrompt = new Map<string, { first?: SampleRecord; last?: SampleRecord }>();
  for (const s of samples) {
    const entry = byPrompt.get(s.prompt) ?? {};
    if (!entry.first || s.step < entry.first.step) entry.first = s;
    if (!entry.last || s.step > entry.last.step) entry.last = s;
    byPrompt.set(s.prompt, entry);
  }
  const out: StageReport['samples'] = [];
  for (const [prompt, { first, last }] of byPrompt) {
    if (!first || !last || first.step === last.step) continue;
    out.push({ prompt, before: { step: first.step, text: first.completion }, after: { step: last.step, text: last.completion } });
  }
  return out;
}

/** The report of one stage; `history` is absent for a stage not started (or whose history failed: `error`). */
export function stageReport(stage: PipelineStageInfo, index: number, run?: RunInfo, history?: StageHistory, error?: string): StageReport {
  const steps = history?.metrics.map((m) => m.step) ?? [];
  return {
    index,
    name: stage.name,
    stage: stage.stage,
    status: stage.status,
    from: stage.from,
    merge: stage.merge,
    ...(stage.runId ? { runId: stage.runId } : {}),
    ...(run ? { run: { status: run.status, model: run.model, outputDir: run.outputDir, message: run.message, step: run.step, totalSteps: run.totalSteps } } : {}),
    gates: stage.gates ?? [],
    verdict: stage.verdict ?? [],
    metrics: history ? keyMetrics(history.metrics) : [],
    ...(steps.length ? { firstStep: Math.min(...steps), lastStep: Math.max(...steps) } : {}),
    samples: history ? beforeAfter(history.samples) : [],
    ...(error ? { error } : {}),
  };
}
