// The pair inspector view. The host owns the document; this page only shows the rows in view (a
// virtual list over `pairs/requestPage` windows), sends filters and edits, and re-reads everything
// after each `pairs/reset` (the document changed or the filter did). It never holds the whole file.
// Once a model scored the file, the header says by what and how many pairs it finds backwards, and
// the list can be ordered by margin and cut to the pairs below 0.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '../shared/theme.css';
import './style.css';

import type { HostToView, PairFilter, PairsResetMessage, PairView, ViewToHost } from '../../core/protocol/webview.ts';
import { frameScheduler, h } from '../shared/dom.ts';
import { vscodeApi } from '../shared/vscodeChannel.ts';
import { keyAction, type KeyAction } from './keys.ts';
import { PageCache } from './pageCache.ts';
import { editableText, pairCard, placeholderCard, type CardActions, type EditState } from './render.ts';
import { scoreSummaryText } from './scoreText.ts';
import { rowsPerPage, scrollTopToShow, spacerHeight, visibleRows } from './virtualWindow.ts';

/** Height of one card slot (card + gap), px; cards are fixed-height so the list can be virtual. */
const ROW_HEIGHT = 262;

const api = vscodeApi();
const post = (message: ViewToHost): void => api?.postMessage(message);

interface StoredState {
  filter?: PairFilter;
  selected?: number;
}
const stored = (api?.getState() ?? {}) as StoredState;

let reset: PairsResetMessage | undefined;
let filter: PairFilter = stored.filter ?? { onlyFlagged: false, search: '' };
let selected = stored.selected ?? 0;
let edit: EditState | undefined;
let focusWanted = false;
const cache = new PageCache<PairView>(40, 30);

// ---- layout ----------------------------------------------------------------------------------

const title = h('span', { class: 'title', 'data-testid': 'title' }, 'Pair inspector');
const counts = h('span', { class: 'counts muted', 'data-testid': 'counts' }, 'Loading…');
const unit = h('span', { class: 'unit muted', 'data-testid': 'unit' });
const fileFlags = h('div', { class: 'file-flags', 'data-testid': 'file-flags' });
const search = h('vscode-textfield', { placeholder: 'Search prompt, chosen and rejected  (/)', 'data-testid': 'search', 'aria-label': 'Search pairs' }) as HTMLElement & { value: string };
const onlyFlagged = h('vscode-checkbox', { 'data-testid': 'only-flagged', label: 'Only flagged' }) as HTMLElement & { checked: boolean };
const scoreButton = h('vscode-button', { 'data-testid': 'score', secondary: true, title: 'Score every pair with a trained model: a reward run, or a DPO/SFT run\'s adapter against its base' }, 'Score with a model…');
// Shown once the file has scores.
const scoredBy = h('span', { class: 'scored-by', 'data-testid': 'scored-by' });
const negativeCount = h('span', { class: 'negative-count', 'data-testid': 'negative-count' });
const unscoredNote = h('span', { class: 'muted', 'data-testid': 'unscored' });
const byMargin = h('vscode-checkbox', { 'data-testid': 'sort-margin', label: 'Lowest margin first' }) as HTMLElement & { checked: boolean };
const onlyNegative = h('vscode-checkbox', { 'data-testid': 'only-negative', label: 'Only margin < 0 (model prefers rejected)' }) as HTMLElement & { checked: boolean };
const clearScores = h('a', { href: '#', class: 'clear-scores', 'data-testid': 'clear-scores', title: 'Forget these scores' }, 'Clear scores');
const scoresRow = h('div', { class: 'scores', 'data-testid': 'scores', hidden: true }, h('div', { class: 'row' }, scoredBy, negativeCount, unscoredNote), h('div', { class: 'row' }, byMargin, onlyNegative, clearScores));
const status = h('span', { class: 'status', 'data-testid': 'status', role: 'status', 'aria-live': 'polite' });
const progress = h('vscode-progress-bar', { class: 'progress', hidden: true, 'data-testid': 'progress' });
const keysHint = h('span', { class: 'keys muted' }, 'j/k or ↑/↓ move · n/N flagged · s swap · e/E edit · Del delete · Enter open');
const header = h(
  'header',
  { class: 'pairs-header' },
  h('div', { class: 'row' }, title, counts, unit),
  fileFlags,
  h('div', { class: 'row toolbar' }, search, onlyFlagged, scoreButton, status),
  scoresRow,
  h('div', { class: 'row' }, keysHint),
  progress,
);
const spacer = h('div', { class: 'spacer' });
const list = h('div', { class: 'pairs-list', role: 'listbox', 'aria-label': 'Preference pairs', tabindex: 0, 'data-testid': 'pair-list', 'data-total': 0 }, spacer);
const empty = h('div', { class: 'empty muted', hidden: true, 'data-testid': 'empty' });
document.body.append(header, empty, list);

search.value = filter.search;
onlyFlagged.checked = filter.onlyFlagged;
byMargin.checked = filter.sort === 'margin';
onlyNegative.checked = filter.onlyNegative === true;

// ---- rendering --------------------------------------------------------------------------------

const rendered = new Map<number, { el: HTMLElement; pair: PairView | undefined; selected: boolean; editing: boolean }>();

function total(): number {
  return reset?.total ?? 0;
}

function viewport() {
  return { scrollTop: list.scrollTop, height: list.clientHeight, rowHeight: ROW_HEIGHT, total: total() };
}

function render(): void {
  const v = viewport();
  spacer.style.height = `${spacerHeight(v.total, ROW_HEIGHT)}px`;
  list.dataset.total = String(v.total);
  const { first, end, top } = visibleRows(v, 1);
  for (const page of cache.missing(first, end)) {
    const { start, count } = cache.request(page);
    post({ type: 'pairs/requestPage', start, count });
  }
  const keep = new Set<number>();
  for (let p = first; p < end; p++) {
    keep.add(p);
    const pair = cache.get(p);
    const isSelected = p === selected;
    const editing = !!pair && !!edit && edit.line === pair.line;
    let row = rendered.get(p);
    if (!row || row.pair !== pair || row.selected !== isSelected || row.editing !== editing) {
      const el = pair ? pairCard(pair, p, isSelected, edit, actions) : placeholderCard(p, isSelected);
      if (row) row.el.replaceWith(el);
      else spacer.append(el);
      row = { el, pair, selected: isSelected, editing };
      rendered.set(p, row);
    }
    row.el.style.transform = `translateY(${top + (p - first) * ROW_HEIGHT}px)`;
  }
  for (const [p, row] of rendered) {
    if (!keep.has(p)) {
      row.el.remove();
      rendered.delete(p);
    }
  }
  empty.hidden = !reset || v.total > 0;
  if (focusWanted) {
    const row = rendered.get(selected);
    if (row && !row.editing) {
      row.el.focus({ preventScroll: true });
      focusWanted = false;
    }
  }
}

const scheduleRender = frameScheduler(render);

function rebuildAll(): void {
  for (const row of rendered.values()) row.el.remove();
  rendered.clear();
  render();
}

function saveState(): void {
  const prev = (api?.getState() ?? {}) as object;
  api?.setState({ ...prev, filter, selected });
}

function select(position: number, focus = true): void {
  const n = total();
  if (n === 0) return;
  selected = Math.max(0, Math.min(n - 1, position));
  list.scrollTop = scrollTopToShow(viewport(), selected);
  focusWanted = focus;
  saveState();
  render();
}

function say(text: string): void {
  status.textContent = text;
}

// ---- actions ----------------------------------------------------------------------------------

function postEdit(pair: PairView, editKind: Parameters<typeof editMessage>[1]): void {
  post(editMessage(pair, editKind));
}
function editMessage(pair: PairView, e: { kind: 'swap' } | { kind: 'delete' } | { kind: 'setSide'; side: 'chosen' | 'rejected'; text: string }): ViewToHost {
  return { type: 'pairs/edit', line: pair.line, edit: e, version: reset?.version };
}

const actions: CardActions = {
  swap(pair) {
    postEdit(pair, { kind: 'swap' });
    say(`Swapped chosen and rejected on line ${pair.line + 1}; undo in the editor.`);
  },
  edit(pair, side) {
    const text = editableText(side === 'chosen' ? pair.chosen : pair.rejected);
    if (text === undefined) {
      say(`This ${side} side has no assistant message to edit; edit the JSON in the editor.`);
      return;
    }
    edit = { line: pair.line, side, draft: text };
    render();
    const area = list.querySelector<HTMLTextAreaElement>('textarea.editor');
    area?.focus();
  },
  save(pair) {
    if (!edit) return;
    postEdit(pair, { kind: 'setSide', side: edit.side, text: edit.draft });
    say(`Saved ${edit.side} on line ${pair.line + 1}; undo in the editor.`);
    edit = undefined;
    focusWanted = true;
    render();
  },
  cancel() {
    edit = undefined;
    focusWanted = true;
    render();
  },
  draft(text) {
    if (edit) edit.draft = text;
  },
  remove(pair) {
    postEdit(pair, { kind: 'delete' });
    say(`Deleted line ${pair.line + 1}; undo in the editor.`);
  },
  reveal(pair) {
    post({ type: 'reveal', line: pair.line });
  },
  select(position) {
    if (position !== selected) select(position, false);
  },
};

function run(action: KeyAction): void {
  const pair = cache.get(selected);
  switch (action) {
    case 'next':
      return select(selected + 1);
    case 'previous':
      return select(selected - 1);
    case 'first':
      return select(0);
    case 'last':
      return select(total() - 1);
    case 'pageDown':
      return select(selected + rowsPerPage(viewport()));
    case 'pageUp':
      return select(selected - rowsPerPage(viewport()));
    case 'nextFlagged':
    case 'previousFlagged':
      post({ type: 'pairs/nextFlagged', from: selected, direction: action === 'nextFlagged' ? 1 : -1 });
      return;
    case 'search':
      search.focus();
      return;
    case 'swap':
      if (pair) actions.swap(pair);
      return;
    case 'editChosen':
    case 'editRejected':
      if (pair) actions.edit(pair, action === 'editChosen' ? 'chosen' : 'rejected');
      return;
    case 'delete':
      if (pair) actions.remove(pair);
      return;
    case 'reveal':
      if (pair) actions.reveal(pair);
      return;
  }
}

function inEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName.toLowerCase();
  return tag === 'input' || tag === 'textarea' || tag === 'vscode-textfield' || tag === 'vscode-textarea' || target.isContentEditable;
}

document.addEventListener('keydown', (event) => {
  const action = keyAction({ key: event.key, shiftKey: event.shiftKey, ctrlKey: event.ctrlKey, metaKey: event.metaKey, altKey: event.altKey, inEditable: inEditable(event.target) || !!edit });
  if (!action) {
    if (event.key === 'Escape' && inEditable(event.target) && event.target === search) list.focus();
    return;
  }
  event.preventDefault();
  run(action);
});

let searchTimer: ReturnType<typeof setTimeout> | undefined;
function sendFilter(): void {
  filter = { onlyFlagged: onlyFlagged.checked, search: search.value, onlyNegative: onlyNegative.checked, sort: byMargin.checked ? 'margin' : 'line' };
  saveState();
  post({ type: 'pairs/setFilter', filter });
}
search.addEventListener('input', () => {
  if (searchTimer) clearTimeout(searchTimer);
  searchTimer = setTimeout(sendFilter, 250);
});
search.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === 'ArrowDown') {
    event.preventDefault();
    if (searchTimer) clearTimeout(searchTimer);
    if (search.value !== filter.search) sendFilter();
    focusWanted = true;
    select(selected);
  }
});
onlyFlagged.addEventListener('change', sendFilter);
byMargin.addEventListener('change', () => {
  sendFilter();
  // A new order: start from its top (the most suspect pair).
  selected = 0;
  list.scrollTop = 0;
});
onlyNegative.addEventListener('change', sendFilter);
scoreButton.addEventListener('click', () => post({ type: 'pairs/score' }));
clearScores.addEventListener('click', (event) => {
  event.preventDefault();
  post({ type: 'pairs/clearScores' });
});
list.addEventListener('scroll', scheduleRender, { passive: true });
list.addEventListener('focus', () => {
  focusWanted = true;
  render();
});
new ResizeObserver(scheduleRender).observe(list);

// ---- messages ---------------------------------------------------------------------------------

/** The scores row: what scored the pairs and how many are backwards, with the margin order and filter. */
function showScores(message: PairsResetMessage): void {
  const s = message.scores;
  scoresRow.hidden = !s;
  document.body.dataset.scored = s ? 'true' : 'false';
  scoreButton.textContent = s ? 'Score again…' : 'Score with a model…';
  if (!s) return;
  const text = scoreSummaryText(s);
  scoredBy.textContent = text.scoredBy;
  negativeCount.textContent = text.negative;
  negativeCount.classList.toggle('has-negative', s.negative > 0);
  negativeCount.dataset.negative = String(s.negative);
  unscoredNote.textContent = text.unscored ?? '';
}

function showReset(message: PairsResetMessage): void {
  reset = message;
  progress.hidden = true;
  title.textContent = message.file;
  const shown = message.total === message.allPairs ? `${message.allPairs.toLocaleString('en-US')} pairs` : `${message.total.toLocaleString('en-US')} of ${message.allPairs.toLocaleString('en-US')} pairs`;
  counts.textContent = `${shown} · ${message.flagged.toLocaleString('en-US')} flagged`;
  unit.textContent = message.tokenizer ? `lengths in tokens (${message.tokenizer})` : 'lengths in characters (set anneal.model.path to count tokens)';
  fileFlags.replaceChildren(...message.fileFlags.map((f) => h('div', { class: `file-flag sev-${f.severity}`, 'data-code': f.code }, h('span', { class: 'flag-code' }, f.code), ' ', f.message)));
  showScores(message);
  empty.textContent = message.allPairs === 0 ? 'No preference pairs in this file (records need "chosen" and "rejected").' : 'No pairs match the filter.';
  cache.clear();
  if (edit && message.total === 0) edit = undefined;
  selected = Math.max(0, Math.min(selected, message.total - 1));
  rebuildAll();
}

window.addEventListener('message', (event: MessageEvent) => {
  const message = event.data as HostToView;
  switch (message.type) {
    case 'pairs/reset':
      showReset(message);
      return;
    case 'pairs/page':
      if (reset && message.version !== undefined && reset.version !== undefined && message.version !== reset.version) return;
      cache.put(message.start, message.pairs);
      scheduleRender();
      return;
    case 'pairs/select':
      if (message.position < 0) say('No more flagged pairs in that direction.');
      else select(message.position);
      return;
    case 'view/progress':
      progress.hidden = false;
      counts.textContent = `${message.label}… ${Math.round((100 * message.done) / Math.max(1, message.total))}%`;
      return;
    default:
      return;
  }
});

post({ type: 'ready' });
if (filter.search || filter.onlyFlagged || filter.onlyNegative || filter.sort === 'margin') post({ type: 'pairs/setFilter', filter });
