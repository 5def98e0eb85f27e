// The samples view's reading of an online-RL step (GRPO/PPO): the step's completions gathered into
// their prompts' groups, each completion with its per-function rewards, total and advantage. Pure: the
// view draws what these functions return, and the unit tests check them on records like the engine's.

import type { ScoredCompletion } from '../../core/protocol/runs.ts';

/** One completion of a step as the store holds it (`scored` only for online RL). */
export interface StepSample {
  prompt: string;
  completion: string;
  scored?: ScoredCompletion;
}

/** A scored completion and its place among the step's records (arrival order, the engine's row order). */
export interface GroupCompletion {
  index: number;
  completion: string;
  scored: ScoredCompletion;
}

/** One prompt's group of completions at one step. */
export interface CompletionGroup {
  group: number;
  prompt: string;
  /** In the engine's order. */
  completions: GroupCompletion[];
  /** Every total equal (nulls ignored): the group gives no learning signal, every advantage is 0. */
  zeroVariance: boolean;
  /** Mean of the non-null totals (null when none). */
  meanReward: number | null;
  /** The error every completion of the group carries (a reward function failed on the whole batch): said once. */
  error?: string;
}

/**
 * Totals closer than this count as equal: the engine's (and TRL's) test for a zero group std, so the
 * view and `frac_reward_zero_std` agree on which groups carry no signal.
 */
const EQUAL_TOLERANCE = 1e-8;

/** True when every non-null total is the same (also when fewer than two are scored: nothing to compare). */
export function hasZeroVariance(totals: readonly (number | null)[]): boolean {
  let min = Infinity;
  let max = -Infinity;
  for (const t of totals) {
    if (t === null || !Number.isFinite(t)) continue;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  return !(max - min > EQUAL_TOLERANCE);
}

function meanOf(totals: readonly (number | null)[]): number | null {
  const xs = totals.filter((t): t is number => t !== null && Number.isFinite(t));
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/** A record's `scored` when it has the shape the view reads; anything else reads as a plain sample. */
export function validScored(value: unknown): ScoredCompletion | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const s = value as Partial<ScoredCompletion>;
  if (typeof s.group !== 'number' || typeof s.advantage !== 'number') return undefined;
  if (typeof s.rewards !== 'object' || s.rewards === null) return undefined;
  return s as ScoredCompletion;
}

/** The step's scored completions by group, groups in index order; plain samples are left out. */
export function stepGroups(samples: readonly StepSample[]): CompletionGroup[] {
  const byGroup = new Map<number, { prompt: string; completions: GroupCompletion[] }>();
  samples.forEach((s, index) => {
    if (!s.scored) return;
    let g = byGroup.get(s.scored.group);
    if (!g) byGroup.set(s.scored.group, (g = { prompt: s.prompt, completions: [] }));
    g.completions.push({ index, completion: s.completion, scored: s.scored });
  });
  return [...byGroup.entries()]
    .sort(([a], [b]) => a - b)
    .map(([group, g]) => {
      const totals = g.completions.map((c) => c.scored.reward);
      const error = g.completions[0]?.scored.error;
      const shared = error !== undefined && g.completions.every((c) => c.scored.error === error);
      return { group, prompt: g.prompt, completions: g.completions, zeroVariance: hasZeroVariance(totals), meanReward: meanOf(totals), ...(shared && { error }) };
    });
}

/** The reward functions' names across the groups, in the order first seen: one column each. */
export function rewardNames(groups: readonly CompletionGroup[]): string[] {
  const names: string[] = [];
  for (const g of groups) for (const c of g.completions) for (const name of Object.keys(c.scored.rewards)) if (!names.includes(name)) names.push(name);
  return names;
}

/** A group's completions, best advantage first when `byAdvantage` (ties keep the engine's order), else as sampled. */
export function orderCompletions(group: CompletionGroup, byAdvantage: boolean): GroupCompletion[] {
  if (!byAdvantage) return group.completions;
  return [...group.completions].sort((a, b) => b.scored.advantage - a.scored.advantage || a.index - b.index);
}

/** The groups to draw: all of them, or only those with a learning signal. */
export function visibleGroups(groups: readonly CompletionGroup[], hideZeroVariance: boolean): CompletionGroup[] {
  return hideZeroVariance ? groups.filter((g) => !g.zeroVariance) : groups.slice();
}

export interface StepPosition {
  step: number;
  /** The neighbouring steps, when there are any. */
  previous?: number;
  next?: number;
  newest: boolean;
}

/**
 * Which step to show among `steps` (ascending): `pinned` when the user picked one that is still there,
 * else the newest (a view left alone follows training). Undefined when there is no step.
 */
export function stepPosition(steps: readonly number[], pinned: number | undefined): StepPosition | undefined {
  if (steps.length === 0) return undefined;
  let i = pinned === undefined ? -1 : steps.indexOf(pinned);
  if (i < 0) i = steps.length - 1;
  return {
    step: steps[i]!,
    ...(i > 0 && { previous: steps[i - 1]! }),
    ...(i < steps.length - 1 && { next: steps[i + 1]! }),
    newest: i === steps.length - 1,
  };
}

const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What the summary line says about a step's groups, e.g. "8 groups of 8 completions · 3 with zero reward variance (hidden)". */
export function groupsSummary(groups: readonly CompletionGroup[], hideZeroVariance: boolean): string {
  const sizes = new Set(groups.map((g) => g.completions.length));
  const total = groups.reduce((n, g) => n + g.completions.length, 0);
  const parts = [sizes.size === 1 ? `${count(groups.length, 'group')} of ${count([...sizes][0]!, 'completion')}` : `${count(groups.length, 'group')}, ${count(total, 'completion')}`];
  const flat = groups.filter((g) => g.zeroVariance).length;
  if (flat > 0) parts.push(`${flat} with zero reward variance${hideZeroVariance ? ' (hidden)' : ''}`);
  return parts.join(' · ');
}
