// `pairs/score` for one connection: check the params, resolve the model (scoreTarget.ts), score in a
// child (scoreChild.ts) while its progress goes to the asking client, and turn every failure into a
// ResponseError with one sentence. Cancelling the request or closing the connection kills the child.

import { ResponseError, type CancellationToken } from 'vscode-jsonrpc/node';
import { DaemonErrorCodes } from '../../core/protocol/daemon.ts';
import { checkScorePairsParams, type ScorePairsParams, type ScorePairsResult } from '../../core/protocol/scorePairs.ts';
import { scoreInChild, ScoreError } from '../runs/scoreChild.ts';
import { scoreTarget, type RunLookup } from '../runs/scoreTarget.ts';

/** Least time between two progress notifications of one request. */
const PROGRESS_INTERVAL_MS = 100;

export interface ScoreDeps {
  runs: RunLookup;
  /** dist/worker.js */
  workerPath: string;
  /** A backend every child must use, if the daemon was told one. */
  backend?: string;
  log(line: string): void;
}

/** Scores checked params; what the request handler awaits (also used by tests through the socket). */
export async function scorePairsWith(deps: ScoreDeps, params: ScorePairsParams, onProgress: (done: number, total: number) => void, signal: AbortSignal): Promise<ScorePairsResult> {
  const target = scoreTarget(params, deps.runs, deps.backend);
  const result = await scoreInChild(deps.workerPath, target.job, { onProgress, signal, log: deps.log });
  // The engine names the folder it loaded; a run's id says more to the user than its output path.
  const description = target.runId ? result.description.split(target.job.model).join(`run ${target.runId}`) : result.description;
  return { ...result, description, modelDir: target.job.model, ...(target.runId ? { runId: target.runId } : {}) };
}

/**
 * The request handler's body. `inflight` holds the connection's running scorings so a closed
 * connection can abort them; `progress` sends one notification to this client.
 */
export async function handleScorePairs(
  raw: unknown,
  token: CancellationToken,
  deps: ScoreDeps,
  inflight: Set<AbortController>,
  progress: (params: { token: string; done: number; total: number }) => void,
): Promise<ScorePairsResult> {
  const checked = checkScorePairsParams(raw);
  if (!checked.ok) throw new ResponseError(DaemonErrorCodes.InvalidParams, checked.message);
  const params = checked.params;
  const controller = new AbortController();
  inflight.add(controller);
  const cancel = token.onCancellationRequested(() => controller.abort());
  let last = 0;
  const onProgress = (done: number, total: number) => {
    if (params.progressToken === undefined) return;
    const now = Date.now();
    if (done < total && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    progress({ token: params.progressToken, done, total });
  };
  try {
    return await scorePairsWith(deps, params, onProgress, controller.signal);
  } catch (err) {
    if (err instanceof ResponseError) throw err;
    if (err instanceof ScoreError && err.cancelled) throw new ResponseError(DaemonErrorCodes.RequestCancelled, err.message);
    throw new ResponseError(DaemonErrorCodes.ScoringFailed, err instanceof Error ? err.message : String(err));
  } finally {
    cancel.dispose();
    inflight.delete(controller);
  }
}
