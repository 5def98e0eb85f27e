// DOM for one pair card: header (line, format, findings, actions), the prompt, and chosen | rejected
// side by side with the word diff. Built with the shared `h` helper (no innerHTML: record text is
// untrusted). Test hooks: data-line on the card, data-testid on every action.

import type { Message, Turns } from '../../core/datasets/types.ts';
import type { PairView } from '../../core/protocol/webview.ts';
import { h } from '../shared/dom.ts';
import { diffSides, type Segment } from './wordDiff.ts';
import { formatScore, marginTitle } from './scoreText.ts';

/** Plain text of a side for the diff: the string, or `role: content` blocks. */
export function sideText(turns: Turns): string {
  return typeof turns === 'string' ? turns : turns.map((m) => `${m.role}: ${m.content}`).join('\n\n');
}

/** What the edit box holds for a side: the text, or the last assistant message's content (what the host rewrites). */
export function editableText(turns: Turns): string | undefined {
  if (typeof turns === 'string') return turns;
  for (let i = turns.length - 1; i >= 0; i--) if (turns[i].role === 'assistant') return turns[i].content;
  return undefined;
}

export interface EditState {
  line: number;
  side: 'chosen' | 'rejected';
  draft: string;
}

export interface CardActions {
  swap(pair: PairView): void;
  edit(pair: PairView, side: 'chosen' | 'rejected'): void;
  save(pair: PairView): void;
  cancel(): void;
  draft(text: string): void;
  remove(pair: PairView): void;
  reveal(pair: PairView): void;
  select(position: number): void;
}

function button(label: string, testid: string, title: string, onClick: () => void, secondary = true): HTMLElement {
  const b = h('vscode-button', { 'data-testid': testid, title, secondary: secondary ? true : undefined }, label);
  b.addEventListener('click', (event) => {
    event.stopPropagation();
    onClick();
  });
  return b;
}

function segmentsNode(segments: Segment[], changedClass: string): HTMLElement {
  const el = h('div', { class: 'text' });
  for (const s of segments) el.append(s.changed ? h('span', { class: changedClass }, s.text) : document.createTextNode(s.text));
  if (segments.length === 0) el.append(h('span', { class: 'muted' }, '(empty)'));
  return el;
}

function promptNode(prompt: Turns): HTMLElement {
  const el = h('div', { class: 'prompt', 'data-testid': 'prompt' });
  if (typeof prompt === 'string') {
    el.append(prompt === '' ? h('span', { class: 'muted' }, '(no shared prompt)') : prompt);
    return el;
  }
  for (const m of prompt as Message[]) el.append(h('div', { class: 'msg' }, h('span', { class: `role role-${m.role}` }, m.role), ' ', m.content));
  return el;
}

function lengthLabel(chars: number, tokens: number | undefined): string {
  const c = `${chars.toLocaleString('en-US')} chars`;
  return tokens === undefined ? c : `${tokens.toLocaleString('en-US')} tokens · ${c}`;
}

function sideNode(pair: PairView, side: 'chosen' | 'rejected', segments: Segment[], edit: EditState | undefined, actions: CardActions): HTMLElement {
  const chars = side === 'chosen' ? pair.chosenChars : pair.rejectedChars;
  const tokens = side === 'chosen' ? pair.chosenTokens : pair.rejectedTokens;
  const other = side === 'chosen' ? pair.rejectedChars : pair.chosenChars;
  const score = pair.score ? (side === 'chosen' ? pair.score.chosen : pair.score.rejected) : undefined;
  const otherScore = pair.score ? (side === 'chosen' ? pair.score.rejected : pair.score.chosen) : undefined;
  const head = h(
    'div',
    { class: 'side-head' },
    h('span', { class: 'side-name' }, side),
    score === undefined ? null : h('span', { class: `side-score${score > otherScore! ? ' preferred' : ''}`, 'data-testid': `${side}-score`, title: score > otherScore! ? `The model scores this side higher` : 'The model scores this side lower' }, `score ${formatScore(score)}`),
    h('span', { class: `len${chars > other ? ' longer' : ''}`, 'data-testid': `${side}-length` }, lengthLabel(chars, tokens)),
  );
  const section = h('section', { class: `side ${side}`, 'data-side': side }, head);
  if (edit && edit.line === pair.line && edit.side === side) {
    const area = h('textarea', { class: 'editor', 'data-testid': 'edit-text', 'aria-label': `Edit ${side}`, spellcheck: 'false' });
    area.value = edit.draft;
    area.addEventListener('input', () => actions.draft(area.value));
    area.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        actions.cancel();
      } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        actions.save(pair);
      }
    });
    section.append(
      area,
      h('div', { class: 'edit-actions' }, button('Save', 'save', 'Write this text into the record (Ctrl+Enter)', () => actions.save(pair), false), button('Cancel', 'cancel', 'Discard (Escape)', () => actions.cancel())),
    );
    return section;
  }
  section.append(segmentsNode(segments, side === 'chosen' ? 'ins' : 'del'));
  return section;
}

const SEVERITY_LABEL: Record<string, string> = { error: 'error', warning: 'warning', info: 'info', hint: 'hint' };

/** The card for one pair at filtered `position`. */
export function pairCard(pair: PairView, position: number, selected: boolean, edit: EditState | undefined, actions: CardActions): HTMLElement {
  const diff = diffSides(sideText(pair.chosen), sideText(pair.rejected));
  const style = typeof pair.chosen === 'string' ? 'string' : 'conversational';
  const flags = h('span', { class: 'flags' });
  for (const f of pair.flags) flags.append(h('span', { class: `flag sev-${f.severity}`, title: f.message, 'data-code': f.code }, f.code));
  const editable = (side: 'chosen' | 'rejected') => editableText(side === 'chosen' ? pair.chosen : pair.rejected) !== undefined;
  const card = h(
    'article',
    {
      class: `pair${selected ? ' selected' : ''}${pair.flags.some((f) => f.severity !== 'hint') ? ' flagged' : ''}`,
      'data-line': pair.line,
      'data-position': position,
      'data-testid': 'pair',
      role: 'option',
      'aria-selected': selected ? 'true' : 'false',
      'aria-label': `Pair on line ${pair.line + 1}`,
      tabindex: selected ? 0 : -1,
    },
    h(
      'div',
      { class: 'pair-head' },
      h('a', { class: 'line', href: '#', 'data-testid': 'reveal', title: 'Show this line in the editor (Enter)' }, `line ${pair.line + 1}`),
      pair.score ? h('span', { class: `margin ${pair.score.margin < 0 ? 'negative' : 'positive'}`, 'data-testid': 'margin', 'data-margin': pair.score.margin, title: marginTitle(pair.score) }, `margin ${formatScore(pair.score.margin)}`) : null,
      h('span', { class: 'format muted' }, `${pair.format === 'preference-implicit' ? 'implicit' : 'explicit'} · ${style}${diff.skipped === 'long' ? ' · too long to diff' : diff.skipped === 'different' ? ' · sides differ throughout' : ''}`),
      flags,
      h(
        'span',
        { class: 'actions' },
        button('Swap', 'swap', 'Swap chosen and rejected (s)', () => actions.swap(pair)),
        editable('chosen') ? button('Edit chosen', 'edit-chosen', 'Edit the chosen text (e)', () => actions.edit(pair, 'chosen')) : null,
        editable('rejected') ? button('Edit rejected', 'edit-rejected', 'Edit the rejected text (Shift+E)', () => actions.edit(pair, 'rejected')) : null,
        button('Delete', 'delete', 'Delete this record (Delete); undo in the editor', () => actions.remove(pair)),
      ),
    ),
    promptNode(pair.prompt),
    h('div', { class: 'sides' }, sideNode(pair, 'chosen', diff.chosen, edit, actions), sideNode(pair, 'rejected', diff.rejected, edit, actions)),
  );
  const flagText = pair.flags.filter((f) => f.severity !== 'hint').map((f) => `${SEVERITY_LABEL[f.severity]}: ${f.message}`);
  if (flagText.length > 0) card.querySelector('.flags')!.setAttribute('aria-label', flagText.join(' '));
  card.querySelector('a.line')!.addEventListener('click', (event) => {
    event.preventDefault();
    actions.reveal(pair);
  });
  card.addEventListener('mousedown', () => actions.select(position));
  return card;
}

/** A card whose page has not arrived yet. */
export function placeholderCard(position: number, selected: boolean): HTMLElement {
  return h('article', { class: `pair placeholder${selected ? ' selected' : ''}`, 'data-position': position, role: 'option', 'aria-selected': selected ? 'true' : 'false', tabindex: selected ? 0 : -1 }, h('span', { class: 'muted' }, 'Loading…'));
}
