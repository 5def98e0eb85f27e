// A resolved recipe as TRL sees it (issue #12): the trainer and config class of its stage, the config's
// keyword arguments (the recipe's keys are TRL's names, so they pass through), the PEFT LoraConfig,
// the model reference, the GRPO reward functions and Accelerate's launch settings. Pure: the plan is
// written to plan.json for python/anneal_trl, which checks every key against TRL's config dataclass
// (`python -m anneal_trl check`) before anything is launched.

import { basename, dirname, isAbsolute, join } from 'node:path';
import { defaultTrainingArguments } from '../../core/recipe/defaults.ts';
import { trlStageRefusal } from '../../core/recipe/engineChecks.ts';
import type { AccelerateLaunch, LoraConfig, ResolvedRecipe, RewardSpec, Stage } from '../../core/recipe/types.ts';
import { findBuiltinReward } from '../../core/rewards/index.ts';
import { parseHubRef } from '../../core/hubCache.ts';
import { isGgufPath, parseOllamaRef } from '../../core/ollamaStore.ts';
import { stageRef } from '../../core/recipe/pipeline.ts';

/** Where a TRL trainer and its config live (TRL 1.16). */
export interface TrainerRef {
  module: string;
  trainer: string;
  config: string;
}

export const TRL_TRAINERS: Record<Exclude<Stage, 'ppo'>, TrainerRef> = {
  sft: { module: 'trl', trainer: 'SFTTrainer', config: 'SFTConfig' },
  // Continued pre-training is SFTTrainer on {text} records.
  cpt: { module: 'trl', trainer: 'SFTTrainer', config: 'SFTConfig' },
  dpo: { module: 'trl', trainer: 'DPOTrainer', config: 'DPOConfig' },
  kto: { module: 'trl', trainer: 'KTOTrainer', config: 'KTOConfig' },
  orpo: { module: 'trl.experimental.orpo', trainer: 'ORPOTrainer', config: 'ORPOConfig' },
  cpo: { module: 'trl.experimental.cpo', trainer: 'CPOTrainer', config: 'CPOConfig' },
  // SimPO is CPOTrainer with loss_type simpo (Anneal's simpo defaults: beta 2, cpo_alpha 0).
  simpo: { module: 'trl.experimental.cpo', trainer: 'CPOTrainer', config: 'CPOConfig' },
  reward: { module: 'trl', trainer: 'RewardTrainer', config: 'RewardConfig' },
  grpo: { module: 'trl', trainer: 'GRPOTrainer', config: 'GRPOConfig' },
};

/** Built-in rewards python/anneal_trl/rewards.py ports (canonical names). */
export const PORTED_REWARDS: readonly string[] = ['answer_match', 'think_format', 'regex', 'json_valid', 'length'];

/**
 * Training arguments whose Anneal default is not TRL's: sent only when the recipe changes them, so a
 * recipe that leaves them out trains as TRL would. assistant_only_loss: TRL needs a chat template with
 * `{% generation %}` markers for it; gradient_checkpointing: TRL's default (on) saves GPU memory;
 * completion_only_loss: Anneal's true is TRL's None (completion-only for prompt/completion data);
 * eval_steps: TRL's None already follows logging_steps.
 */
const TRL_DEFAULT_WINS = new Set(['assistant_only_loss', 'gradient_checkpointing', 'completion_only_loss', 'eval_steps']);

/** Training arguments that are not TRL config fields: handled by the plan's model part. */
const MODEL_KEYS = new Set(['load_in_4bit']);

/** Where a config key's value came from; the launcher refuses a recipe's key TRL lacks and drops a default it lacks. */
export type KeyOrigin = 'the recipe' | "Anneal's default" | 'Anneal';

export interface TrlRewardPlan {
  name: string;
  builtin?: string;
  column?: string;
  options?: Record<string, unknown>;
  file?: string;
  model?: string;
}

/** plan.json, read by python/anneal_trl/plan.py (format 1). */
export interface TrlPlan {
  format: 1;
  stage: Stage;
  trainer: TrainerRef;
  model: { path: string; revision?: string; gguf_file?: string; load_in_4bit?: boolean };
  config: Record<string, unknown>;
  key_origins: Record<string, KeyOrigin>;
  peft: { r: number; lora_alpha: number; lora_dropout: number; target_modules: string[] | 'all-linear'; task_type: 'CAUSAL_LM' | 'SEQ_CLS' } | null;
  data: { train: string; eval?: string };
  rewards?: TrlRewardPlan[];
  run_dir: string;
  output_dir: string;
  stop_file: string;
  resume_from_checkpoint?: string;
  launch: Partial<AccelerateLaunch> & { num_processes: number };
}

export interface PlanInput {
  recipe: ResolvedRecipe;
  runDir: string;
  /** The data files to train on (data.ts may have normalised them into the run folder). */
  data?: { train: string; eval?: string };
  resumeFrom?: string;
}

export type PlanResult = { plan: TrlPlan; notes: string[] } | { refusal: string };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The TRL plan of a resolved recipe, or one sentence saying why TRL cannot train it. */
export function trlPlan(input: PlanInput): PlanResult {
  const { recipe, runDir } = input;
  const stageRefusal = trlStageRefusal(recipe.stage);
  if (stageRefusal || recipe.stage === 'ppo') return { refusal: stageRefusal ?? 'TRL cannot train PPO.' };
  const trainer = TRL_TRAINERS[recipe.stage];
  const model = modelRef(recipe.model);
  if ('refusal' in model) return model;
  const notes: string[] = [];

  const config: Record<string, unknown> = {};
  const origins: Record<string, KeyOrigin> = {};
  const defaults = defaultTrainingArguments(recipe.stage) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(recipe.args as unknown as Record<string, unknown>)) {
    if (value === undefined || MODEL_KEYS.has(key)) continue;
    // eval_steps left out resolves to logging_steps (TRL's None means the same).
    const isDefault = key === 'eval_steps' ? value === recipe.args.logging_steps : same(value, defaults[key]);
    if (isDefault && TRL_DEFAULT_WINS.has(key)) continue;
    config[key] = value;
    origins[key] = isDefault ? "Anneal's default" : 'the recipe';
  }

  const launch = { num_processes: 1, ...recipe.accelerate };
  const anneal = (key: string, value: unknown) => {
    config[key] = value;
    origins[key] = 'Anneal';
  };
  anneal('output_dir', join(runDir, 'checkpoints'));
  anneal('report_to', 'none');
  anneal('disable_tqdm', true);
  if (input.data?.eval ?? recipe.data.eval) anneal('eval_strategy', 'steps');
  if (launch.cpu) anneal('use_cpu', true);
  // TRL turns bf16 on by default; Accelerate's mixed_precision decides here (and CPU runs stay fp32).
  const precision = launch.mixed_precision ?? (launch.cpu ? 'no' : undefined);
  if (precision !== undefined) {
    anneal('bf16', precision === 'bf16');
    anneal('fp16', precision === 'fp16');
  }

  let peft: TrlPlan['peft'] = null;
  if (recipe.lora) peft = loraConfig(recipe.lora, recipe.stage === 'reward' ? 'SEQ_CLS' : 'CAUSAL_LM');

  const plan: TrlPlan = {
    format: 1,
    stage: recipe.stage,
    trainer,
    model: { ...model, ...(recipe.args.load_in_4bit ? { load_in_4bit: true } : {}) },
    config,
    key_origins: origins,
    peft,
    data: input.data ?? recipe.data,
    run_dir: runDir,
    output_dir: join(runDir, 'output'),
    stop_file: join(runDir, 'trl', 'stop'),
    launch,
  };
  if (input.resumeFrom) plan.resume_from_checkpoint = input.resumeFrom;

  if (recipe.stage === 'grpo') {
    const rewards = rewardPlans(recipe.rewards ?? []);
    if ('refusal' in rewards) return rewards;
    plan.rewards = rewards.rewards;
    const weights = (recipe.rewards ?? []).map((r) => r.weight);
    if (weights.some((w) => w !== undefined)) {
      config.reward_weights = weights.map((w) => w ?? 1);
      origins.reward_weights = 'the recipe';
    }
  }
  if (recipe.samples) notes.push('samples: TRL runs draw no sample completions during training (GRPO\'s scored completions are shown instead); Anneal\'s engine does.');
  return { plan, notes };
}

/** The model as transformers loads it: a folder (a model, or an earlier run's PEFT adapter), a Hub id (with its revision), or a GGUF file in its folder. */
function modelRef(model: string): TrlPlan['model'] | { refusal: string } {
  // A pipeline stage's `@name`: the daemon puts that stage's output folder (an adapter or a model) here
  // before the run starts; python/anneal_trl/start_model.py loads either.
  if (stageRef(model) !== undefined) return { path: model };
  if (model === 'tiny') return { refusal: "The built-in `tiny` model is Anneal's own; TRL needs a Hugging Face model (a folder, a .gguf file or a Hub id `org/name`)." };
  if (isGgufPath(model) && isAbsolute(model)) return { path: dirname(model), gguf_file: basename(model) };
  if (isAbsolute(model)) return { path: model };
  const hub = parseHubRef(model);
  if (hub) return hub.revision === 'main' ? { path: hub.id } : { path: hub.id, revision: hub.revision };
  if (parseOllamaRef(model)) return { refusal: `\`${model}\` is an Ollama model, which transformers cannot open by name; point \`model\` at its .gguf file.` };
  return { refusal: `\`${model}\` is neither a folder, a .gguf file nor a Hub id; fix \`model\`.` };
}

function loraConfig(lora: LoraConfig, task: 'CAUSAL_LM' | 'SEQ_CLS'): NonNullable<TrlPlan['peft']> {
  return { r: lora.r, lora_alpha: lora.alpha, lora_dropout: lora.dropout, target_modules: lora.target_modules, task_type: task };
}

/** GRPO's reward functions as the launcher builds them: ported built-ins, Python files, reward models. */
function rewardPlans(specs: RewardSpec[]): { rewards: TrlRewardPlan[] } | { refusal: string } {
  const rewards: TrlRewardPlan[] = [];
  for (const spec of specs) {
    if (spec.file !== undefined) {
      if (!spec.file.toLowerCase().endsWith('.py')) {
        return { refusal: `Reward \`${spec.name}\` is a JavaScript/TypeScript module (${spec.file}); TRL calls Python, so give a .py file defining \`reward(prompts, completions, **kwargs)\`, or train on Anneal's engine.` };
      }
      rewards.push({ name: spec.name, file: spec.file, ...(spec.column ? { column: spec.column } : {}) });
    } else if (spec.model !== undefined) {
      rewards.push({ name: spec.name, model: spec.model });
    } else {
      const builtin = findBuiltinReward(spec.name);
      if (!builtin) return { refusal: `\`${spec.name}\` is not a built-in reward; give a Python \`file\` for your own.` };
      if (!PORTED_REWARDS.includes(builtin.name)) {
        return { refusal: `The built-in reward \`${builtin.name}\` has no Python port yet (ported: ${PORTED_REWARDS.join(', ')}); write it as a Python reward file for the TRL engine.` };
      }
      rewards.push({ name: spec.name, builtin: builtin.name, ...(spec.column ? { column: spec.column } : {}), ...(spec.options ? { options: spec.options } : {}) });
    }
  }
  return { rewards };
}
