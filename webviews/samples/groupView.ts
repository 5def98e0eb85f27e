// The DOM of one online-RL step: each prompt's group as a table of its completions, a column per
// reward function, then the total, the advantage (a bar scaled to the step's largest) and the length;
// each completion's text on a full-width row under its numbers, so a narrow panel beside the editor
// still reads it. What to draw (grouping, order, filter) comes from groups.ts; this file only builds
// elements.

import { formatValue } from '../dashboard/format.ts';
import { h } from '../shared/dom.ts';
import { orderCompletions, type CompletionGroup, type GroupCompletion } from './groups.ts';

export interface GroupViewOptions {
  /** The reward functions' names, one column each. */
  rewardNames: string[];
  sortByAdvantage: boolean;
  /** The largest |advantage| of the step: the advantage bars are drawn against it. */
  maxAbsAdvantage: number;
}

/** One group: its prompt, whether it has a learning signal, and its completions as table rows. */
export function groupSection(group: CompletionGroup, o: GroupViewOptions): HTMLElement {
  const flat = group.zeroVariance;
  const head = h(
    'div',
    { class: 'rl-group-head' },
    h('span', { class: 'badge' }, `group ${group.group + 1}`),
    h('span', { class: 'rl-group-stat', title: 'Mean of the completions\u2019 total rewards' }, 'mean reward ', h('strong', {}, formatValue(group.meanReward))),
    flat &&
      h(
        'span',
        { class: 'badge rl-flat', title: 'Every completion got the same total reward: every advantage is 0, so this group teaches the model nothing this step.' },
        'zero reward variance',
      ),
  );
  const error = group.error ? h('div', { class: 'rl-error rl-group-error', title: 'A reward function failed on this step\u2019s completions; its scores are empty' }, `\u26a0 ${group.error}`) : null;
  const prompt = h('details', { class: 'rl-prompt' }, h('summary', { title: 'Show the whole prompt' }, oneLine(group.prompt)), h('pre', { class: 'prompt' }, group.prompt));
  const header = h(
    'tr',
    {},
    h('th', { class: 'num', title: 'Order sampled' }, '#'),
    ...o.rewardNames.map((name) => h('th', { class: 'num', 'data-reward-fn': name, title: `Reward function ${name}` }, name)),
    h('th', { class: 'num', title: 'Weighted sum of the rewards: what the advantage is computed from' }, 'reward'),
    h('th', { class: 'num', title: 'How much this completion is pushed up (positive) or down (negative)' }, 'advantage'),
    h('th', { class: 'num length', title: 'Completion tokens, the stop token included' }, 'length'),
    // Takes the width the numbers leave, so they stay together on the left.
    h('th', { class: 'fill' }),
  );
  const columns = o.rewardNames.length + 6;
  const first = group.completions[0]?.index ?? 0;
  const rows = orderCompletions(group, o.sortByAdvantage).map((c) => completionRows(c, c.index - first + 1, o, columns, group.error === undefined));
  return h(
    'section',
    {
      class: `rl-group${flat ? ' zero-variance' : ''}`,
      'data-group': group.group,
      'data-zero-variance': flat ? 'true' : 'false',
      'data-mean-reward': group.meanReward ?? undefined,
    },
    head,
    prompt,
    error,
    h('table', { class: 'rl-table' }, h('thead', {}, header), ...rows),
  );
}

/** A completion: its numbers, then its text (and its error, unless the group says it once for all). */
function completionRows(c: GroupCompletion, position: number, o: GroupViewOptions, columns: number, ownError: boolean): HTMLElement {
  const s = c.scored;
  const text = h('pre', { class: 'completion' }, c.completion.length > 0 ? c.completion : '(empty completion)');
  const error = s.error && ownError ? h('div', { class: 'rl-error', title: 'A reward function failed on this completion; its score is empty' }, `\u26a0 ${s.error}`) : null;
  const bar = h('span', { class: 'rl-adv-bar' });
  bar.style.width = `${o.maxAbsAdvantage > 0 ? Math.min(100, (Math.abs(s.advantage) / o.maxAbsAdvantage) * 100) : 0}%`;
  const sign = s.advantage > 0 ? 'positive' : s.advantage < 0 ? 'negative' : 'zero';
  const numbers = h(
    'tr',
    {
      class: `rl-row adv-${sign}`,
      'data-index': c.index,
      'data-advantage': s.advantage,
      'data-reward': s.reward ?? 'null',
      'data-length': s.length,
      'data-truncated': s.truncated ? 'true' : 'false',
      'data-error': s.error ? 'true' : undefined,
    },
    h('td', { class: 'num muted' }, String(position)),
    ...o.rewardNames.map((name) => {
      const v = s.rewards[name];
      return h('td', { class: 'num', 'data-reward-fn': name }, v === undefined || v === null ? '–' : formatValue(v));
    }),
    h('td', { class: 'num total' }, formatValue(s.reward)),
    h('td', { class: 'num advantage' }, h('span', { class: 'rl-adv' }, h('span', { class: 'rl-adv-track' }, bar), h('span', { class: 'rl-adv-value', title: String(s.advantage) }, formatAdvantage(s.advantage)))),
    h(
      'td',
      { class: 'num length' },
      h('span', { class: 'rl-length' }, String(s.length)),
      s.truncated && h('span', { class: 'badge rl-truncated', title: 'Cut at max_completion_length without a stop token' }, 'truncated'),
    ),
    h('td', { class: 'fill' }),
  );
  const body = h('tr', { class: 'rl-text' }, h('td', { colspan: columns }, text, error));
  return h('tbody', { class: `rl-completion adv-${sign}` }, numbers, body);
}

/** Signed, so a glance down the column tells pushed-up from pushed-down; 3 digits are enough to compare (the title has all). */
function formatAdvantage(v: number): string {
  const text = v === 0 ? '0' : Math.abs(v) < 1e-3 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
  return v > 0 ? `+${text}` : text;
}

/** A prompt on one line, cut to fit a summary. */
export function oneLine(text: string, max = 90): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
