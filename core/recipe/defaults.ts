// TRL's defaults, per stage (TrainingArguments, then SFTConfig / DPOConfig / RewardConfig / GRPOConfig
// overrides, as of TRL 1.16 / transformers 5), so a recipe that leaves a key out trains as TRL would
// (one exception: assistant_only_loss, below; gradient_checkpointing differs too, but changes only
// memory and time, never what is learned).

import type { LoraConfig, SamplesConfig, Stage, TrainingArguments } from './types.ts';

/** Every stage a recipe may name, in the order of the seeds' pipeline. */
export const STAGES: readonly Stage[] = ['sft', 'cpt', 'dpo', 'kto', 'orpo', 'cpo', 'simpo', 'reward', 'grpo', 'ppo'];

/** Every training argument with TRL's default for `stage`. */
export function defaultTrainingArguments(stage: Stage): TrainingArguments {
  const base: TrainingArguments = {
    learning_rate: 2e-5,
    per_device_train_batch_size: 8,
    per_device_eval_batch_size: 8,
    gradient_accumulation_steps: 1,
    num_train_epochs: 3,
    max_steps: -1,
    warmup_steps: 0,
    warmup_ratio: 0,
    lr_scheduler_type: 'linear',
    weight_decay: 0,
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    adam_epsilon: 1e-8,
    max_grad_norm: 1,
    max_length: 1024,
    // TRL's configs log every 10 steps (TrainingArguments: 500); eval_steps None means "as logging".
    logging_steps: 10,
    eval_steps: 10,
    save_steps: 500,
    // TRL keeps every checkpoint (None); a long run would fill the disk. Three is enough to resume
    // and to go back a little; the best by eval loss is kept on top of them.
    save_total_limit: 3,
    // Not in TRL: a crash between distant save_steps must not lose more than this much training.
    save_minutes: 10,
    // Not in TRL: a few greedy answers per evaluation give the gates' KL, diversity and win rate cheaply.
    eval_generations: 8,
    seed: 42,
    packing: false,
    // TRL's None: completion-only for prompt-completion data.
    completion_only_loss: true,
    // Anneal's one departure from TRL (False there, because TRL needs `{% generation %}` tags in the
    // template to find assistant turns); core/tokenize finds them in any template, and the trainer,
    // the hover and the length checks all assume assistant-only loss unless the recipe says false.
    assistant_only_loss: true,
    // TRL turns it on (its base config: True), for GPU memory. Here a step would take about a third
    // longer for memory most runs do not need; the memory check before a run suggests it when a run
    // would not fit.
    gradient_checkpointing: false,
    load_in_4bit: false,
  };
  switch (stage) {
    case 'sft':
    case 'cpt':
      return { ...base, loss_type: 'nll' };
    case 'dpo':
      return { ...base, learning_rate: 1e-6, beta: 0.1, loss_type: 'sigmoid', label_smoothing: 0, f_divergence_type: 'reverse_kl', f_alpha_divergence_coef: 0.5, discopop_tau: 0.05, disable_dropout: true };
    case 'kto':
      return { ...base, learning_rate: 1e-6, beta: 0.1, loss_type: 'kto', desirable_weight: 1, undesirable_weight: 1, disable_dropout: true };
    case 'orpo':
      return { ...base, learning_rate: 1e-6, beta: 0.1, disable_dropout: true };
    case 'cpo':
      return { ...base, learning_rate: 1e-6, beta: 0.1, loss_type: 'sigmoid', label_smoothing: 0, cpo_alpha: 1, simpo_gamma: 0.5, disable_dropout: true };
    case 'simpo':
      // TRL's SimPO is CPOTrainer with loss_type simpo; SimPO proper has no NLL term (cpo_alpha 0), and
      // the SimPO paper's beta is 2.0 (TRL's CPOConfig keeps 0.1; its docs give 2.0 for SimPO).
      return { ...base, learning_rate: 1e-6, beta: 2, loss_type: 'simpo', label_smoothing: 0, cpo_alpha: 0, simpo_gamma: 0.5, disable_dropout: true };
    case 'reward':
      return { ...base, learning_rate: 1e-4, disable_dropout: true };
    case 'grpo':
      return {
        ...base,
        learning_rate: 1e-6,
        beta: 0,
        loss_type: 'dapo',
        num_generations: 8,
        max_completion_length: 512,
        temperature: 1,
        epsilon: 0.2,
      };
    case 'ppo':
      // TRL 1.12's PPOConfig (the last TRL with PPO); missing_eos_penalty: none.
      return {
        ...base,
        learning_rate: 3e-6,
        temperature: 0.7,
        response_length: 53,
        kl_coef: 0.05,
        kl_estimator: 'k1',
        cliprange: 0.2,
        cliprange_value: 0.2,
        vf_coef: 0.1,
        gamma: 1,
        lam: 0.95,
        num_ppo_epochs: 4,
        num_mini_batches: 1,
        whiten_rewards: false,
      };
  }
}

/** TRL's ModelConfig LoRA defaults (used when a recipe writes `lora: {}`). */
export const DEFAULT_LORA: LoraConfig = { r: 16, alpha: 32, dropout: 0.05, target_modules: 'all-linear' };

export const DEFAULT_SAMPLES: Omit<SamplesConfig, 'prompts'> = { every_steps: 50, max_new_tokens: 64, temperature: 0.7, top_p: 0.95 };

/** Keys that only some stages read; the rest ignore them. */
export const STAGE_ONLY_KEYS: Record<string, Stage[]> = {
  beta: ['dpo', 'kto', 'orpo', 'cpo', 'simpo', 'grpo'],
  loss_weights: ['dpo'],
  label_smoothing: ['dpo', 'cpo', 'simpo'],
  f_divergence_type: ['dpo'],
  f_alpha_divergence_coef: ['dpo'],
  discopop_tau: ['dpo'],
  desirable_weight: ['kto'],
  undesirable_weight: ['kto'],
  cpo_alpha: ['cpo', 'simpo'],
  simpo_gamma: ['cpo', 'simpo'],
  alpha: ['cpo', 'simpo'],
  center_rewards_coefficient: ['reward'],
  num_generations: ['grpo'],
  max_completion_length: ['grpo'],
  temperature: ['grpo', 'ppo'],
  reward_model_path: ['ppo'],
  response_length: ['ppo'],
  kl_coef: ['ppo'],
  kl_estimator: ['ppo'],
  cliprange: ['ppo'],
  cliprange_value: ['ppo'],
  vf_coef: ['ppo'],
  gamma: ['ppo'],
  lam: ['ppo'],
  num_ppo_epochs: ['ppo'],
  num_mini_batches: ['ppo'],
  whiten_rewards: ['ppo'],
  missing_eos_penalty: ['ppo'],
  epsilon: ['grpo'],
  epsilon_high: ['grpo'],
  top_p: ['grpo'],
  top_k: ['grpo'],
  scale_rewards: ['grpo'],
  multi_objective_aggregation: ['grpo'],
  mask_truncated_completions: ['grpo'],
  importance_sampling_level: ['grpo'],
  num_iterations: ['grpo'],
  steps_per_generation: ['grpo'],
  generation_batch_size: ['grpo'],
  rewards: ['grpo'],
  reward_weights: ['grpo'],
  packing: ['sft', 'cpt'],
  completion_only_loss: ['sft'],
  assistant_only_loss: ['sft'],
};

/** loss_type values each stage accepts. */
export const LOSS_TYPES: Record<Stage, string[]> = {
  sft: ['nll', 'dft'],
  cpt: ['nll', 'dft'],
  // TRL 1.16's DPOTrainer (dpo_trainer.py, _compute_loss); several may be combined with loss_weights.
  dpo: ['sigmoid', 'hinge', 'ipo', 'exo_pair', 'nca_pair', 'robust', 'bco_pair', 'sppo_hard', 'aot', 'aot_unpaired', 'apo_zero', 'apo_down', 'discopop', 'sft', 'sigmoid_norm'],
  kto: ['kto', 'apo_zero_unpaired'],
  orpo: [],
  cpo: ['sigmoid', 'hinge', 'ipo', 'simpo', 'alphapo'],
  simpo: ['simpo', 'alphapo'],
  reward: [],
  grpo: ['grpo', 'bnpo', 'dr_grpo', 'dapo'],
  ppo: [],
};
