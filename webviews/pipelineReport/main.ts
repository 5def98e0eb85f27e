// The pipeline report view: the host's `pipelineReport/data` drawn as one page — the pipeline's
// status, result and exports at the top, then per stage its status, gate lines (pass / fail / advice
// coloured), key metrics at its first and last step, and each sample prompt's answer before and after
// the stage. Re-drawn whole on each message (the host sends one per pipeline change).

import '../shared/theme.css';
import './style.css';

import type { PipelineReportMessage, StageReport } from '../../core/protocol/compareView.ts';
import type { RecipeExportRecord } from '../../core/protocol/runs.ts';
import type { HostToView, ViewToHost } from '../../core/protocol/webview.ts';
import { h } from '../shared/dom.ts';
import { vscodeApi } from '../shared/vscodeChannel.ts';
import { gateOutcome } from './gateOutcome.ts';

const api = vscodeApi();
const post = (message: ViewToHost): void => api?.postMessage(message);

const content = h('main', { class: 'pipeline-report', 'data-testid': 'pipeline-report' }, h('p', { class: 'muted' }, 'Reading the pipeline…'));
document.body.append(content);

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 0.001 || a >= 1e5) ? v.toExponential(2) : a >= 100 ? v.toFixed(1) : v.toFixed(3);
}

function badge(status: string): HTMLElement {
  return h('span', { class: `badge status-${status}`, 'data-testid': 'status' }, status);
}

function button(label: string, onClick: () => void, secondary = true, title?: string): HTMLButtonElement {
  const b = h('button', { type: 'button', class: secondary ? 'secondary' : '', title }, label);
  b.addEventListener('click', onClick);
  return b;
}

function pathLink(path: string): HTMLElement {
  const a = h('a', { href: '#', title: 'Reveal in the file manager', class: 'path' }, path);
  a.addEventListener('click', (event) => {
    event.preventDefault();
    post({ type: 'pipelineReport/reveal', path });
  });
  return a;
}

function exportLine(e: RecipeExportRecord): HTMLElement {
  const name = `${e.format}${e.quant ? ` (${e.quant})` : ''}`;
  const check = (e as { llamaCheck?: { status?: string; summary?: string } }).llamaCheck;
  return h('li', { class: 'export' },
    h('span', { class: 'name' }, name), ' ', badge(e.status), ' ', pathLink(e.out),
    e.files?.length ? h('div', { class: 'muted' }, e.files.join(', ')) : null,
    (e as { error?: string }).error ? h('div', { class: 'error' }, (e as { error?: string }).error!) : null,
    check?.summary ? h('div', { class: `check ${check.status === 'same' ? 'pass' : 'advice'}` }, check.summary) : null,
  );
}

function gates(stage: StageReport): HTMLElement | null {
  if (stage.gates.length === 0 && stage.verdict.length === 0) return null;
  return h('div', { class: 'block' },
    h('h3', {}, 'Gates'),
    h('ul', { class: 'gates', 'data-testid': 'gates' }, ...stage.gates.map((line) => {
      const outcome = gateOutcome(line);
      return h('li', { class: `gate ${outcome}`, 'data-outcome': outcome }, h('span', { class: 'mark', 'aria-hidden': 'true' }, outcome === 'pass' ? '✓' : outcome === 'fail' ? '✗' : outcome === 'advice' ? '!' : '·'), line);
    })),
    stage.verdict.length ? h('div', { class: 'verdict error' }, ...stage.verdict.map((v) => h('div', {}, v))) : null,
  );
}

function metrics(stage: StageReport): HTMLElement | null {
  if (stage.metrics.length === 0) return null;
  const rows = stage.metrics.map((m) => {
    const change = m.end - m.start;
    return h('tr', {}, h('th', { scope: 'row' }, m.name), h('td', {}, fmt(m.start)), h('td', {}, fmt(m.end)), h('td', { class: 'muted' }, `${change >= 0 ? '+' : ''}${fmt(change)}`));
  });
  return h('div', { class: 'block' },
    h('h3', {}, 'Metrics'),
    h('table', { class: 'metrics', 'data-testid': 'metrics' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, `start (step ${stage.firstStep ?? '?'})`), h('th', {}, `end (step ${stage.lastStep ?? '?'})`), h('th', {}, 'change'))),
      h('tbody', {}, ...rows),
    ),
  );
}

function answer(text: string): HTMLElement {
  return h('td', { class: 'answer' }, text === '' ? h('span', { class: 'muted' }, '(empty)') : text);
}

function samples(stage: StageReport): HTMLElement | null {
  if (stage.samples.length === 0) return stage.runId ? h('div', { class: 'block muted' }, 'No sample prompt answered both before and after this stage (the recipe\'s `samples:` names them).') : null;
  const first = stage.samples[0]!;
  return h('div', { class: 'block' },
    h('h3', {}, 'Answers before and after'),
    h('table', { class: 'samples', 'data-testid': 'samples' },
      h('thead', {}, h('tr', {}, h('th', {}, 'prompt'), h('th', {}, `before (step ${first.before.step})`), h('th', {}, `after (step ${first.after.step})`))),
      h('tbody', {}, ...stage.samples.map((s) => h('tr', { class: s.before.text === s.after.text ? 'unchanged' : 'changed' }, h('td', { class: 'prompt' }, s.prompt), answer(s.before.text), answer(s.after.text)))),
    ),
  );
}

function stageSection(stage: StageReport, count: number): HTMLElement {
  const actions = stage.runId
    ? h('span', { class: 'actions' },
        button('Dashboard', () => post({ type: 'pipelineReport/openRun', runId: stage.runId! })),
        stage.run?.status === 'completed' ? button('Compare with base', () => post({ type: 'pipelineReport/compare', runId: stage.runId! }), true, 'Chat with this stage\'s output and its base side by side') : null)
    : null;
  const source = stage.from.kind === 'stage' ? `stage ${stage.from.name}'s output${stage.merge ? ' (merged)' : ''} ` : '';
  const model = stage.run?.model;
  const from = model
    ? h('div', { class: 'muted' }, `From ${source}`, model === 'tiny' ? 'tiny' : pathLink(model), stage.runId ? ` · run ${stage.runId}` : '')
    : stage.runId ? null : h('div', { class: 'muted' }, 'Not started.');
  return h('section', { class: 'stage', 'data-stage': stage.name, 'data-testid': 'stage' },
    h('header', {}, h('h2', {}, `${stage.index + 1}/${count} · ${stage.name}`, stage.name.toLowerCase() === stage.stage ? null : h('span', { class: 'kind muted' }, ` (${stage.stage.toUpperCase()})`)), badge(stage.status), actions),
    from,
    stage.error ? h('div', { class: 'error' }, stage.error) : null,
    gates(stage),
    metrics(stage),
    samples(stage),
  );
}

function draw(data: PipelineReportMessage): void {
  const p = data.pipeline;
  const top = h('section', { class: 'summary', 'data-testid': 'summary' },
    h('header', {}, h('h1', {}, `Pipeline · ${p.stages.map((s) => s.name).join(' → ')}`), badge(p.status), h('span', { class: 'actions' }, button('Refresh', () => post({ type: 'pipelineReport/refresh' })))),
    h('div', { class: 'muted' }, `${p.id} · `, pathLink(p.recipe)),
    h('p', { class: 'message' }, p.message),
    p.result ? h('div', { class: 'result', 'data-testid': 'result' }, h('strong', {}, 'Result: '), `${p.result.stage}'s output `, pathLink(p.result.output)) : h('div', { class: 'muted' }, 'No result yet: no policy stage has passed its gates.'),
    p.exportedTo ? h('div', {}, 'Copied to ', pathLink(p.exportedTo)) : null,
    p.exports?.length ? h('div', { class: 'block' }, h('h3', {}, 'Exports'), h('ul', { class: 'exports', 'data-testid': 'exports' }, ...p.exports.map(exportLine))) : null,
  );
  const log = data.log.length
    ? h('details', { class: 'log' }, h('summary', {}, `Decisions (${data.log.length} lines)`), h('pre', {}, data.log.join('\n')))
    : null;
  content.replaceChildren(top, ...data.stages.map((s) => stageSection(s, p.stages.length)), ...(log ? [log] : []));
}

window.addEventListener('message', (event: MessageEvent<HostToView>) => {
  const m = event.data;
  if (m.type === 'pipelineReport/data') draw(m);
  else if (m.type === 'pipelineReport/error') content.replaceChildren(h('div', { class: 'anneal-banner error', role: 'alert' }, m.message), button('Try again', () => post({ type: 'pipelineReport/refresh' }), false));
});

post({ type: 'ready' });
