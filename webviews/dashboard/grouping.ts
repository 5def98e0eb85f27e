// Which charts the dashboard shows and in what order: every metric a run reports, grouped by its
// namespace (`rewards/chosen` -> `rewards`); TRL's bare names (loss, grad_norm, ...) are training
// metrics and share the `train` group with `train/*`. A preference run (DPO, KTO, ORPO, CPO, SimPO)
// is judged by its reward margin and accuracy more than by its loss, so `rewards` comes right after
// `train`, margin and accuracy first, in the eval group too. A GRPO run is judged by its reward: TRL
// logs the total bare (`reward`, `reward_std`, `frac_reward_zero_std`) and each function under
// `rewards/<fn>/mean|std`, so the bare ones join `rewards`, first; its completion lengths and clip
// ratios follow in their own groups, the numbers a user reads first leading.

/** Metrics shown first within their group, in this order, when present. */
const LEADING = [
  'loss',
  'reward',
  'reward_std',
  'frac_reward_zero_std',
  'eval/loss',
  'rewards/margins',
  'rewards/accuracies',
  'eval/rewards/margins',
  'eval/rewards/accuracies',
  'learning_rate',
  'grad_norm',
  'train/tokens_per_second',
  'completions/mean_length',
  'completions/clipped_ratio',
  'clip_ratio/region_mean',
  'clip_ratio/low_mean',
  'clip_ratio/high_mean',
];
/** Groups shown first; the rest follow alphabetically. */
const GROUP_ORDER = ['train', 'rewards', 'eval', 'completions', 'clip_ratio'];
/** Bare metric names that belong with the namespaced rewards (GRPO's totals, as TRL names them). */
const REWARD_TOTALS = new Set(['reward', 'reward_std', 'frac_reward_zero_std']);

/** The namespace a metric belongs to. */
export function namespaceOf(metric: string): string {
  if (REWARD_TOTALS.has(metric)) return 'rewards';
  const slash = metric.indexOf('/');
  return slash < 0 ? 'train' : metric.slice(0, slash);
}

export interface MetricGroup {
  name: string;
  metrics: string[];
}

/** Groups metric names by namespace: the leading metrics first, then alphabetical. `step` is not a metric. */
export function groupMetrics(names: Iterable<string>): MetricGroup[] {
  const groups = new Map<string, string[]>();
  for (const name of new Set(names)) {
    if (name === 'step') continue;
    const ns = namespaceOf(name);
    let list = groups.get(ns);
    if (!list) groups.set(ns, (list = []));
    list.push(name);
  }
  const rank = (m: string) => {
    const i = LEADING.indexOf(m);
    return i < 0 ? LEADING.length : i;
  };
  for (const list of groups.values()) list.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const groupRank = (g: string) => {
    const i = GROUP_ORDER.indexOf(g);
    return i < 0 ? GROUP_ORDER.length : i;
  };
  return [...groups.entries()]
    .sort(([a], [b]) => groupRank(a) - groupRank(b) || a.localeCompare(b))
    .map(([name, metrics]) => ({ name, metrics }));
}

/** Schedules and counters: smoothing them would only misdraw a curve that has no noise. */
const UNSMOOTHED = new Set(['learning_rate', 'epoch', 'num_tokens', 'total_flos', 'step']);

/** True when the smoothing slider applies to this metric. */
export function isSmoothed(metric: string): boolean {
  return !UNSMOOTHED.has(metric);
}
