// Seed 004 §3.3's gates for each stage, as conditions on the metrics Anneal logs ("不满足则不应进入下一
// 阶段": a stage that misses them should not hand over to the next). A recipe's `gates:` edits them
// per metric. Conditions on a metric a run did not measure (an evaluation the recipe has no data for)
// are reported as not measured, never as passed. Thresholds are the seed's; metric names are TRL's
// where TRL logs one, else the evaluation's (`eval/...`).
import type { Stage } from '../recipe/types.ts';
import { parseCondition, type GateCondition } from './condition.ts';

export type GateKind = 'entry' | 'exit' | 'rollback';
export const GATE_KINDS: readonly GateKind[] = ['entry', 'exit', 'rollback'];

export type StageGates = Record<GateKind, GateCondition[]>;

type Spec = [metric: string, condition: string, why: string, severity?: 'advise'];

const ALIGNMENT: Partial<Record<GateKind, Spec[]>> = {
  entry: [
    ['data/pairs', '>= 1000', 'preference data > 1k pairs (seed 004)', 'advise'],
    ['data/identical_pairs', '<= 0', 'chosen and rejected must differ'],
  ],
  exit: [
    ['eval/win_rate', '> 0.55', 'win rate vs the SFT baseline > 55%'],
    ['eval/kl', '< 0.5', 'KL divergence to the reference < 0.5'],
  ],
  rollback: [
    ['eval/kl', '> 1.0', 'KL > 1.0: the model has drifted'],
    ['eval/distinct_2', '< 0.3', 'diversity collapsed (distinct-2 < 0.3)'],
    ['eval/win_rate', 'trend < 0', 'the win rate is falling'],
  ],
};

const RL: Partial<Record<GateKind, Spec[]>> = {
  exit: [['reward', 'trend > 0', 'the reward rises steadily']],
  rollback: [
    ['entropy', '< 0.05', 'entropy collapse: the outputs lost their diversity'],
    ['reward', 'trend > 0 while eval/win_rate trend < 0', 'reward hacking: the reward rises while quality falls'],
  ],
};

const SPECS: Record<Stage, Partial<Record<GateKind, Spec[]>>> = {
  cpt: {
    entry: [['data/errors', '<= 0', 'the text data validates']],
    exit: [
      ['eval/perplexity', 'change < -20%', 'domain perplexity down by more than 20%'],
      ['eval/general/perplexity', 'change < 5%', 'general ability drops by less than 5%'],
    ],
    rollback: [['eval/general/perplexity', 'change > 10%', 'general ability dropped by more than 10%']],
  },
  sft: {
    entry: [
      ['data/errors', '<= 0', 'the data validates (chat template, loss mask)'],
      ['data/records', '>= 1000', 'high-quality SFT data > 1k records (seed 004)', 'advise'],
    ],
    exit: [
      ['eval/format_accuracy', '> 0.95', 'format correct > 95%'],
      ['eval/answer_accuracy', '> 0.9', 'instructions followed > 90%'],
    ],
    rollback: [['eval/loss', 'trend > 0 while loss trend < 0', 'overfitting: train loss falls while eval loss rises']],
  },
  dpo: ALIGNMENT,
  kto: ALIGNMENT,
  orpo: ALIGNMENT,
  cpo: ALIGNMENT,
  simpo: ALIGNMENT,
  reward: {
    entry: [['data/identical_pairs', '<= 0', 'chosen and rejected must differ']],
    exit: [['eval/accuracy', '> 0.6', 'a reward model must order held-out pairs well above chance to steer RL']],
  },
  grpo: RL,
  ppo: {
    exit: [['objective/scores', 'trend > 0', 'the reward rises steadily']],
    rollback: [
      ['policy/entropy_avg', '< 0.05', 'entropy collapse: the outputs lost their diversity'],
      ['objective/scores', 'trend > 0 while eval/win_rate trend < 0', 'reward hacking: the reward rises while quality falls'],
    ],
  },
};

/** Seed 004's gates for `stage`. */
export function defaultGates(stage: Stage): StageGates {
  const specs = SPECS[stage];
  const out: StageGates = { entry: [], exit: [], rollback: [] };
  for (const kind of GATE_KINDS) {
    for (const [metric, text, why, severity] of specs[kind] ?? []) {
      const c = parseCondition(metric, text, why);
      if (typeof c === 'string') throw new Error(`default gate ${metric}: ${c}`);
      out[kind].push(severity ? { ...c, severity } : c);
    }
  }
  return out;
}
