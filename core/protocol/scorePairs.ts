// The shapes of `pairs/score` (score every pair of a preference file with a trained model) and the
// check of its params. The request and its progress notification are declared in daemon.ts with the
// other methods; this file holds what both ends and the score child share. No node imports: the
// webview bundles read these types too.

import { isValidRunId } from './runId.ts';

export interface ScorePairsParams {
  /** Absolute path of the preference file (JSONL) on the daemon's machine. */
  data: string;
  /** A run id (its output folder is used) or an absolute folder: a PEFT adapter or a reward model. */
  model: string;
  /** Scale of the implicit reward (DPO's beta); default: the run's `beta`, else 0.1. */
  beta?: number;
  /** Longest pair in tokens; default: the run's `max_length`, else 1024. */
  maxLength?: number;
  /** When set, the daemon sends `pairs/scoreProgress` notifications carrying this token. */
  progressToken?: string;
}

/** One scored pair. */
export interface PairScore {
  /** The pair's line in the file (0-based). */
  line: number;
  chosen: number;
  rejected: number;
  /** chosen - rejected: below 0 when the model prefers the rejected answer. */
  margin: number;
}

export type PairScoreKind = 'reward-model' | 'implicit-reward';

export interface ScorePairsResult {
  kind: PairScoreKind;
  /** What scored the pairs, in words (the inspector's header). */
  description: string;
  /** In file order. */
  scores: PairScore[];
  /** Pairs left out: their prompt alone fills maxLength. */
  skipped: number;
  /** The run whose output scored them, when `model` named a run. */
  runId?: string;
  /** The folder that was loaded. */
  modelDir: string;
}

export interface ScorePairsProgress {
  /** The request's `progressToken`. */
  token: string;
  /** Pairs scored so far, of `total`. */
  done: number;
  total: number;
}

/** Stages whose output can score pairs: a reward model, or a policy adapter trained from a base. */
export const SCORING_STAGES = ['dpo', 'kto', 'orpo', 'cpo', 'simpo', 'reward', 'sft'] as const;

/** An absolute path on POSIX or Windows (core stays free of node:path for the browser bundles). */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\');
}

/** The params as sent, checked: the typed params, or the sentence that says what is wrong. */
export function checkScorePairsParams(params: unknown): { ok: true; params: ScorePairsParams } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message: `Invalid params: ${message}` });
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return fail('expected an object with named fields.');
  const p = params as Record<string, unknown>;
  if (typeof p.data !== 'string' || p.data.trim() === '') return fail('data must be the absolute path of a preference file (JSONL).');
  if (!isAbsolutePath(p.data)) return fail(`data must be an absolute path, got "${p.data}".`);
  if (typeof p.model !== 'string' || p.model.trim() === '') return fail('model must be a run id or the absolute path of a model folder.');
  if (!isValidRunId(p.model) && !isAbsolutePath(p.model)) return fail(`model must be a run id (see \`anneal runs\`) or an absolute folder, got "${p.model}".`);
  if (p.beta !== undefined && (typeof p.beta !== 'number' || !Number.isFinite(p.beta) || p.beta <= 0)) return fail('beta must be a positive number.');
  if (p.maxLength !== undefined && (typeof p.maxLength !== 'number' || !Number.isInteger(p.maxLength) || p.maxLength < 2)) return fail('maxLength must be an integer of at least 2.');
  if (p.progressToken !== undefined && typeof p.progressToken !== 'string') return fail('progressToken must be a string.');
  const out: ScorePairsParams = { data: p.data, model: p.model };
  if (p.beta !== undefined) out.beta = p.beta as number;
  if (p.maxLength !== undefined) out.maxLength = p.maxLength as number;
  if (p.progressToken !== undefined) out.progressToken = p.progressToken as string;
  return { ok: true, params: out };
}
