// What a stage changed, as a person reads it: for each sample prompt, the model's answer before the
// stage trained (its run's first sample, at step 0) and after (its last). The daemon records them on
// the pipeline when a stage's run ends; `anneal train` prints them at each handover and the editor's
// pipeline report shows them. Pure: it reads the run's sample records.
import type { StageAnswer } from '../protocol/pipelines.ts';
import type { SampleRecord } from '../protocol/runs.ts';

/**
 * Per prompt (in the order first sampled), its earliest and latest completion; prompts sampled at one
 * step only have no before/after and are left out. Online RL's scored groups count their first
 * completion of a step.
 */
export function stageAnswers(samples: readonly SampleRecord[]): StageAnswer[] {
  const byPrompt = new Map<string, { first: SampleRecord; last: SampleRecord }>();
  for (const s of samples) {
    const seen = byPrompt.get(s.prompt);
    if (!seen) byPrompt.set(s.prompt, { first: s, last: s });
    else {
      if (s.step < seen.first.step) seen.first = s;
      if (s.step > seen.last.step) seen.last = s;
    }
  }
  return [...byPrompt.entries()]
    .filter(([, { first, last }]) => last.step > first.step)
    .map(([prompt, { first, last }]) => ({ prompt, before: first.completion, after: last.completion, steps: [first.step, last.step] }));
}

/** The answers as terminal lines: the prompt, then its answer before and after (each on one line). */
export function answerLines(answers: readonly StageAnswer[], indent = '  '): string[] {
  const flat = (s: string) => JSON.stringify(s.replace(/\s+/g, ' ').trim());
  return answers.flatMap((a) => [
    `${indent}${flat(a.prompt)}`,
    `${indent}  before (step ${a.steps[0]}): ${flat(a.before)}`,
    `${indent}  after  (step ${a.steps[1]}): ${flat(a.after)}`,
  ]);
}
