// The side-by-side chat view: pick a model per side, type a prompt (and a system prompt), both answer
// next to each other, judge. Keyboard: Ctrl/Cmd+Enter asks; 1 / 2 / 3 / 4 judge the newest answered
// prompt (left better, right better, both bad, skip) when the focus is not in a text field. The host
// does the talking to the daemon and the writing; this view draws what it is told.

import '../shared/theme.css';
import './style.css';

import type { CompareAnswerMessage, CompareJudgedMessage, CompareSetupMessage, CompareTurnMessage, Side, Verdict } from '../../core/protocol/compareView.ts';
import type { HostToView, ViewToHost } from '../../core/protocol/webview.ts';
import { h } from '../shared/dom.ts';
import { vscodeApi } from '../shared/vscodeChannel.ts';

const api = vscodeApi();
const post = (message: ViewToHost): void => api?.postMessage(message);
const SIDES: Side[] = ['left', 'right'];
const VERDICTS: { verdict: Verdict; label: string; key: string }[] = [
  { verdict: 'left', label: 'Left is better', key: '1' },
  { verdict: 'right', label: 'Right is better', key: '2' },
  { verdict: 'both-bad', label: 'Both bad', key: '3' },
  { verdict: 'skip', label: 'Skip', key: '4' },
];

interface TurnView {
  id: number;
  root: HTMLElement;
  answers: Record<Side, HTMLElement>;
  notes: Record<Side, HTMLElement>;
  done: Set<Side>;
  ok: Set<Side>;
  buttons: HTMLButtonElement[];
  status: HTMLElement;
  heads: Record<Side, HTMLElement>;
  judged: boolean;
}

// ---- the form ---------------------------------------------------------------------------------

function modelPicker(side: Side): { wrap: HTMLElement; select: HTMLSelectElement } {
  const select = h('select', { id: `model-${side}`, 'data-testid': `model-${side}`, 'aria-label': `${side === 'left' ? 'Left' : 'Right'} model` });
  const add = h('button', { class: 'secondary icon', type: 'button', title: 'Add a model folder, GGUF file or Hub id', 'aria-label': `Add a model for the ${side} side` }, '+');
  add.addEventListener('click', () => post({ type: 'compare/addModel', side }));
  const wrap = h('label', { class: 'picker', for: `model-${side}` }, h('span', { class: 'side-name' }, side === 'left' ? 'Left' : 'Right'), select, add);
  return { wrap, select };
}

const left = modelPicker('left');
const right = modelPicker('right');
const blind = h('input', { type: 'checkbox', id: 'blind', 'data-testid': 'blind' });
const maxTokens = h('input', { type: 'number', id: 'max-tokens', min: 1, max: 2048, value: 128, class: 'num', 'aria-label': 'Longest answer in tokens' });
const temperature = h('input', { type: 'number', id: 'temperature', min: 0, max: 5, step: 0.1, value: 0, class: 'num', 'aria-label': 'Temperature (0: greedy)' });
const system = h('textarea', { id: 'system', rows: 2, placeholder: 'Optional system prompt', 'data-testid': 'system', 'aria-label': 'System prompt' });
const prompt = h('textarea', { id: 'prompt', rows: 3, placeholder: 'Ask both models… (Ctrl+Enter)', 'data-testid': 'prompt', 'aria-label': 'Prompt' });
const askButton = h('button', { type: 'button', 'data-testid': 'ask', title: 'Ctrl+Enter' }, 'Ask both');
const stopButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'stop', disabled: true }, 'Stop');
const fileLabel = h('span', { 'data-testid': 'file' });
const savedLabel = h('span', { class: 'muted', 'data-testid': 'saved' });
const fileButton = h('button', { type: 'button', class: 'link', 'data-testid': 'pick-file' }, 'Change…');
const turnsList = h('section', { class: 'turns', 'data-testid': 'turns', 'aria-live': 'polite' });

document.body.append(
  h('header', { class: 'anneal-toolbar' },
    left.wrap,
    h('span', { class: 'versus muted', 'aria-hidden': 'true' }, 'vs'),
    right.wrap,
    h('label', { class: 'picker', for: 'blind', title: 'Hide which model is on which side and shuffle the sides for each prompt: position and names bias a judge' }, blind, 'Blind'),
    h('label', { class: 'picker', for: 'max-tokens' }, 'Max tokens', maxTokens),
    h('label', { class: 'picker', for: 'temperature' }, 'Temperature', temperature),
  ),
  h('div', { class: 'compose' },
    system,
    prompt,
    h('div', { class: 'row' }, askButton, stopButton, h('span', { class: 'spacer' }), h('span', { class: 'muted' }, 'Judgements go to'), fileLabel, fileButton, savedLabel),
  ),
  turnsList,
);

const turns = new Map<number, TurnView>();
/** The prompt text last sent: while the box still holds it, the user is not typing a new one. */
let lastAsked = '';

function ask(): void {
  const text = prompt.value;
  if (!text.trim()) {
    prompt.focus();
    return;
  }
  lastAsked = text;
  post({
    type: 'compare/ask',
    prompt: text,
    system: system.value,
    left: left.select.value,
    right: right.select.value,
    blind: blind.checked,
    maxNewTokens: Math.max(1, Math.min(2048, Math.round(Number(maxTokens.value) || 128))),
    temperature: Math.max(0, Math.min(5, Number(temperature.value) || 0)),
  });
}

askButton.addEventListener('click', ask);
stopButton.addEventListener('click', () => post({ type: 'compare/cancel' }));
fileButton.addEventListener('click', () => post({ type: 'compare/pickFile' }));
prompt.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    ask();
  }
});

/** The newest turn both sides answered and nobody judged yet: what the number keys judge. */
function judgeable(): TurnView | undefined {
  return [...turns.values()].reverse().find((t) => !t.judged && t.ok.size === 2);
}

document.addEventListener('keydown', (event) => {
  const target = event.target as HTMLElement | null;
  if (event.ctrlKey || event.metaKey || event.altKey || (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  const choice = VERDICTS.find((v) => v.key === event.key);
  const turn = choice && judgeable();
  if (!choice || !turn) return;
  event.preventDefault();
  judge(turn, choice.verdict);
});

function judge(turn: TurnView, verdict: Verdict): void {
  for (const b of turn.buttons) b.disabled = true;
  turn.status.textContent = 'Saving…';
  post({ type: 'compare/judge', turn: turn.id, verdict });
}

// ---- what the host says -----------------------------------------------------------------------

function fillSelect(select: HTMLSelectElement, setup: CompareSetupMessage, value: string): void {
  select.replaceChildren(...setup.models.map((m) => h('option', { value: m.id, title: m.detail ?? '', selected: m.id === value }, m.label)));
  select.value = value;
}

function onSetup(setup: CompareSetupMessage): void {
  // A refreshed list (a run finished) keeps what the user picked, while it is still there.
  const keep = (select: HTMLSelectElement, proposed: string) => (!setup.aim && setup.models.some((m) => m.id === select.value) ? select.value : proposed);
  fillSelect(left.select, setup, keep(left.select, setup.left));
  fillSelect(right.select, setup, keep(right.select, setup.right));
  fileLabel.textContent = setup.file;
  savedLabel.textContent = setup.saved > 0 ? ` · ${setup.saved} saved from this panel` : '';
}

function sideLabel(turn: CompareTurnMessage, side: Side): string {
  const name = side === 'left' ? 'Left' : 'Right';
  return turn.labels ? `${name} · ${turn.labels[side]}` : `${name} · hidden`;
}

function onTurn(message: CompareTurnMessage): void {
  const answers = {} as Record<Side, HTMLElement>;
  const notes = {} as Record<Side, HTMLElement>;
  const heads = {} as Record<Side, HTMLElement>;
  const columns = SIDES.map((side) => {
    heads[side] = h('div', { class: 'side-head' }, sideLabel(message, side));
    answers[side] = h('div', { class: 'answer pending', 'data-testid': `answer-${side}` }, 'Answering…');
    notes[side] = h('div', { class: 'note muted' });
    return h('div', { class: 'column', 'data-side': side }, heads[side], answers[side], notes[side]);
  });
  const view: TurnView = { id: message.turn, root: h('article', { class: 'turn', 'data-turn': message.turn }), answers, notes, heads, done: new Set(), ok: new Set(), buttons: [], status: h('span', { class: 'status', 'data-testid': 'judge-status', role: 'status' }), judged: false };
  view.buttons = VERDICTS.map(({ verdict, label, key }) => {
    const b = h('button', { type: 'button', class: verdict === 'left' || verdict === 'right' ? '' : 'secondary', 'data-verdict': verdict, disabled: true, title: `Key ${key}` }, label, h('kbd', {}, key));
    b.addEventListener('click', () => judge(view, verdict));
    return b;
  });
  view.root.append(
    h('div', { class: 'prompt' }, message.system.trim() ? h('div', { class: 'system muted' }, `System: ${message.system}`) : null, h('div', {}, message.prompt)),
    h('div', { class: 'columns' }, ...columns),
    h('div', { class: 'verdicts row' }, ...view.buttons, view.status),
  );
  turns.set(message.turn, view);
  turnsList.prepend(view.root);
  stopButton.disabled = false;
}

function onAnswer(message: CompareAnswerMessage): void {
  const turn = turns.get(message.turn);
  if (!turn) return;
  const box = turn.answers[message.side];
  box.classList.remove('pending');
  turn.done.add(message.side);
  if (message.error !== undefined) {
    box.classList.add('error');
    box.textContent = message.error;
  } else {
    turn.ok.add(message.side);
    box.textContent = message.text ?? '';
    if (!message.text) box.append(h('span', { class: 'muted' }, '(empty answer)'));
  }
  turn.notes[message.side].textContent = message.note ?? '';
  if (turn.done.size === 2) {
    stopButton.disabled = [...turns.values()].every((t) => t.done.size === 2);
    const complete = turn.ok.size === 2;
    turn.buttons.forEach((b) => (b.disabled = !complete && (b.dataset.verdict === 'left' || b.dataset.verdict === 'right')));
    // Keyboard flow: once both answered, the focus goes to the verdicts unless the user is typing.
    const active = document.activeElement;
    const idle = !active || active === document.body || active === askButton || (active === prompt && prompt.value === lastAsked);
    if (complete && idle) turn.buttons[0]!.focus();
  }
}

const VERDICT_WORDS: Record<Verdict, string> = { left: 'Left is better', right: 'Right is better', 'both-bad': 'Both bad: nothing written', skip: 'Skipped' };

function onJudged(message: CompareJudgedMessage): void {
  const turn = turns.get(message.turn);
  if (!turn) return;
  if (message.error) {
    turn.status.textContent = message.error;
    turn.status.className = 'status error';
    turn.buttons.forEach((b) => (b.disabled = false));
    return;
  }
  turn.judged = true;
  turn.root.classList.add('judged');
  turn.root.dataset.verdict = message.verdict;
  const written = message.line !== undefined ? `${VERDICT_WORDS[message.verdict]}: saved as line ${message.line} of ${fileLabel.textContent}` : VERDICT_WORDS[message.verdict];
  turn.status.textContent = [written, ...(message.warnings ?? [])].join(' · ');
  turn.status.className = 'status ok';
  if (message.verdict === 'left' || message.verdict === 'right') turn.root.querySelector(`.column[data-side="${message.verdict}"]`)?.classList.add('winner');
  if (message.reveal) for (const side of SIDES) turn.heads[side].textContent = `${side === 'left' ? 'Left' : 'Right'} · ${message.reveal[side]}`;
  // Back to the prompt, its text selected: type the next one, or Ctrl+Enter to ask the same again.
  prompt.focus();
  prompt.select();
}

window.addEventListener('message', (event: MessageEvent<HostToView>) => {
  const m = event.data;
  if (m.type === 'compare/setup') onSetup(m);
  else if (m.type === 'compare/turn') onTurn(m);
  else if (m.type === 'compare/answer') onAnswer(m);
  else if (m.type === 'compare/judged') onJudged(m);
});

post({ type: 'ready' });
prompt.focus();
