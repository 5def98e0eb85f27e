// `models/generate`: one chat answered by a model the daemon can open (a run's output, a run's base
// model, a model folder or .gguf, a Hub id, `tiny`), in a short-lived engine child. The side-by-side
// chat asks it once per side. No node imports: the webview bundles read these types too.

import { ParameterStructures, RequestType } from 'vscode-jsonrpc';
import { isValidRunId } from './runId.ts';
import { isAbsolutePath } from './scorePairs.ts';

/** An answer failed for a reason of the model or the engine (it cannot load, the engine ended); the message says which. */
export const GenerateFailedCode = -31012;

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface GenerateParams {
  /** `tiny`, a run id (its output: the adapter over its base), an absolute model folder or .gguf file, or a Hub id `org/name[@revision]`. */
  model: string;
  /** With a run id: answer with the model the run started from instead of its output. */
  base?: boolean;
  /** The conversation so far; the last turn is the user's. */
  messages: ChatTurn[];
  /** Longest answer in tokens (default 128, at most MAX_NEW_TOKENS). */
  maxNewTokens?: number;
  /** 0 (default): greedy; above 0 samples. */
  temperature?: number;
  /** The sampling seed (default: the run's seed, else 42). */
  seed?: number;
}

export interface GenerateResult {
  completion: string;
  /** Tokens generated, the stop token included. */
  tokens: number;
  /** Stopped at the model's stop token (false: cut at maxNewTokens). */
  stopped: boolean;
  /** What answered, in words ("run sft-… (adapter on tiny)", "base of run sft-…: tiny"). */
  description: string;
  /** What was loaded: a folder, a file, a Hub id or `tiny`. */
  modelRef: string;
  /** The run named by `model`, if one was. */
  runId?: string;
  /** Wall time of the answer, model loading included. */
  ms: number;
}

export const MAX_NEW_TOKENS = 2048;

/**
 * Client -> daemon. Answers the conversation with one model in an engine child (cancelling the request
 * or closing the connection kills it). Errors: InvalidParams, RunNotFound, InvalidState (a run with no
 * output yet), GenerateFailedCode (the model cannot load, the engine ended).
 */
export namespace GenerateText {
  export const method = 'models/generate' as const;
  export const type = new RequestType<GenerateParams, GenerateResult, void>(method, ParameterStructures.byName);
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** True for a Hub id `org/name[@revision]` (not a path). */
export function isHubId(model: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/.test(model) && !model.startsWith('.');
}

/** The params as sent, checked: the typed params, or the sentence that says what is wrong. */
export function checkGenerateParams(params: unknown): { ok: true; params: GenerateParams } | { ok: false; message: string } {
  const fail = (message: string) => ({ ok: false as const, message: `Invalid params: ${message}` });
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return fail('expected an object with named fields.');
  const p = params as Record<string, unknown>;
  if (typeof p.model !== 'string' || p.model.trim() === '') return fail('model must be `tiny`, a run id, an absolute model folder or .gguf file, or a Hub id.');
  const model = p.model.trim();
  if (model !== 'tiny' && !isValidRunId(model) && !isAbsolutePath(model) && !isHubId(model)) {
    return fail(`model must be \`tiny\`, a run id (see \`anneal runs\`), an absolute path or a Hub id org/name, got "${model}".`);
  }
  if (p.base !== undefined && typeof p.base !== 'boolean') return fail('base must be true or false.');
  if (p.base === true && (model === 'tiny' || !isValidRunId(model))) return fail('base needs a run id: it answers with the model that run started from.');
  if (!Array.isArray(p.messages) || p.messages.length === 0) return fail('messages must be a non-empty list of {role, content}.');
  const messages: ChatTurn[] = [];
  for (const [i, m] of p.messages.entries()) {
    const turn = m as Record<string, unknown> | null;
    if (typeof turn !== 'object' || turn === null || !ROLES.has(turn.role as string) || typeof turn.content !== 'string') {
      return fail(`messages[${i}] must be {role: "system" | "user" | "assistant", content: string}.`);
    }
    messages.push({ role: turn.role as ChatTurn['role'], content: turn.content });
  }
  if (messages.at(-1)!.role !== 'user') return fail('the last message must be the user\'s.');
  if (messages.at(-1)!.content.trim() === '') return fail('the user\'s message is empty.');
  if (p.maxNewTokens !== undefined && (typeof p.maxNewTokens !== 'number' || !Number.isInteger(p.maxNewTokens) || p.maxNewTokens < 1 || p.maxNewTokens > MAX_NEW_TOKENS)) {
    return fail(`maxNewTokens must be an integer from 1 to ${MAX_NEW_TOKENS}.`);
  }
  if (p.temperature !== undefined && (typeof p.temperature !== 'number' || !Number.isFinite(p.temperature) || p.temperature < 0 || p.temperature > 5)) {
    return fail('temperature must be a number from 0 (greedy) to 5.');
  }
  if (p.seed !== undefined && (typeof p.seed !== 'number' || !Number.isInteger(p.seed))) return fail('seed must be an integer.');
  const out: GenerateParams = { model, messages };
  if (p.base === true) out.base = true;
  if (p.maxNewTokens !== undefined) out.maxNewTokens = p.maxNewTokens as number;
  if (p.temperature !== undefined) out.temperature = p.temperature as number;
  if (p.seed !== undefined) out.seed = p.seed as number;
  return { ok: true, params: out };
}
