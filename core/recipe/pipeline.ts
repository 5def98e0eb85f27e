// A pipeline recipe (seed 004's workflow as one file): `stages:` lists the stages in order, each with
// its own keys over the shared ones at the top. Each policy stage starts from the previous policy
// stage's output (its adapter continues; `merge: true` folds it into the base first); the first starts
// from the top-level `model`. A reward stage trains from the top-level model (or `model: "@name"`) and
// a later stage names its output as `@name` (in `rewards: [{model: "@reward"}]` or `reward_model_path`).
//   model: HuggingFaceTB/SmolLM2-135M-Instruct
//   lora: {r: 16}
//   stages:
//     - {stage: sft, data: {train: sft.jsonl}, max_steps: 30}
//     - {stage: dpo, data: {train: pairs.jsonl}, gates: {exit: {rewards/accuracies: "> 0.8"}}}
// Pure: expands the value and finds the pipeline's own problems; check.ts checks each stage's view as
// a recipe of its own.
import type { Stage } from './types.ts';
import { STAGES } from './defaults.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys of a stage item that are the pipeline's, not the stage recipe's. */
export const STAGE_ITEM_KEYS = ['name', 'merge'] as const;
/** Keys only the top level of a pipeline has. */
const PIPELINE_KEYS = ['stages', 'export'];

export interface PipelineStage {
  index: number;
  /** The item's `name`, else its stage (a second dpo is dpo-2). */
  name: string;
  stage: Stage;
  /** The keys the item itself writes (its view reads these under stages[index]). */
  own: Set<string>;
  /** The stage as a recipe: the shared keys overlaid by the item's (references left as written). */
  recipe: Obj;
  /** Where its model comes from: the top-level model, or an earlier stage's output. */
  from: { kind: 'model' } | { kind: 'stage'; name: string };
  /** Fold the incoming adapter into its base before this stage. */
  merge: boolean;
}

export interface PipelineProblem {
  path: (string | number)[];
  message: string;
  on: 'key' | 'value';
}

/** A reference to an earlier stage's output: `@name`. */
export const stageRef = (v: unknown): string | undefined => (typeof v === 'string' && v.startsWith('@') ? v.slice(1) : undefined);

/** Whether a recipe value is a pipeline (has `stages:`). */
export const isPipeline = (value: Obj): boolean => value.stages !== undefined;

export function expandPipeline(value: Obj): { stages: PipelineStage[]; problems: PipelineProblem[] } {
  const problems: PipelineProblem[] = [];
  const stages: PipelineStage[] = [];
  if (!Array.isArray(value.stages) || value.stages.length === 0) {
    problems.push({ path: ['stages'], message: '`stages` lists the pipeline\'s stages in order, e.g. [{stage: sft, data: {train: sft.jsonl}}, {stage: dpo, data: {train: pairs.jsonl}}].', on: 'value' });
    return { stages, problems };
  }
  for (const key of ['stage']) {
    if (value[key] !== undefined) problems.push({ path: [key], message: 'A pipeline names each stage under `stages:`; remove the top-level `stage`.', on: 'key' });
  }
  const shared = Object.fromEntries(Object.entries(value).filter(([k]) => !PIPELINE_KEYS.includes(k) && k !== 'stage'));
  const names = new Map<string, PipelineStage>();
  let lastPolicy: string | undefined;
  value.stages.forEach((item, index) => {
    if (!isObj(item)) {
      problems.push({ path: ['stages', index], message: 'Each stage is a mapping with at least `stage:` (and usually `data:`).', on: 'value' });
      return;
    }
    const stage = item.stage;
    if (typeof stage !== 'string' || !(STAGES as readonly string[]).includes(stage)) {
      problems.push({ path: ['stages', index, ...(item.stage === undefined ? [] : ['stage'])], message: `Each stage needs \`stage:\` — one of ${STAGES.join(', ')}.`, on: item.stage === undefined ? 'key' : 'value' });
      return;
    }
    let name = typeof item.name === 'string' && item.name ? item.name : stage;
    if (typeof item.name !== 'string') for (let n = 2; names.has(name); n++) name = `${stage}-${n}`;
    else if (names.has(name)) problems.push({ path: ['stages', index, 'name'], message: `Another stage is already named \`${name}\`; give each a name of its own.`, on: 'value' });
    if (item.export !== undefined) problems.push({ path: ['stages', index, 'export'], message: '`export` applies to the pipeline\'s result: move it to the top level of the recipe (a stage\'s output is exported by hand: `anneal export RUN`).', on: 'key' });
    if (item.merge !== undefined && typeof item.merge !== 'boolean') problems.push({ path: ['stages', index, 'merge'], message: '`merge` is true (fold the incoming adapter into the base first) or false.', on: 'value' });
    // Where the model comes from, and every @reference to an earlier stage.
    const ref = stageRef(item.model);
    let from: PipelineStage['from'] = { kind: 'model' };
    if (item.model !== undefined && ref === undefined) from = { kind: 'model' };
    else if (ref !== undefined) from = { kind: 'stage', name: ref };
    else if (stage !== 'reward' && lastPolicy) from = { kind: 'stage', name: lastPolicy };
    const refs: { path: (string | number)[]; name: string; reward: boolean }[] = [];
    if (ref !== undefined) refs.push({ path: ['stages', index, 'model'], name: ref, reward: false });
    const rmp = stageRef(item.reward_model_path ?? shared.reward_model_path);
    if (rmp !== undefined) refs.push({ path: item.reward_model_path !== undefined ? ['stages', index, 'reward_model_path'] : ['reward_model_path'], name: rmp, reward: true });
    const rewards = Array.isArray(item.rewards) ? item.rewards : [];
    rewards.forEach((r, k) => {
      const n = isObj(r) ? stageRef(r.model) : undefined;
      if (n !== undefined) refs.push({ path: ['stages', index, 'rewards', k, 'model'], name: n, reward: true });
    });
    for (const r of refs) {
      const target = names.get(r.name);
      if (!target) problems.push({ path: r.path, message: `\`@${r.name}\` names no earlier stage${names.size ? ` (earlier: ${[...names.keys()].map((n) => `@${n}`).join(', ')})` : ''}; a stage can use the output of a stage above it.`, on: 'value' });
      else if (r.reward && target.stage !== 'reward') problems.push({ path: r.path, message: `\`@${r.name}\` is a ${target.stage} stage; a reward model comes from a reward stage.`, on: 'value' });
    }
    const own = new Set(Object.keys(item));
    const recipe: Obj = { ...shared, ...Object.fromEntries(Object.entries(item).filter(([k]) => !(STAGE_ITEM_KEYS as readonly string[]).includes(k))) };
    const entry: PipelineStage = { index, name, stage: stage as Stage, own, recipe, from, merge: item.merge === true };
    names.set(name, entry);
    stages.push(entry);
    if (stage !== 'reward') lastPolicy = name;
  });
  return { stages, problems };
}

/**
 * A stage's recipe as the single-recipe checks see it: a model that is an earlier stage's output
 * (which exists only once that stage has run) is checked as the top-level model it builds on.
 * References to reward stages stay: the reward checks leave `@name` to this file.
 */
export function checkableView(stage: PipelineStage, topModel: unknown): Obj {
  const view: Obj = { ...stage.recipe };
  if (stageRef(view.model) !== undefined || stage.from.kind === 'stage') view.model = topModel;
  return view;
}
