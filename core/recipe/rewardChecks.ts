// The checks of a recipe's `rewards` (GRPO's reward functions) and `reward_weights`. A reward is one
// of three things: a built-in (core/rewards: name, options and the columns it reads), a module `file`
// (it must parse and export a function; read, never run), or a trained reward `model` (a folder or
// Hub id holding a sequence classifier). Weights sit on each reward or, TRL's way, in one
// `reward_weights` list; not both.

import type { Range, RelatedInformation } from '../diagnostics.ts';
import type { FileAccess } from '../fileAccess.ts';
import { stageRef } from './pipeline.ts';
import { cachedSnapshot, hubRefOf } from '../hubCache.ts';
import { isGgufPath } from '../ollamaStore.ts';
import { BUILTIN_REWARDS, findBuiltinReward, rewardColumns, rewardOptionProblems, suggestBuiltinReward, type BuiltinReward, type RewardContext, type RewardOptionProblem } from '../rewards/index.ts';
import type { RecipeCode } from './codes.ts';
import { hasKey, keyRange, valueRange, type RecipeDocument } from './document.ts';
import { resolveFrom, rewardModelKind } from './files.ts';
import { isRewardModulePath, REWARD_MODULE_EXTENSIONS, rewardModuleFacts } from './rewardModule.ts';
import { pythonRewardFileDiagnostics } from './engineChecks.ts';
import type { Stage } from './types.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
type Add = (code: RecipeCode, message: string, range: Range, data?: unknown, related?: RelatedInformation[]) => void;

/** A dataset column a reward reads, for the data check. */
export interface RequiredColumn {
  column: string;
  reward: string;
  index: number;
  /** Written as `column:` (else a built-in's default column). */
  written: boolean;
}

export interface RewardCheckInput {
  document: RecipeDocument;
  recipe: Obj;
  recipeFile: string;
  files: FileAccess;
  stage: Stage | undefined;
  maxCompletionLength: number | undefined;
  add: Add;
  stageRange: () => Range;
}

const OPTION_CODES: Record<RewardOptionProblem['kind'], RecipeCode> = {
  'unknown-key': 'recipe-unknown-key',
  'wrong-type': 'recipe-wrong-type',
  'invalid-value': 'recipe-invalid-value',
};

const list = (items: string[]) => (items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : (items[0] ?? ''));

/** Diagnostics of `rewards` and `reward_weights`; returns the dataset columns the rewards read. */
export function rewardDiagnostics(input: RewardCheckInput): RequiredColumn[] {
  const { document, recipe, recipeFile, files, add } = input;
  const rewards = Array.isArray(recipe.rewards) ? recipe.rewards : undefined;
  const required: RequiredColumn[] = [];
  const context: RewardContext = {
    readText: (path) => files.readText(path),
    resolvePath: (path) => resolveFrom(recipeFile, path),
    max_completion_length: input.maxCompletionLength,
  };
  rewards?.forEach((item, index) => {
    const r: Obj | undefined = typeof item === 'string' ? { name: item } : isObj(item) ? item : undefined;
    if (!r) return;
    const at = ['rewards', index];
    const namePath = typeof item === 'string' ? at : [...at, 'name'];
    const label = typeof r.name === 'string' ? r.name : `#${index + 1}`;
    const file = typeof r.file === 'string' ? r.file : undefined;
    const model = typeof r.model === 'string' ? r.model : undefined;
    const builtin = file !== undefined || model !== undefined || typeof r.name !== 'string' ? undefined : findBuiltinReward(r.name);
    if (file !== undefined && model !== undefined) {
      add(
        'recipe-reward-source-conflict',
        `Reward \`${label}\` names both a module \`file\` and a reward \`model\`; a reward is one of a built-in name, a \`file\` or a \`model\` — keep one, or list them as two rewards.`,
        keyRange(document, [...at, 'model']),
      );
    }
    if (builtin) {
      if (typeof r.column === 'string' && !builtin.column) {
        add('recipe-key-unused', `${builtin.name} reads no dataset column; remove \`column\`.`, keyRange(document, [...at, 'column']));
      }
      for (const column of rewardColumns(builtin, { column: typeof r.column === 'string' ? r.column : undefined })) {
        required.push({ column, reward: String(r.name), index, written: typeof r.column === 'string' });
      }
      rewardOptionDiagnostics(document, r, index, builtin, context, add);
    } else if (model !== undefined && file === undefined) {
      for (const key of ['column', 'options'] as const) {
        if (r[key] !== undefined) {
          const what = key === 'column' ? 'reads the prompt and completion only, no dataset column' : 'takes no options (those are a built-in\'s settings)';
          add('recipe-key-unused', `A reward model ${what}; remove \`${key}\`.`, keyRange(document, [...at, key]));
        }
      }
    } else if (typeof r.column === 'string') {
      required.push({ column: r.column, reward: label, index, written: true });
    }
    if (file !== undefined) {
      const check = recipe.engine === 'trl' ? pythonRewardFileDiagnostics : rewardFileDiagnostics;
      check(file, resolveFrom(recipeFile, file), files, valueRange(document, [...at, 'file']), add);
    } else if (model !== undefined) {
      rewardModelDiagnostics(model, recipeFile, files, valueRange(document, [...at, 'model']), add);
    } else if (typeof r.name === 'string' && !builtin) {
      const near = suggestBuiltinReward(r.name);
      add(
        'recipe-reward-unknown',
        `\`${r.name}\` is not a built-in reward${near ? `; did you mean \`${near}\`?` : ` (${Object.keys(BUILTIN_REWARDS).join(', ')}).`} For your own function, add \`file:\` naming its module; for a trained reward model, \`model:\` naming its folder.`,
        valueRange(document, namePath),
        near ? { suggestion: near } : undefined,
      );
    }
  });
  weightDiagnostics(input, rewards);
  if (input.stage === 'grpo' && (!rewards || rewards.length === 0)) {
    add('recipe-rewards-missing', 'GRPO needs reward functions to score completions; add `rewards:`, e.g. `rewards: [{name: exact_match, column: answer}]`.', input.stageRange());
  }
  // PPO's reward model (TRL's reward_model_path): the same checks as a reward `model`.
  if (input.stage === 'ppo') {
    if (typeof recipe.reward_model_path === 'string') {
      rewardModelDiagnostics(recipe.reward_model_path, recipeFile, files, valueRange(document, ['reward_model_path']), add);
    } else if (recipe.reward_model_path === undefined) {
      add('recipe-rewards-missing', 'PPO scores each response with a trained reward model; add `reward_model_path:` naming a reward run\'s output folder (stage: reward).', input.stageRange());
    }
  }
  return required;
}

/** A built-in reward's `options` checked against its declaration (core/rewards): unknown keys on the key, bad values on the value. */
function rewardOptionDiagnostics(document: RecipeDocument, r: Obj, index: number, builtin: BuiltinReward, context: RewardContext, add: Add): void {
  const at = ['rewards', index];
  if (r.options !== undefined && !isObj(r.options)) {
    add('recipe-wrong-type', `\`options\` of reward ${builtin.name} must be a mapping, e.g. {${Object.keys(builtin.options)[0] ?? 'key'}: ...}.`, valueRange(document, [...at, 'options']));
    return;
  }
  const config = { name: builtin.name, column: typeof r.column === 'string' ? r.column : undefined, options: r.options as Record<string, unknown> | undefined };
  for (const p of rewardOptionProblems(builtin, config, context)) {
    const range =
      p.key === undefined
        ? valueRange(document, typeof r.name === 'string' && hasKey(document, [...at, 'name']) ? [...at, 'name'] : at)
        : p.kind === 'unknown-key'
          ? keyRange(document, [...at, 'options', p.key])
          : valueRange(document, [...at, 'options', p.key]);
    add(OPTION_CODES[p.kind], p.message, range, p.suggestion ? { suggestion: p.suggestion } : undefined);
  }
}

/** A reward module: it exists, is a JavaScript/TypeScript file, parses, and exports a function (read, not run). */
function rewardFileDiagnostics(written: string, path: string, files: FileAccess, range: Range, add: Add): void {
  if (!files.exists(path)) {
    add('recipe-reward-file-missing', `Reward module \`${written}\` not found (looked in ${path}); fix the path or use a built-in reward name.`, range);
    return;
  }
  if (files.isDirectory(path) || !isRewardModulePath(path)) {
    add(
      'recipe-reward-module-invalid',
      `\`${written}\` is ${files.isDirectory(path) ? 'a folder' : 'not a JavaScript or TypeScript file'}; \`file\` names the module exporting the reward function (${list([...REWARD_MODULE_EXTENSIONS])}).`,
      range,
    );
    return;
  }
  const text = files.readText(path);
  if (text === undefined) {
    add('recipe-reward-module-invalid', `Cannot read \`${written}\`; check its permissions.`, range);
    return;
  }
  const facts = rewardModuleFacts(path, text);
  if (facts.syntaxError) {
    const { start } = facts.syntaxError.range;
    add(
      'recipe-reward-module-invalid',
      `\`${written}\` has a syntax error at ${start.line + 1}:${start.character + 1}: ${facts.syntaxError.message}; fix it there.`,
      range,
      undefined,
      [{ file: path, range: facts.syntaxError.range, message: facts.syntaxError.message }],
    );
  } else if (facts.noFunction) {
    const { instead, names, at } = facts.noFunction;
    const why = [instead, names.length ? `it exports ${names.join(', ')}` : undefined].filter(Boolean).join('; ');
    const fix = names.length === 1 ? `add \`export default ${names[0]};\`` : 'write `export default function reward({ prompts, completions }) { … }`';
    add(
      'recipe-reward-no-function',
      `\`${written}\` has no default export function to call as the reward${why ? ` (${why})` : ''}; ${fix}.`,
      range,
      undefined,
      at ? [{ file: path, range: at, message: instead ?? 'the export' }] : undefined,
    );
  }
}

/** A reward model: a folder (relative to the recipe) or a Hub id, holding a sequence classifier. */
function rewardModelDiagnostics(model: string, recipeFile: string, files: FileAccess, range: Range, add: Add): void {
  // An earlier pipeline stage's output: pipeline.ts checks the reference; the folder exists once it has run.
  if (stageRef(model) !== undefined) return;
  const fix = 'give the output of a reward run (stage: reward) or a *ForSequenceClassification model';
  if (model === 'tiny' || isGgufPath(model)) {
    add('recipe-reward-model-no-head', `\`${model}\` is a language model without a score head, so it cannot score completions; ${fix}.`, range);
    return;
  }
  const path = resolveFrom(recipeFile, model);
  const hub = hubRefOf(model, path, files);
  let dir: string;
  if (hub) {
    // Whether the Hub has it is only known online; a cached snapshot can be looked at.
    const cache = files.hubCache?.();
    const snapshot = cache === undefined ? undefined : cachedSnapshot(cache, hub, files);
    if (!snapshot) return;
    dir = snapshot.dir;
  } else if (!files.exists(path)) {
    add('recipe-reward-model-missing', `Reward model \`${model}\` not found (looked in ${path}); fix the path (it is relative to this recipe) or name a Hub id \`org/name\`.`, range);
    return;
  } else if (!files.isDirectory(path)) {
    add('recipe-reward-model-missing', `\`${model}\` is a file; point \`model\` at the reward model's folder (a reward run's output).`, range);
    return;
  } else dir = path;
  const kind = rewardModelKind(dir, files);
  if (kind === 'not-a-model') {
    add('recipe-reward-model-missing', `\`${model}\` holds no config.json or adapter_config.json, so it is no model folder; ${fix}.`, range);
  } else if (kind === 'no') {
    add('recipe-reward-model-no-head', `\`${model}\` is a model without a score head (not a sequence classifier), so it cannot score completions; ${fix}.`, range);
  }
}

/** `reward_weights` (TRL): one per reward, not beside a reward's own `weight`; a weight of 0 is pointed out. */
function weightDiagnostics(input: RewardCheckInput, rewards: unknown[] | undefined): void {
  const { document, recipe, add } = input;
  const weights = Array.isArray(recipe.reward_weights) ? recipe.reward_weights : undefined;
  const nameOf = (index: number) => {
    const r = rewards?.[index];
    return typeof r === 'string' ? r : isObj(r) && typeof r.name === 'string' ? r.name : `#${index + 1}`;
  };
  if (weights && rewards && weights.length !== rewards.length) {
    add(
      'recipe-invalid-value',
      `reward_weights has ${weights.length} value${weights.length === 1 ? '' : 's'} for ${rewards.length} reward${rewards.length === 1 ? '' : 's'}; give one weight per reward, in the order of \`rewards\`.`,
      valueRange(document, ['reward_weights']),
    );
  }
  const zero = (index: number, range: Range) =>
    add(
      'recipe-reward-weight-zero',
      `Weight 0: reward \`${nameOf(index)}\` is computed and logged (rewards/${nameOf(index)}/mean) but does not steer training; give it a weight to optimise it.`,
      range,
    );
  rewards?.forEach((r, index) => {
    if (!isObj(r) || r.weight === undefined) return;
    if (weights) {
      add(
        'recipe-reward-weights-both',
        `Reward \`${nameOf(index)}\` has its own \`weight\` and \`reward_weights\` sets one too; set weights in one place — remove this \`weight\`, or \`reward_weights\`.`,
        keyRange(document, ['rewards', index, 'weight']),
      );
    } else if (r.weight === 0) zero(index, valueRange(document, ['rewards', index, 'weight']));
  });
  weights?.forEach((w, index) => {
    if (w === 0 && index < (rewards?.length ?? 0)) zero(index, valueRange(document, ['reward_weights', index]));
  });
}
