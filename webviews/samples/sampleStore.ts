// The samples view's model: every completion sampled during training, by run, step and prompt.
// Two readings of the same data: step by step (what did the model say at step 200?) and prompt by
// prompt (how did the answer to this prompt change over training?). Online RL (GRPO/PPO) records carry
// how each completion was scored; groups.ts reads a step of those as its prompts' groups.

import { RunSampleNotification, RunStatusNotification } from '../../core/protocol/daemon.ts';
import type { RunInfo, SampleRecord } from '../../core/protocol/runs.ts';
import { validScored, type StepSample } from './groups.ts';

export interface StepSamples {
  step: number;
  /** In arrival order; a prompt may have several completions at one step. */
  samples: StepSample[];
  /** Some completion of this step was scored (an online-RL generation batch). */
  scored: boolean;
}

export class RunSamples {
  /** Sorted by step. */
  readonly steps: StepSamples[] = [];
  /** Prompts in the order first seen. */
  readonly prompts: string[] = [];
  run: RunInfo | undefined;
  count = 0;
  version = 0;

  constructor(readonly runId: string) {}

  get lastStep(): number | undefined {
    return this.steps.length > 0 ? this.steps[this.steps.length - 1]!.step : undefined;
  }

  /** Adds a completion; a step before the last one means a resumed run redid it, so the later steps go. */
  add(record: SampleRecord): void {
    if (typeof record.step !== 'number' || typeof record.prompt !== 'string' || typeof record.completion !== 'string') return;
    const last = this.lastStep;
    if (last !== undefined && record.step < last) this.truncateFrom(record.step);
    let entry = this.steps[this.steps.length - 1];
    if (!entry || entry.step !== record.step) {
      entry = { step: record.step, samples: [], scored: false };
      // Replays and live records arrive in step order, so appending keeps `steps` sorted.
      this.steps.push(entry);
    }
    const scored = validScored(record.scored);
    entry.samples.push(scored ? { prompt: record.prompt, completion: record.completion, scored } : { prompt: record.prompt, completion: record.completion });
    if (scored) entry.scored = true;
    if (!this.prompts.includes(record.prompt)) this.prompts.push(record.prompt);
    this.count++;
    this.version++;
  }

  /** Drops every sample with step >= `step`. */
  truncateFrom(step: number): void {
    while (this.steps.length > 0 && this.steps[this.steps.length - 1]!.step >= step) {
      this.count -= this.steps.pop()!.samples.length;
    }
    this.version++;
  }

  /** The steps with scored completions, ascending (the steps the groups view pages through). */
  scoredSteps(): number[] {
    return this.steps.filter((e) => e.scored).map((e) => e.step);
  }

  /** The samples of one step (undefined when the step holds none). */
  stepAt(step: number): StepSamples | undefined {
    return this.steps.find((e) => e.step === step);
  }

  /** One prompt's completions, step by step (the prompt-centric view). */
  byPrompt(prompt: string): { step: number; completions: string[] }[] {
    const out: { step: number; completions: string[] }[] = [];
    for (const entry of this.steps) {
      const completions = entry.samples.filter((s) => s.prompt === prompt).map((s) => s.completion);
      if (completions.length > 0) out.push({ step: entry.step, completions });
    }
    return out;
  }
}

export class SampleStore {
  readonly runs = new Map<string, RunSamples>();

  run(runId: string): RunSamples {
    let r = this.runs.get(runId);
    if (!r) this.runs.set(runId, (r = new RunSamples(runId)));
    return r;
  }

  drop(runId: string): void {
    this.runs.delete(runId);
  }

  /** Completions held across all runs shown. */
  get count(): number {
    let n = 0;
    for (const r of this.runs.values()) n += r.count;
    return n;
  }
}

/** Applies a `run/sample` or `run/status` notification; returns the run id it changed, if ours. */
export function applySampleNotification(store: SampleStore, method: string, params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const p = params as Record<string, unknown>;
  if (method === RunSampleNotification.method) {
    const runId = p.runId;
    const record = p.record as SampleRecord | undefined;
    if (typeof runId !== 'string' || !store.runs.has(runId) || typeof record !== 'object' || record === null) return undefined;
    store.run(runId).add(record);
    return runId;
  }
  if (method === RunStatusNotification.method) {
    const run = p.run as RunInfo | undefined;
    if (!run || typeof run.id !== 'string' || !store.runs.has(run.id)) return undefined;
    store.run(run.id).run = run;
    store.run(run.id).version++;
    return run.id;
  }
  return undefined;
}
