// Which parts of a recipe run code from the workspace: reward modules (`rewards: [{file: ...}]`), which
// the engine loads and calls. Everything else a recipe names (data, models, JSON schemas, chat
// templates) is read as data. An editor asks for Workspace Trust before it starts such a recipe.

import { resolveFrom } from './files.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The reward modules (absolute paths) `rewards` would run: a recipe's `rewards` as parsed (paths
 * relative to `recipeFile`), or a run's resolved RewardSpecs (already absolute). Anything malformed
 * is skipped; the recipe checker reports it.
 */
export function rewardModules(rewards: unknown, recipeFile: string): string[] {
  if (!Array.isArray(rewards)) return [];
  const files = rewards.flatMap((r) => (isObj(r) && typeof r.file === 'string' && r.file !== '' ? [resolveFrom(recipeFile, r.file)] : []));
  return [...new Set(files)];
}

/**
 * Why a recipe (or run) named `what` must not start in a workspace that is not trusted, or undefined
 * when it may: it runs `modules` (as the user should read them, e.g. workspace-relative).
 */
export function untrustedRefusal(what: string, modules: string[], isTrusted: boolean): string | undefined {
  if (isTrusted || modules.length === 0) return undefined;
  const shown = modules.length === 1 ? modules[0] : `${modules.slice(0, -1).join(', ')} and ${modules.at(-1)}`;
  const them = modules.length === 1 ? 'it' : 'them';
  return `${what} runs ${shown} as ${modules.length === 1 ? 'a reward function' : 'reward functions'}, which is code from this workspace; trust the workspace to run ${them}, then train again.`;
}
