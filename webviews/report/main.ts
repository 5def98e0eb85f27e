// The dataset report view: the host's `report/data` drawn as a page — counts, diagnostics by code,
// a length histogram (SVG bars), duplicates and the first problems with links that reveal the line
// in the editor; once a model scored the pairs, the distribution of their margins with 0 marked.
// Re-drawn whole on each message (the host sends one per document change).

import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '../shared/theme.css';
import './style.css';

import type { Diagnostic } from '../../core/diagnostics.ts';
import type { HostToView, ReportDataMessage, ViewToHost } from '../../core/protocol/webview.ts';
import { h } from '../shared/dom.ts';
import { vscodeApi } from '../shared/vscodeChannel.ts';
import { histogramBars } from './bars.ts';
import { marginLayout } from './marginBars.ts';

const api = vscodeApi();
const post = (message: ViewToHost): void => api?.postMessage(message);
const SVG = 'http://www.w3.org/2000/svg';
const n = (x: number) => x.toLocaleString('en-US');

const progress = h('vscode-progress-bar', { class: 'progress', hidden: true });
const progressLabel = h('div', { class: 'muted', 'data-testid': 'progress-label' }, 'Checking…');
const content = h('main', { class: 'report', 'data-testid': 'report' });
document.body.append(progress, progressLabel, content);

function lineLink(line: number, text = `line ${n(line + 1)}`): HTMLElement {
  const a = h('a', { href: '#', 'data-line': line, title: 'Show in the editor' }, text);
  a.addEventListener('click', (event) => {
    event.preventDefault();
    post({ type: 'reveal', line });
  });
  return a;
}

function stat(label: string, value: string, cls = ''): HTMLElement {
  return h('div', { class: `stat ${cls}` }, h('div', { class: 'value' }, value), h('div', { class: 'label muted' }, label));
}

function section(title: string, testid: string, ...children: (Node | null)[]): HTMLElement {
  return h('section', { 'data-testid': testid }, h('h2', {}, title), ...children);
}

function histogram(data: ReportDataMessage): SVGSVGElement {
  const width = 640;
  const height = 160;
  const axis = 34;
  const bars = histogramBars(data.histogram.edges, data.histogram.counts, width, height - 12);
  const labelEvery = Math.max(1, Math.ceil(bars.length / 8));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + axis}`);
  svg.setAttribute('class', 'histogram');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Record length histogram in ${data.histogram.unit}`);
  bars.forEach((bar, i) => {
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(bar.x));
    rect.setAttribute('y', String(height - bar.height));
    rect.setAttribute('width', String(bar.width));
    rect.setAttribute('height', String(bar.height));
    rect.setAttribute('class', 'bar');
    rect.setAttribute('data-count', String(bar.count));
    const tip = document.createElementNS(SVG, 'title');
    tip.textContent = `${bar.label} ${data.histogram.unit}: ${n(bar.count)} records`;
    rect.append(tip);
    svg.append(rect);
    if (bar.count > 0) {
      const count = document.createElementNS(SVG, 'text');
      count.setAttribute('x', String(bar.x + bar.width / 2));
      count.setAttribute('y', String(Math.max(9, height - bar.height - 3)));
      count.setAttribute('class', 'count');
      count.setAttribute('text-anchor', 'middle');
      count.textContent = n(bar.count);
      svg.append(count);
    }
    // When crowded, label every k-th bin counting back from the last (which is always labelled).
    if ((bars.length - 1 - i) % labelEvery === 0) {
      const text = document.createElementNS(SVG, 'text');
      // Edge labels anchor inwards so they are not clipped by the SVG's box.
      const anchor = i === bars.length - 1 && bars.length > 1 ? 'end' : i === 0 ? 'start' : 'middle';
      const x = anchor === 'end' ? bar.x + bar.width : anchor === 'start' ? bar.x : bar.x + bar.width / 2;
      text.setAttribute('x', String(x));
      text.setAttribute('y', String(height + 14));
      text.setAttribute('class', 'tick');
      text.setAttribute('text-anchor', anchor);
      text.textContent = bar.label;
      svg.append(text);
    }
  });
  const baseline = document.createElementNS(SVG, 'line');
  baseline.setAttribute('x1', '0');
  baseline.setAttribute('x2', String(width));
  baseline.setAttribute('y1', String(height + 0.5));
  baseline.setAttribute('y2', String(height + 0.5));
  baseline.setAttribute('class', 'axis');
  svg.append(baseline);
  return svg;
}

function svgEl(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The margins' histogram: bins below 0 in the warning colour, the 0 line marked. */
function marginChart(m: NonNullable<ReportDataMessage['margins']>): SVGSVGElement {
  const width = 640;
  const height = 140;
  const layout = marginLayout(m.edges, m.counts, width, height - 14);
  const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height + 34}`, class: 'histogram margins', role: 'img', 'aria-label': `Score margins: ${m.negative} of ${m.scored} below 0` }) as SVGSVGElement;
  for (const bar of layout.bars) {
    const rect = svgEl('rect', { x: bar.x, y: height - bar.height, width: bar.width, height: bar.height, class: `bar${bar.negative ? ' negative' : ''}`, 'data-count': bar.count });
    rect.append(svgEl('title', {}, `margin ${bar.range}: ${n(bar.count)} pairs`));
    svg.append(rect);
    if (bar.count > 0) svg.append(svgEl('text', { x: bar.x + bar.width / 2, y: Math.max(9, height - bar.height - 3), class: 'count', 'text-anchor': 'middle' }, n(bar.count)));
  }
  svg.append(svgEl('line', { x1: 0, x2: width, y1: height + 0.5, y2: height + 0.5, class: 'axis' }));
  svg.append(svgEl('line', { x1: layout.zeroX, x2: layout.zeroX, y1: 0, y2: height + 4, class: 'zero', 'data-testid': 'zero-line' }));
  layout.ticks.forEach((t, i) => {
    const anchor = i === 0 ? 'start' : i === layout.ticks.length - 1 ? 'end' : 'middle';
    svg.append(svgEl('text', { x: t.x, y: height + 16, class: `tick${t.x === layout.zeroX ? ' zero-label' : ''}`, 'text-anchor': anchor }, t.label));
  });
  svg.append(svgEl('text', { x: layout.zeroX - 4, y: height + 30, class: 'tick side-label', 'text-anchor': 'end' }, '← prefers rejected'));
  svg.append(svgEl('text', { x: layout.zeroX + 4, y: height + 30, class: 'tick side-label', 'text-anchor': 'start' }, 'prefers chosen →'));
  return svg;
}

function marginSection(m: NonNullable<ReportDataMessage['margins']>): HTMLElement {
  return section(
    'Score margins',
    'margins',
    h('p', { class: 'muted' }, `Scored by the ${m.description}. A pair's margin is the chosen answer's score minus the rejected one's.`),
    h(
      'p',
      { 'data-testid': 'margin-counts' },
      h('span', { class: m.negative > 0 ? 'negative-count' : '', 'data-negative': m.negative }, `${n(m.negative)} of ${n(m.scored)} scored pairs below 0`),
      m.negative > 0 ? ' (the model prefers their rejected answer: check their labels in the pair inspector)' : ' (the model prefers every chosen answer)',
      m.unscored > 0 ? ` · ${n(m.unscored)} unscored (edited or added since, or too long)` : '',
    ),
    marginChart(m),
  );
}

function diagnosticRow(d: Diagnostic): HTMLElement {
  return h('tr', {}, h('td', {}, lineLink(d.range.start.line)), h('td', {}, h('span', { class: `sev sev-${d.severity}` }, d.severity)), h('td', { class: 'code' }, d.code), h('td', {}, d.message));
}

function draw(data: ReportDataMessage): void {
  progress.hidden = true;
  progressLabel.hidden = true;
  const s = data.summary;
  const formats = Object.entries(s.formats).map(([format, count]) => h('tr', {}, h('td', {}, format), h('td', { class: 'num' }, n(count ?? 0))));
  const lengths = s.tokens ?? s.chars;
  const unit = s.tokens && data.tokenizer ? 'tokens' : 'characters';
  content.replaceChildren(
    h('h1', { 'data-testid': 'file' }, data.file),
    h(
      'div',
      { class: 'stats', 'data-testid': 'stats' },
      stat('records', n(s.records)),
      stat('kind', s.kind ? `${s.kind}${s.kindSource === 'forced' ? ' (set)' : ''}` : 'unknown'),
      stat('errors', n(s.errors), s.errors > 0 ? 'sev-error' : ''),
      stat('warnings', n(s.warnings), s.warnings > 0 ? 'sev-warning' : ''),
      stat('infos', n(s.infos)),
      stat('duplicates', n(s.duplicates)),
      stat('near duplicates', n(s.nearDuplicates)),
      stat('invalid lines', n(s.invalidLines), s.invalidLines > 0 ? 'sev-error' : ''),
    ),
    ...(data.margins ? [marginSection(data.margins)] : []),
    section(
      'Formats',
      'formats',
      h('table', {}, h('tbody', {}, ...formats, h('tr', {}, h('td', { class: 'muted' }, 'standard / conversational'), h('td', { class: 'num' }, `${n(s.styles.standard)} / ${n(s.styles.conversational)}`)))),
    ),
    section(
      'Problems by code',
      'by-code',
      data.byCode.length === 0
        ? h('p', { class: 'muted' }, 'No problems found.')
        : h('table', {}, h('tbody', {}, ...data.byCode.map((c) => h('tr', { 'data-code': c.code }, h('td', {}, h('span', { class: `sev sev-${c.severity}` }, c.severity)), h('td', { class: 'code' }, c.code), h('td', { class: 'num' }, n(c.count)))))),
    ),
    section(
      `Record length (${unit}${data.tokenizer ? `, ${data.tokenizer}` : ''})`,
      'histogram',
      h('p', { class: 'muted' }, `median ${n(lengths.p50)} · p90 ${n(lengths.p90)} · p99 ${n(lengths.p99)} · max ${n(lengths.max)}${unit === 'characters' ? ' — set anneal.model.path to count tokens' : ''}`),
      histogram(data),
    ),
    section(
      `Duplicates (${n(s.duplicates)})`,
      'duplicates',
      data.duplicates.length === 0
        ? h('p', { class: 'muted' }, 'No exact duplicates.')
        : h('ul', { class: 'dups' }, ...data.duplicates.map((d) => h('li', {}, lineLink(d.line), ' repeats ', lineLink(d.firstLine)))),
    ),
    section(
      'Problems',
      'diagnostics',
      data.diagnostics.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('table', { class: 'diags' }, h('tbody', {}, ...data.diagnostics.map(diagnosticRow))),
      data.truncated ? h('p', { class: 'muted' }, `Only the first ${n(data.diagnostics.length)} are listed; the Problems panel and "anneal validate" have all of them.`) : null,
    ),
  );
}

window.addEventListener('message', (event: MessageEvent) => {
  const message = event.data as HostToView;
  if (message.type === 'report/data') draw(message);
  else if (message.type === 'view/progress') {
    progress.hidden = false;
    progressLabel.hidden = false;
    progressLabel.textContent = `${message.label}… ${Math.round((100 * message.done) / Math.max(1, message.total))}%`;
  }
});

post({ type: 'ready' });
