// Checks beyond the schema: do the files exist and suit the stage, do the hyperparameters sit in the
// ranges the post-training guides recommend, do settings contradict each other. Warnings unless the
// recipe plainly cannot run. Range advice applies to values the recipe sets, not to TRL's defaults,
// and learning-rate ranges (for pretrained models) are not applied to the built-in `tiny` model,
// which demos train from scratch.

import { dirname } from 'node:path';
import { kindAccepts, kindOfStage } from '../datasets/index.ts';
import type { DatasetKind, RecordFormat } from '../datasets/types.ts';
import type { Diagnostic, Range, RelatedInformation } from '../diagnostics.ts';
import type { FileAccess } from '../fileAccess.ts';
import { cachedSnapshot, hubRefOf, snapshotMissing, type HubRef } from '../hubCache.ts';
import { isGgufPath, parseOllamaRef, resolveOllamaModel } from '../ollamaStore.ts';
import { RECIPE_CODES, type RecipeCode } from './codes.ts';
import { DEFAULT_LORA, defaultTrainingArguments, LOSS_TYPES, STAGE_ONLY_KEYS, STAGES } from './defaults.ts';
import { hasKey, keyRange, valueRange, type RecipeDocument } from './document.ts';
import { dataFacts, modelFacts, resolveFrom } from './files.ts';
import { readGates } from '../gates/index.ts';
import { readExports } from './exportBlock.ts';
import { rewardDiagnostics } from './rewardChecks.ts';
import { engineDiagnostics } from './engineChecks.ts';
import type { Stage } from './types.ts';


const KIND_WORDS: Record<DatasetKind, string> = {
  sft: 'SFT data (messages, prompt/completion, alpaca, sharegpt or text)',
  preference: 'preference data (prompt/chosen/rejected)',
  'prompt-only': 'prompt-only data (a `prompt` per record)',
  text: 'plain text data (a `text` per record)',
  'unpaired-preference': 'unpaired preference data (prompt/completion/label)',
  'stepwise-supervision': 'stepwise-supervision data (prompt/completions/labels)',
};

const FORMAT_WORDS: Record<RecordFormat, string> = {
  text: 'text',
  messages: 'messages',
  'prompt-completion': 'prompt/completion',
  alpaca: 'alpaca',
  sharegpt: 'sharegpt',
  'preference-explicit': 'preference',
  'preference-implicit': 'preference (implicit prompt)',
  'prompt-only': 'prompt-only',
  'unpaired-preference': 'unpaired preference',
  'sharegpt-ranking': 'ShareGPT ranking (preference)',
  'unpaired-conversation': 'KTO conversation (messages + label)',
  'preference-messages': 'chosen_messages/rejected_messages (preference)',
  'openai-preference': 'OpenAI preference',
  'axolotl-dpo': 'Axolotl chat-template DPO (preference)',
  segments: 'input_output segments',
  stepwise: 'stepwise supervision (prompt/completions/labels)',
};

const SUGGESTED_STAGE: Partial<Record<RecordFormat, Stage>> = {
  text: 'cpt',
  messages: 'sft',
  'prompt-completion': 'sft',
  alpaca: 'sft',
  sharegpt: 'sft',
  'preference-explicit': 'dpo',
  'preference-implicit': 'dpo',
  'prompt-only': 'grpo',
  'sharegpt-ranking': 'dpo',
  'unpaired-conversation': 'kto',
  'preference-messages': 'dpo',
  'openai-preference': 'dpo',
  'axolotl-dpo': 'dpo',
  segments: 'sft',
};

/** Stages that learn from chosen/rejected (or desirable/undesirable) answers. */
const PREFERENCE: readonly Stage[] = ['dpo', 'kto', 'orpo', 'cpo', 'simpo'];

/** Learning-rate ranges [low, high] from the guides, per stage; SFT/CPT and the preference stages split by LoRA vs full. */
function lrRange(stage: Stage, lora: boolean): [number, number] {
  switch (stage) {
    case 'sft':
    case 'cpt':
      return lora ? [5e-5, 5e-4] : [5e-6, 1e-4];
    // Below SFT's (the seeds: preference tuning nudges a model SFT has shaped); a LoRA adapter's
    // updates are smaller than full fine-tuning's, so its usual rates run a few times higher.
    case 'dpo':
    case 'kto':
    case 'orpo':
    case 'cpo':
    case 'simpo':
      return lora ? [5e-6, 2e-4] : [1e-6, 5e-5];
    case 'reward':
      return [1e-6, 2e-4];
    // Online RL moves a model by small steps; with LoRA the same reach needs a higher rate (as above).
    case 'grpo':
    case 'ppo':
      return lora ? [1e-6, 2e-4] : [1e-6, 2e-5];
  }
}

const fmt = (n: number) => (n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential() : String(n));

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Overrides a caller (e.g. `anneal train --data`) applies on top of the file: absolute paths (or a model's `tiny` or Hub id). */
export interface RecipeOverrides {
  model?: string;
  data?: { train: string; eval?: string };
  /** Training arguments a caller sets over the file's (`runs/start` args): checked as if the file said them. */
  args?: Record<string, unknown>;
}

export { resolveFrom };

/**
 * A Hub model id: in the cache (information, and its context length for the max_length check) or to
 * be downloaded by the run. Never an error: whether the Hub has it is only known online.
 */
function hubModelCheck(hub: HubRef, files: FileAccess, folderMeant: string, add: (code: RecipeCode, message: string) => void): number | undefined {
  const cache = files.hubCache?.();
  const name = hub.revision === 'main' ? hub.id : `${hub.id}@${hub.revision}`;
  const snapshot = cache === undefined ? undefined : cachedSnapshot(cache, hub, files);
  if (!snapshot) {
    add(
      'recipe-model-hub-download',
      `\`${name}\` is not in the Hugging Face cache${cache ? ` (${cache})` : ''}${folderMeant}; a run downloads its config, tokenizer and safetensors weights first (set HF_TOKEN for a gated model).`,
    );
    return undefined;
  }
  const missing = snapshotMissing(snapshot.dir, files);
  if (missing.length > 0) add('recipe-model-hub-download', `The cached snapshot of \`${name}\` lacks ${missing.join(', ')}; a run downloads the missing files first.`);
  else add('recipe-model-hub-cached', `\`${name}\` is in the Hugging Face cache (commit ${snapshot.commit.slice(0, 8)}, ${snapshot.dir}); runs use it without downloading.`);
  return modelFacts(snapshot.dir, files).context;
}

/** Semantic diagnostics for a recipe value that passed (or partly passed) the schema. */
export function semanticDiagnostics(
  document: RecipeDocument,
  recipe: Obj,
  recipeFile: string,
  files: FileAccess,
  overrides: RecipeOverrides = {},
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const add = (code: RecipeCode, message: string, range: Range, data?: unknown, related?: RelatedInformation[]) =>
    out.push({ code, severity: RECIPE_CODES[code], message, range, ...(data === undefined ? {} : { data }), ...(related ? { related } : {}) });
  const stage = STAGES.includes(recipe.stage as Stage) ? (recipe.stage as Stage) : undefined;
  const defaults = stage ? defaultTrainingArguments(stage) : undefined;
  const value = (key: string): number | undefined => num(recipe[key]) ?? num((defaults as Obj | undefined)?.[key]);
  const set = (key: string) => hasKey(document, [key]) && recipe[key] !== undefined;
  const lora = isObj(recipe.lora) ? recipe.lora : undefined;
  const stageRange = () => (hasKey(document, ['stage']) ? valueRange(document, ['stage']) : keyRange(document, []));

  // Model folder.
  const model = overrides.model ?? (typeof recipe.model === 'string' ? recipe.model : undefined);
  let context: number | undefined;
  if (model && model !== 'tiny') {
    const dir = resolveFrom(recipeFile, model);
    const range = valueRange(document, ['model']);
    const hub = hubRefOf(model, dir, files);
    const ollama = files.exists(dir) ? undefined : parseOllamaRef(model);
    if (ollama) {
      const store = files.ollamaStore?.();
      try {
        if (store === undefined) throw new Error('No Ollama store is known here; name the .gguf file instead.');
        resolveOllamaModel(ollama, store, files);
      } catch (err) {
        add('recipe-model-missing', (err as Error).message, range);
      }
    } else if (isGgufPath(model)) {
      if (!files.exists(dir)) add('recipe-model-missing', `GGUF file \`${model}\` not found (looked in ${dir}); fix the path.`, range);
    } else if (hub) {
      // `models/x` with a models/ folder beside the recipe is more likely a mistyped path than an id.
      const folderMeant = files.isDirectory(dirname(dir)) ? ` (there is no folder ${dir}, if a folder was meant)` : '';
      context = hubModelCheck(hub, files, folderMeant, (code, message) => add(code, message, range));
    } else if (!files.isDirectory(dir)) {
      add(
        'recipe-model-missing',
        files.exists(dir)
          ? `\`${model}\` is a file; point \`model\` at the model's folder (config.json, *.safetensors, tokenizer.json) or a .gguf file, or use \`tiny\`.`
          : `Model folder \`${model}\` not found (looked in ${dir}); fix the path, name a Hugging Face model id (\`org/name\`) or use \`tiny\`.`,
        range,
      );
    } else {
      const facts = modelFacts(dir, files);
      context = facts.context;
      if (facts.missing.length) {
        add('recipe-model-incomplete', `The model folder lacks ${facts.missing.join(', ')}; copy the missing files from the model's Hugging Face repository.`, range);
      }
    }
  }

  // max_length against the model's context.
  const maxLength = value('max_length');
  if (context !== undefined && maxLength !== undefined && maxLength > context) {
    add(
      'recipe-max-length-context',
      `max_length ${maxLength}${set('max_length') ? '' : " (TRL's default)"} is above the model's context of ${context} tokens; set \`max_length: ${context}\` or less.`,
      set('max_length') ? valueRange(document, ['max_length']) : valueRange(document, ['model']),
    );
  }

  // Rewards (GRPO): built-ins, module files, reward models and their weights (rewardChecks.ts).
  const rewards = Array.isArray(recipe.rewards) ? recipe.rewards : undefined;
  const requiredColumns = rewardDiagnostics({
    document,
    recipe,
    recipeFile,
    files,
    stage,
    maxCompletionLength: value('max_completion_length'),
    add,
    stageRange,
  });

  // Gates (core/gates): seed 004's per stage, edited by the recipe; checked like the rest of it.
  if (stage && recipe.gates !== undefined) {
    for (const p of readGates(stage, recipe.gates).problems) {
      const range = p.on === 'key' ? keyRange(document, p.path) : valueRange(document, p.path);
      add(p.severity === 'error' ? 'recipe-gate-invalid' : 'recipe-gate-unknown-metric', p.message, range);
    }
  }

  // Export (exportBlock.ts); a pipeline's is checked once, at its top (check.ts).
  if (recipe.export !== undefined) for (const p of readExports(recipe.export).problems) add('recipe-export-invalid', p.message, p.on === 'key' ? keyRange(document, p.path) : valueRange(document, p.path));

  // Data files.
  const data = isObj(recipe.data) ? recipe.data : undefined;
  for (const split of ['train', 'eval'] as const) {
    const written = data && typeof data[split] === 'string' ? (data[split] as string) : undefined;
    const path = overrides.data ? overrides.data[split] : written !== undefined ? resolveFrom(recipeFile, written) : undefined;
    if (path === undefined) continue;
    const range = hasKey(document, ['data', split]) ? valueRange(document, ['data', split]) : keyRange(document, ['data']);
    const shown = written ?? path;
    if (!files.exists(path) || files.isDirectory(path)) {
      add('recipe-data-missing', `${split === 'train' ? 'Training' : 'Evaluation'} data \`${shown}\` not found (looked in ${path}); fix the path (it is relative to this recipe).`, range);
      continue;
    }
    const columns = stage === 'grpo' ? [...new Set(requiredColumns.map((c) => c.column))] : [];
    const facts = dataFacts(path, files, columns);
    if (!facts) {
      add('recipe-data-missing', `Cannot read \`${shown}\`; check its permissions.`, range);
      continue;
    }
    const { summary } = facts;
    if (summary.records === 0) {
      add('recipe-data-invalid', `\`${shown}\` holds no records; add one JSON object per line.`, range);
      continue;
    }
    if (stage) {
      const need = kindOfStage(stage);
      const wrong = (Object.keys(summary.formats) as RecordFormat[]).filter((f) => (summary.formats[f] ?? 0) > 0 && !kindAccepts(need, f));
      if (wrong.length) {
        const suggested = SUGGESTED_STAGE[wrong[0]];
        add(
          'recipe-stage-data-mismatch',
          `Stage ${stage} needs ${KIND_WORDS[need]}, but \`${shown}\` holds ${wrong.map((f) => `${FORMAT_WORDS[f]} records (${summary.formats[f]})`).join(' and ')}; point data.${split} at ${KIND_WORDS[need].split(' (')[0]}${suggested && suggested !== stage ? ` or change stage to ${suggested}` : ''}.`,
          range,
        );
      }
    }
    if (facts.errors > 0) {
      add(
        'recipe-data-invalid',
        `\`${shown}\` has ${facts.errors} error${facts.errors === 1 ? '' : 's'} (first on line ${(facts.firstErrorLine ?? 0) + 1}); open it to see and fix them.`,
        range,
      );
    }
    for (const req of requiredColumns) {
      const missing = facts.missingColumns.get(req.column);
      if (missing) {
        add(
          'recipe-reward-column-missing',
          `Reward \`${req.reward}\` reads the column \`${req.column}\`${req.written ? '' : ' (its default)'}, which ${missing} record${missing === 1 ? '' : 's'} of \`${shown}\` lack${missing === 1 ? 's' : ''}; add the column or ${req.written ? 'change' : 'set'} \`column\`.`,
          req.written ? valueRange(document, ['rewards', req.index, 'column']) : valueRange(document, typeof rewards?.[req.index] === 'string' ? ['rewards', req.index] : ['rewards', req.index, 'name']),
        );
      }
    }
  }

  // engine: trl, python, accelerate (engineChecks.ts).
  engineDiagnostics(document, recipe, stage, (code, message, range) => add(code, message, range));

  if (!stage) return out;

  // Keys the stage ignores, and loss types of another stage.
  for (const [key, stages] of Object.entries(STAGE_ONLY_KEYS)) {
    if (set(key) && !stages.includes(stage)) {
      add('recipe-key-unused', `\`${key}\` is only used by ${stages.length > 1 ? `${stages.slice(0, -1).join(', ')} and ${stages.at(-1)}` : stages[0]}; stage ${stage} ignores it — remove it or change the stage.`, keyRange(document, [key]));
    }
  }
  const lossTypes = typeof recipe.loss_type === 'string' ? [recipe.loss_type] : Array.isArray(recipe.loss_type) ? recipe.loss_type.filter((t): t is string => typeof t === 'string') : [];
  const unknownLoss = lossTypes.find((t) => !LOSS_TYPES[stage].includes(t));
  if (set('loss_type') && LOSS_TYPES[stage].length === 0) {
    add('recipe-key-unused', `\`loss_type\` is not used by stage ${stage} (${stage === 'orpo' ? 'the odds-ratio loss' : 'Bradley-Terry loss'}); remove it.`, keyRange(document, ['loss_type']));
  } else if (set('loss_type') && unknownLoss !== undefined) {
    out.push({
      code: 'recipe-invalid-value',
      severity: RECIPE_CODES['recipe-invalid-value'],
      message: `loss_type \`${unknownLoss}\` is not a ${stage} loss; use one of ${LOSS_TYPES[stage].join(', ')}.`,
      range: valueRange(document, ['loss_type']),
    });
  } else if (Array.isArray(recipe.loss_type) && stage !== 'dpo') {
    out.push({ code: 'recipe-invalid-value', severity: RECIPE_CODES['recipe-invalid-value'], message: `Only DPO combines several loss types; give stage ${stage} one loss_type.`, range: valueRange(document, ['loss_type']) });
  } else if (Array.isArray(recipe.loss_weights) && recipe.loss_weights.length !== Math.max(1, lossTypes.length)) {
    out.push({ code: 'recipe-invalid-value', severity: RECIPE_CODES['recipe-invalid-value'], message: `loss_weights has ${recipe.loss_weights.length} value(s) for ${Math.max(1, lossTypes.length)} loss type(s); give one weight per loss_type.`, range: valueRange(document, ['loss_weights']) });
  }
  if (set('eval_steps') && !(data && typeof data.eval === 'string') && !overrides.data?.eval) {
    add('recipe-eval-steps-without-eval', '`eval_steps` is set but there is no evaluation data; add `data.eval` or remove `eval_steps`.', keyRange(document, ['eval_steps']));
  }
  if (set('eval_generations') && (num(recipe.eval_generations) ?? 0) > 0 && !(data && typeof data.eval === 'string') && !overrides.data?.eval) {
    add('recipe-eval-steps-without-eval', '`eval_generations` answers the evaluation data\'s prompts, but there is no evaluation data; add `data.eval` or remove `eval_generations`.', keyRange(document, ['eval_generations']));
  }
  if (recipe.load_in_4bit === true && !lora) {
    add('recipe-4bit-needs-lora', '`load_in_4bit` keeps the base model quantized and frozen, so only LoRA adapters can train; add `lora: {}` (r 16 on all linear layers) or remove `load_in_4bit`.', keyRange(document, ['load_in_4bit']));
  }
  if (set('warmup_steps') && set('warmup_ratio') && num(recipe.warmup_steps)! > 0) {
    add('recipe-warmup-both', '`warmup_steps` and `warmup_ratio` are both set; warmup_steps wins — remove one.', keyRange(document, ['warmup_ratio']));
  }

  // Ranges from the guides.
  const lr = num(recipe.learning_rate);
  if (lr !== undefined && set('learning_rate') && model !== 'tiny') {
    const [low, high] = lrRange(stage, lora !== undefined);
    if (lr < low || lr > high) {
      const kind = stage !== 'reward' ? (lora ? ' with LoRA' : ' for full fine-tuning') : '';
      add(
        'recipe-lr-range',
        `learning_rate ${fmt(lr)} is ${lr > high ? 'above' : 'below'} the usual ${stage.toUpperCase()} range${kind} (${fmt(low)} to ${fmt(high)}); ${lr > high ? 'training may diverge' : 'the model may barely change'} — try ${fmt(lr > high ? high : low)}.`,
        valueRange(document, ['learning_rate']),
      );
    }
  }
  const beta = num(recipe.beta);
  if (stage === 'dpo' && beta !== undefined && set('beta') && (beta < 0.1 || beta > 0.5)) {
    add(
      'recipe-beta-range',
      `beta ${beta} is outside the usual DPO range 0.1 to 0.5; ${beta < 0.1 ? 'a small beta lets the model drift far from the reference' : 'a large beta barely moves the model'}.`,
      valueRange(document, ['beta']),
    );
  }
  const epochs = num(recipe.num_train_epochs);
  if (PREFERENCE.includes(stage) && epochs !== undefined && set('num_train_epochs') && (value('max_steps') ?? -1) < 0 && (epochs < 1 || epochs > 2)) {
    add('recipe-epochs-range', `${stage.toUpperCase()} usually runs 1 to 2 epochs; ${epochs} ${epochs > 2 ? 'tends to overfit the preferences' : 'may not see the data enough'}.`, valueRange(document, ['num_train_epochs']));
  }
  if (stage === 'grpo') {
    const gens = num(recipe.num_generations);
    if (gens !== undefined && set('num_generations') && (gens < 4 || gens > 16)) {
      add(
        'recipe-generations-range',
        `num_generations ${gens} is outside the usual 4 to 16; ${gens < 4 ? 'small groups give noisy advantages' : 'large groups cost a lot of sampling for little gain'}.`,
        valueRange(document, ['num_generations']),
      );
    }
    const temp = num(recipe.temperature);
    if (temp !== undefined && set('temperature') && (temp < 0.7 || temp > 1.0)) {
      add(
        'recipe-temperature-range',
        `temperature ${temp} is outside the usual GRPO range 0.7 to 1.0; ${temp < 0.7 ? 'completions in a group will look alike and advantages vanish' : 'completions get incoherent'}.`,
        valueRange(document, ['temperature']),
      );
    }
    const batch = (value('per_device_train_batch_size') ?? 1) * (value('gradient_accumulation_steps') ?? 1);
    const groups = value('num_generations') ?? 8;
    if ((set('num_generations') || set('per_device_train_batch_size') || set('gradient_accumulation_steps')) && batch % groups !== 0) {
      const where = set('per_device_train_batch_size') ? 'per_device_train_batch_size' : set('num_generations') ? 'num_generations' : 'gradient_accumulation_steps';
      add(
        'recipe-generations-batch',
        `per_device_train_batch_size × gradient_accumulation_steps (${batch}) is not a multiple of num_generations (${groups}); TRL needs whole groups per batch — make the product ${Math.ceil(batch / groups) * groups} or pick num_generations dividing ${batch}.`,
        valueRange(document, [where]),
      );
    }
  }
  if (lora) {
    const r = num(lora.r) ?? DEFAULT_LORA.r;
    const alpha = num(lora.alpha) ?? DEFAULT_LORA.alpha;
    if (r >= 1 && alpha > 0 && (num(lora.r) !== undefined || num(lora.alpha) !== undefined) && alpha !== r && alpha !== 2 * r) {
      const explicit = num(lora.alpha) !== undefined;
      add(
        'recipe-lora-alpha',
        `LoRA alpha is usually r or 2r (here ${r} or ${2 * r}); ${explicit ? `with ${alpha}` : `TRL's default alpha ${alpha} gives`} a scale of ${fmt(alpha / r)} — set \`alpha: ${2 * r}\`.`,
        valueRange(document, explicit ? ['lora', 'alpha'] : ['lora', 'r']),
      );
    }
  }
  const perDevice = value('per_device_train_batch_size');
  const accumulation = value('gradient_accumulation_steps');
  if ((set('per_device_train_batch_size') || set('gradient_accumulation_steps')) && perDevice === 1 && accumulation === 1) {
    add(
      'recipe-effective-batch',
      'The effective batch size is 1 (per_device_train_batch_size × gradient_accumulation_steps); gradients will be very noisy — raise gradient_accumulation_steps to 8 or more.',
      valueRange(document, [set('per_device_train_batch_size') ? 'per_device_train_batch_size' : 'gradient_accumulation_steps']),
    );
  }
  return out;
}
