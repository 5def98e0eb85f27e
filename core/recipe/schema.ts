// The recipe JSON Schema, the single source of truth for which keys a recipe may hold and their
// types. schemas/recipe.schema.json is this object written out (a unit test keeps them equal) so
// editors without Anneal (yaml-language-server, VS Code's JSON support) get completion too.
// Hard limits only (a learning rate must be positive); advice on sensible ranges lives in
// semantic.ts as warnings.
import { LOSS_TYPES, STAGES } from './defaults.ts';
import { GGUF_LORA_QUANTS, RECIPE_EXPORT_FORMATS, RECIPE_EXPORT_QUANTS } from './exportBlock.ts';

type Schema = Record<string, unknown>;

/** Every loss_type a stage accepts (defaults.ts LOSS_TYPES), for the schema's enum. */
const LOSS_TYPE_NAMES = [...new Set(Object.values(LOSS_TYPES).flat())];

const num = (description: string, example: number, extra: Schema = {}): Schema => ({ type: 'number', description, examples: [example], ...extra });
const int = (description: string, example: number, extra: Schema = {}): Schema => ({ type: 'integer', description, examples: [example], ...extra });
const bool = (description: string, example: boolean): Schema => ({ type: 'boolean', description, examples: [example] });
const str = (description: string, example: string, extra: Schema = {}): Schema => ({ type: 'string', description, examples: [example], ...extra });

/** TRL-named training arguments (TrainingArguments + SFT/DPO/GRPO configs). */
const trainingArguments: Record<string, Schema> = {
  learning_rate: num('Peak learning rate of AdamW.', 2e-5, { exclusiveMinimum: 0 }),
  per_device_train_batch_size: int('Records per training micro-batch.', 8, { minimum: 1 }),
  per_device_eval_batch_size: int('Records per evaluation batch.', 8, { minimum: 1 }),
  gradient_accumulation_steps: int('Micro-batches summed before each optimizer step (at most 4096: a bigger effective batch is a bigger per_device_train_batch_size).', 4, { minimum: 1, maximum: 4096 }),
  num_train_epochs: num('Passes over the training data (ignored when max_steps is set).', 3, { exclusiveMinimum: 0 }),
  max_steps: int('Total optimizer steps (at most 10,000,000); -1 derives them from num_train_epochs.', 1000, { minimum: -1, maximum: 10_000_000 }),
  warmup_steps: num('Steps of linear warmup; a value below 1 is a fraction of the total steps.', 100, { minimum: 0 }),
  warmup_ratio: num('Fraction of the total steps used for warmup.', 0.03, { minimum: 0, maximum: 1 }),
  lr_scheduler_type: str('Learning-rate schedule after warmup.', 'cosine', { enum: ['linear', 'cosine', 'constant', 'constant_with_warmup'] }),
  weight_decay: num('AdamW weight decay.', 0.01, { minimum: 0 }),
  adam_beta1: num('AdamW beta1.', 0.9, { minimum: 0, exclusiveMaximum: 1 }),
  adam_beta2: num('AdamW beta2.', 0.999, { minimum: 0, exclusiveMaximum: 1 }),
  adam_epsilon: num('AdamW epsilon.', 1e-8, { exclusiveMinimum: 0 }),
  max_grad_norm: num('Gradient clipping norm; 0 disables clipping.', 1, { minimum: 0 }),
  max_length: int('Longest tokenized record; longer ones are truncated.', 1024, { minimum: 1 }),
  logging_steps: int('Log metrics every N optimizer steps.', 10, { minimum: 1 }),
  eval_steps: int('Evaluate on data.eval every N optimizer steps.', 100, { minimum: 1 }),
  save_steps: int('Write a checkpoint every N optimizer steps.', 500, { minimum: 1 }),
  save_total_limit: int('Checkpoints to keep: the newest N, plus the best by eval loss when the run evaluates (TRL\'s save_total_limit); 0 keeps all. Default 3.', 3, { minimum: 0 }),
  eval_generations: int('At each evaluation, answer the first N prompts of data.eval greedily (samples.max_new_tokens long, else 64) and log eval/kl to the reference (LoRA), eval/entropy, eval/distinct_1/2, eval/mean_length and eval/win_rate against the starting model\'s answers as the recipe\'s `rewards` judge them (or PPO\'s reward model): the measures seed 004\'s gates read. 0 turns it off. Default 8.', 8, { minimum: 0, maximum: 1024 }),
  save_minutes: num('Also write a checkpoint once this many minutes of training passed since the last one, so a crash between distant save_steps loses little; 0 turns it off. Default 10.', 10, { minimum: 0 }),
  seed: int('Random seed for initialisation, shuffling and sampling.', 42),
  packing: bool('Pack several short records into each sequence (SFT).', false),
  completion_only_loss: bool('Prompt-completion data: loss on the completion only (SFT).', true),
  assistant_only_loss: bool('Conversations: loss on assistant turns only (SFT).', true),
  load_in_4bit: bool('Keep the frozen base model\'s linear weights quantized (a GGUF file\'s own blocks, else 4-bit Q4_0) and dequantize each layer only while it is used (QLoRA): the base takes 4-8 bits a weight instead of 32, for about a third more time per step. Needs `lora`.', true),
  gradient_checkpointing: bool('Recompute each layer in the backward pass instead of keeping its activations: a fraction of the memory for about a third more time per step; the same training.', true),
  beta: num('DPO/KTO/CPO/SimPO: strength of the pull toward the reference (or, for SimPO, the reward scale); ORPO: weight of the odds-ratio term; GRPO: KL coefficient.', 0.1, { minimum: 0 }),
  loss_type: {
    description: 'The loss: SFT nll or dft; DPO sigmoid, hinge, ipo, exo_pair, nca_pair, robust, bco_pair, sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sft or sigmoid_norm (a list combines several, weighted by loss_weights); KTO kto or apo_zero_unpaired; CPO sigmoid, hinge, ipo, simpo or alphapo; GRPO grpo, bnpo, dr_grpo or dapo.',
    examples: ['sigmoid', ['sigmoid', 'bco_pair', 'sft']],
    anyOf: [
      { type: 'string', enum: LOSS_TYPE_NAMES },
      { type: 'array', items: { type: 'string', enum: LOSS_TYPE_NAMES }, minItems: 1 },
    ],
  },
  loss_weights: { type: 'array', description: 'DPO: one weight per loss_type; the loss is their weighted sum (MPO).', examples: [[0.8, 0.2, 1.0]], items: { type: 'number' }, minItems: 1 },
  label_smoothing: num('DPO/CPO: assumed probability that a pair\'s labels are flipped (robust, exo_pair and smoothed sigmoid).', 0.1, { minimum: 0, exclusiveMaximum: 0.5 }),
  f_divergence_type: str('DPO: the divergence regularising the policy toward the reference.', 'reverse_kl', { enum: ['reverse_kl', 'forward_kl', 'js_divergence', 'alpha_divergence'] }),
  f_alpha_divergence_coef: num('DPO: alpha of alpha_divergence.', 0.5),
  discopop_tau: num('DPO: temperature of the discopop loss.', 0.05, { exclusiveMinimum: 0 }),
  disable_dropout: bool('Turn dropout off (LoRA\'s included) so the policy and its reference are compared like for like (preference stages: on).', true),
  desirable_weight: num('KTO: weight of the desirable (label true) examples\' losses.', 1, { exclusiveMinimum: 0 }),
  undesirable_weight: num('KTO: weight of the undesirable (label false) examples\' losses.', 1, { exclusiveMinimum: 0 }),
  cpo_alpha: num('CPO/SimPO: weight of the NLL on the chosen completions (0 = SimPO proper).', 1, { minimum: 0 }),
  simpo_gamma: num('CPO/SimPO: the target reward margin of loss_type simpo.', 0.5),
  alpha: num('CPO/SimPO: AlphaPO\'s alpha (0 = plain log-probabilities).', 0.25),
  center_rewards_coefficient: num('Reward modelling: weight of the penalty on the rewards\' squared mean (TRL recommends 0.01).', 0.01, { minimum: 0 }),
  num_generations: int('GRPO: completions sampled per prompt (the group).', 8, { minimum: 2 }),
  max_completion_length: int('GRPO: longest sampled completion in tokens.', 256, { minimum: 1 }),
  temperature: num('GRPO/PPO: sampling temperature for completions.', 0.9, { exclusiveMinimum: 0 }),
  epsilon: num('GRPO: clipping range of the policy ratio.', 0.2, { exclusiveMinimum: 0 }),
  epsilon_high: num('GRPO: upper clipping range (DAPO\'s clip-higher); defaults to epsilon.', 0.28, { exclusiveMinimum: 0 }),
  top_p: num('GRPO: nucleus sampling threshold for completions.', 1, { exclusiveMinimum: 0, maximum: 1 }),
  top_k: int('GRPO: sample among the k most likely tokens (0: no limit).', 0, { minimum: 0 }),
  scale_rewards: str('GRPO: how rewards are scaled into advantages: by the group\'s std, the batch\'s, or not at all (Dr. GRPO).', 'group', { enum: ['group', 'batch', 'none'] }),
  multi_objective_aggregation: str('GRPO: sum the weighted rewards, then normalise; or normalise each reward, then sum.', 'sum_then_normalize', { enum: ['sum_then_normalize', 'normalize_then_sum'] }),
  mask_truncated_completions: bool('GRPO: leave completions cut at max_completion_length out of the loss.', false),
  importance_sampling_level: str('GRPO: token-level ratios, or one per sequence (GSPO).', 'token', { enum: ['token', 'sequence'] }),
  num_iterations: int('GRPO: passes over each generation batch (μ in the GRPO paper); above 1 the ratio to the sampling policy is clipped.', 1, { minimum: 1 }),
  steps_per_generation: int('GRPO: micro-batches one generation batch is cut into (default: gradient_accumulation_steps); generation happens once per steps_per_generation × num_iterations micro-batches.', 4, { minimum: 1 }),
  generation_batch_size: int('GRPO: completions sampled at once; another way to set steps_per_generation (= generation_batch_size / per_device_train_batch_size).', 64, { minimum: 1 }),
  // PPO (TRL's PPOConfig, TRL 1.12: the last TRL with PPO).
  reward_model_path: str('PPO: the trained reward model scoring each response: the output folder of a reward run (stage: reward) from the same base model, relative to this recipe, or a Hub id `org/name`.', 'runs/reward/output', { minLength: 1 }),
  response_length: int('PPO: longest sampled response in tokens (generation stops at EOS).', 53, { minimum: 1 }),
  kl_coef: num('PPO: weight of the per-token KL penalty to the reference (the base, with LoRA) in the rewards.', 0.05, { minimum: 0 }),
  kl_estimator: str('PPO: the KL estimator of the penalty: k1 (log-ratio) or k3 (lower variance).', 'k1', { enum: ['k1', 'k3'] }),
  cliprange: num('PPO: clipping range of the policy ratio.', 0.2, { exclusiveMinimum: 0 }),
  cliprange_value: num('PPO: clipping range of the value predictions around the rollout\'s values.', 0.2, { exclusiveMinimum: 0 }),
  vf_coef: num('PPO: weight of the value loss.', 0.1, { minimum: 0 }),
  gamma: num('PPO: discount factor of the rewards.', 1, { minimum: 0, maximum: 1 }),
  lam: num('PPO: lambda of generalised advantage estimation.', 0.95, { minimum: 0, maximum: 1 }),
  num_ppo_epochs: int('PPO: passes over each rollout (one optimizer step each).', 4, { minimum: 1 }),
  num_mini_batches: int('PPO: mini-batches each rollout is cut into; must divide gradient_accumulation_steps.', 1, { minimum: 1 }),
  whiten_rewards: bool('PPO: whiten the per-token rewards before the advantages (needs mini-batches of 8 or more).', false),
  missing_eos_penalty: num('PPO: subtracted from the score of a response that reaches response_length without EOS.', 1, { minimum: 0 }),
};

const message: Schema = {
  type: 'object',
  description: 'A chat message.',
  required: ['role', 'content'],
  properties: { role: str('system, user or assistant.', 'user', { enum: ['system', 'user', 'assistant'] }), content: str('Message text.', 'Hello!') },
  additionalProperties: false,
};

export const recipeSchema: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://anneal.dev/schemas/recipe.schema.json',
  title: 'Anneal recipe',
  description: 'A post-training recipe: model, stage, data and TRL-named hyperparameters.',
  type: 'object',
  required: ['model', 'stage', 'data'],
  properties: {
    $schema: { type: 'string', description: 'Schema this file follows (for editors).' },
    model: str('`tiny` (the built-in demo model), a Hugging Face model folder or a `.gguf` file (llama.cpp, Ollama) relative to this recipe, an Ollama name `name:tag` (from the local Ollama store), or a Hub id `org/name[@revision]` (taken from the Hugging Face cache, downloaded there when missing).', 'tiny', { minLength: 1 }),
    stage: str('Training stage.', 'sft', { enum: [...STAGES] }),
    data: {
      type: 'object',
      description: 'Dataset files (JSONL), relative to this recipe.',
      examples: [{ train: 'data/train.jsonl', eval: 'data/eval.jsonl' }],
      required: ['train'],
      properties: {
        train: str('Training data file (JSONL).', 'data/train.jsonl', { minLength: 1 }),
        eval: str('Evaluation data file (JSONL).', 'data/eval.jsonl', { minLength: 1 }),
      },
      additionalProperties: false,
    },
    output_dir: str('Where the trained adapter or model is written, relative to this recipe.', 'out/sft'),
    lora: {
      type: ['object', 'null'],
      description: 'LoRA adapter settings; leave out (or null) for full fine-tuning.',
      examples: [{ r: 16, alpha: 32 }],
      properties: {
        r: int('Adapter rank.', 16, { minimum: 1 }),
        alpha: num('Scaling numerator (lora_alpha); the update is scaled by alpha / r.', 32, { exclusiveMinimum: 0 }),
        dropout: num('Dropout on the adapter input.', 0.05, { minimum: 0, exclusiveMaximum: 1 }),
        target_modules: {
          type: ['array', 'string'],
          description: 'Module names to adapt (e.g. q_proj, v_proj) or "all-linear".',
          examples: [['q_proj', 'k_proj', 'v_proj', 'o_proj']],
          items: { type: 'string' },
          pattern: '^all-linear$',
        },
      },
      additionalProperties: false,
    },
    samples: {
      type: 'object',
      description: 'Prompts completed during training so you can watch the model change.',
      examples: [{ prompts: ['Write a haiku about rain.'], every_steps: 50 }],
      required: ['prompts'],
      properties: {
        prompts: {
          type: 'array',
          description: 'Each prompt is a user turn (string) or a list of messages.',
          examples: [['Write a haiku about rain.']],
          minItems: 1,
          items: { type: ['string', 'array'], items: message },
        },
        every_steps: int('Sample every N optimizer steps.', 50, { minimum: 1 }),
        max_new_tokens: int('Longest sampled completion in tokens.', 64, { minimum: 1 }),
        temperature: num('Sampling temperature; 0 is greedy.', 0.7, { minimum: 0 }),
        top_p: num('Nucleus sampling threshold.', 0.95, { exclusiveMinimum: 0, maximum: 1 }),
      },
      additionalProperties: false,
    },
    rewards: {
      type: 'array',
      description: 'GRPO reward functions: a built-in name, or {name, weight, column, file, options}, or {name, model} for a trained reward model. In any stage with data.eval they also judge the eval answers (eval_generations): eval/rewards/NAME/mean and eval/win_rate against the starting model.',
      examples: [[{ name: 'exact_match', column: 'answer' }]],
      minItems: 1,
      items: {
        type: ['string', 'object'],
        required: ['name'],
        properties: {
          name: str('Reward function name.', 'exact_match', { minLength: 1 }),
          weight: num('Weight of this reward in the sum (default 1; 0 logs the reward without optimising it). Or give every weight in `reward_weights`.', 1),
          column: str('Dataset column the reward compares completions with.', 'answer', { minLength: 1 }),
          file: str('A JavaScript/TypeScript module exporting the reward function, relative to this recipe.', 'rewards/format.ts', { minLength: 1 }),
          model: str(
            'A trained reward model scoring each prompt and completion: the output folder of a reward run (stage: reward), a *ForSequenceClassification model or a PEFT adapter of one, relative to this recipe, or a Hub id `org/name`. Instead of a built-in name or `file`.',
            'runs/reward/output',
            { minLength: 1 },
          ),
          // No `type` here: semantic.ts checks it and names the reward in the message.
          options: {
            description: "The built-in reward's own settings: answer_match `tolerance`, `tolerance_mode`; think_format `mode`; regex `pattern`, `flags`; json_schema `schema`, `schema_file`; length `unit`, `target`, `max`, `ramp`. Checked against the built-in.",
            examples: [{ tolerance: 0.01 }],
          },
        },
        additionalProperties: false,
      },
    },
    reward_weights: {
      type: 'array',
      description: "GRPO (TRL's GRPOConfig): one weight per reward function, in the order of `rewards` (default: all 1); 0 logs a reward without optimising it. Instead of each reward's `weight`.",
      examples: [[1, 0.5]],
      items: { type: 'number' },
      minItems: 1,
    },
    stages: {
      type: 'array',
      description: 'A pipeline: the stages in order, each `{stage, data, ...its own keys}` over the shared keys at the top (and optionally `name`, `merge: true`). Each policy stage continues from the previous one\'s output; `@name` names an earlier stage\'s output (e.g. `reward_model_path: "@reward"`).',
      examples: [[{ stage: 'sft', data: { train: 'sft.jsonl' } }, { stage: 'dpo', data: { train: 'pairs.jsonl' } }]],
      items: { type: 'object' },
      minItems: 1,
    },
    gates: {
      type: 'object',
      description:
        'Seed 004\'s entry, exit and rollback conditions for this stage, edited per metric: `metric: "[last|best|first|mean|change|trend] op number"` (e.g. "< 1.5", "change < -20%", "trend > 0 while loss trend < 0"), or `off` to drop a default. `defaults: false` starts from none. A flat mapping lists exit conditions.',
      examples: [{ exit: { 'eval/loss': '< 1.5' }, rollback: { 'eval/kl': '> 1.0' } }],
      properties: {
        entry: { type: 'object', description: 'Conditions before the stage starts (data facts: data/records, data/errors, data/pairs, data/identical_pairs).', additionalProperties: { type: ['string', 'boolean'] } },
        exit: { type: 'object', description: 'Conditions the stage must meet to hand over to the next.', additionalProperties: { type: ['string', 'boolean'] } },
        rollback: { type: 'object', description: 'Conditions that stop the stage at once and keep the last good output (a NaN or diverging loss always does).', additionalProperties: { type: ['string', 'boolean'] } },
        defaults: { type: 'boolean', description: 'false: only the gates written here, none of seed 004\'s.', default: true },
      },
      additionalProperties: { type: 'string' },
    },
    export: {
      description: `What to write once training is complete (a pipeline: its result), as \`anneal export\` writes it: one entry or a list of \`{format: ${RECIPE_EXPORT_FORMATS.join('|')}, quant: ${RECIPE_EXPORT_QUANTS.join('|')} (gguf, default f16; gguf-lora: ${GGUF_LORA_QUANTS.join('|')}), out: folder relative to this recipe (default: exports/<format> in the run's or pipeline's folder)}\`.`,
      examples: [[{ format: 'merged' }, { format: 'gguf', quant: 'q4_k_m' }, { format: 'gguf-lora' }]],
    },
    engine: str(
      'Which engine trains this recipe: `anneal` (its own, on this machine) or `trl` (TRL + Accelerate in a Python environment: several GPUs, DeepSpeed, FSDP), with the same keys.',
      'trl',
      { enum: ['anneal', 'trl'] },
    ),
    python: str('engine trl: the Python with trl, transformers, accelerate (and peft for LoRA): a path relative to this recipe (e.g. .venv/bin/python) or a command on PATH. Default: a venv Anneal finds, else python3.', '.venv/bin/python', { minLength: 1 }),
    accelerate: {
      type: 'object',
      description: 'engine trl: how `accelerate launch` starts the run, under Accelerate\'s flag names.',
      examples: [{ num_processes: 8, mixed_precision: 'bf16', use_deepspeed: true, zero_stage: 2 }],
      properties: {
        num_processes: int('Training processes: one per GPU (with `cpu`, CPU processes).', 2, { minimum: 1 }),
        num_machines: int('Machines taking part.', 1, { minimum: 1 }),
        machine_rank: int('This machine\'s rank among them.', 0, { minimum: 0 }),
        main_process_ip: str('Address of the rank-0 machine.', '10.0.0.1', { minLength: 1 }),
        main_process_port: int('Port of the rank-0 process.', 29500, { minimum: 1, maximum: 65535 }),
        mixed_precision: str('Mixed precision (no on CPU).', 'bf16', { enum: ['no', 'fp16', 'bf16', 'fp8'] }),
        cpu: bool('Train on CPU even where a GPU is present.', false),
        gpu_ids: str('Which GPUs, e.g. "0,1".', '0,1', { minLength: 1 }),
        use_deepspeed: bool('Shard with DeepSpeed (give zero_stage).', true),
        zero_stage: int('DeepSpeed ZeRO stage.', 2, { minimum: 0, maximum: 3 }),
        use_fsdp: bool('Shard with PyTorch FSDP.', true),
        config_file: str('An Accelerate config file (relative to this recipe) for everything else.', 'accelerate.yaml', { minLength: 1 }),
      },
      additionalProperties: false,
    },
    ...trainingArguments,
  },
  additionalProperties: false,
};

/** Keys a TrainingArguments object holds, in schema order. */
export const TRAINING_ARGUMENT_KEYS = Object.keys(trainingArguments);
