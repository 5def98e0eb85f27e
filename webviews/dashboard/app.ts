// The dashboard: run picker, stop/resume, status and progress, then one chart per metric grouped by
// namespace. Data comes from the daemon session (whichever channel it runs over) into the metric
// store; the DOM is brought up to date at most once per animation frame.

import { ListRuns, ResumeRun, RunMetricsNotification, RunsChangedNotification, RunStatusNotification, StopRun } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { browserNav, syncUrlRuns, type ViewBoot } from '../shared/boot.ts';
import type { SessionState } from '../shared/daemonSession.ts';
import { frameScheduler, h, setAttr, showBanner } from '../shared/dom.ts';
import { runLabel } from '../shared/runLabel.ts';
import { RunFeed } from '../shared/runFeed.ts';
import { loadPrefs, savePrefs } from '../shared/prefs.ts';
import { MetricChart, type ChartLine } from './chart.ts';
import { etaSeconds, stepsPerSecond } from './eta.ts';
import { groupMetrics, isSmoothed } from './grouping.ts';
import { headlines, type HeadlineNumber } from './headline.ts';
import { MetricStore, applyNotification, type RunMetrics } from './metricStore.ts';
import { signalWarning } from './signalWarning.ts';
import { pipelineText, progressText, runActions, statusText } from './statusLine.ts';

/** Run colours, from the theme's chart palette, in the order runs are picked. */
const RUN_COLORS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-red', '#f14c4c'],
  ['--vscode-charts-yellow', '#cca700'],
];

export class DashboardApp {
  private readonly store = new MetricStore();
  private readonly feed: RunFeed;
  private readonly charts = new Map<string, MetricChart>();
  private readonly groups = new Map<string, HTMLElement>();
  private runs: RunInfo[] = [];
  private smoothing = 0.6;
  private log = false;
  private readonly schedule = frameScheduler(() => this.draw());
  private structureDirty = true;
  private colors: string[] = [];

  private readonly picker = h('vscode-multi-select', { id: 'run-picker', 'aria-label': 'Runs to show' }) as HTMLElement & { value: string[] };
  private readonly stopButton = h('vscode-button', { id: 'stop-run', secondary: true, disabled: true }, 'Stop');
  private readonly resumeButton = h('vscode-button', { id: 'resume-run', secondary: true, disabled: true }, 'Resume');
  private readonly smoothingInput = h('input', { type: 'range', id: 'smoothing', min: 0, max: 0.99, step: 0.01, value: 0.6, 'aria-label': 'Smoothing' });
  private readonly smoothingValue = h('span', { class: 'smoothing-value' }, '0.60');
  private readonly logBox = h('vscode-checkbox', { id: 'log-scale', label: 'Log scale' }) as HTMLElement & { checked: boolean };
  private readonly titleEl = h('div', { class: 'run-title', id: 'run-title' });
  private readonly statusEl = h('div', { class: 'status', id: 'run-status', role: 'status' }, 'Connecting to the daemon…');
  private readonly progressBar = h('progress', { id: 'run-progress', max: 1, value: 0 });
  private readonly progressEl = h('span', { class: 'progress-text muted', id: 'progress-text' });
  private readonly headlineEl = h('div', { class: 'headline', id: 'headline', hidden: true });
  private headlineKey = '';
  private readonly banner = h('div', { class: 'anneal-banner', id: 'connection-banner', hidden: true });
  private readonly signalEl = h('div', { class: 'anneal-banner signal-warning', id: 'signal-warning', role: 'alert', hidden: true });
  private readonly chartsEl = h('main', { class: 'groups', id: 'charts' });
  private readonly emptyEl = h('p', { class: 'muted empty', id: 'no-runs', hidden: true }, 'No runs yet. Start one with “Anneal: Train SFT” or ', h('code', {}, 'anneal train sft --data FILE'), '.');

  constructor(private readonly root: HTMLElement, private readonly boot: ViewBoot) {
    this.feed = new RunFeed(boot.session, {
      lastStep: (id) => this.store.runs.get(id)?.lastStep,
      truncateFrom: (id, step) => this.store.runs.get(id)?.truncateFrom(step),
      setRun: (run) => {
        if (this.store.runs.has(run.id)) this.store.run(run.id).setRun(run);
        this.mergeRun(run);
        this.schedule();
      },
      error: (message) => this.showBanner(message, true),
    });
    const prefs = loadPrefs('dashboard');
    if (typeof prefs.smoothing === 'number' && prefs.smoothing >= 0 && prefs.smoothing <= 0.99) this.smoothing = prefs.smoothing;
    if (typeof prefs.log === 'boolean') this.log = prefs.log;
    this.smoothingInput.value = String(this.smoothing);
    this.smoothingValue.textContent = this.smoothing.toFixed(2);
    this.logBox.checked = this.log;
    this.render();
    this.wire();
  }

  private savePrefs(): void {
    savePrefs('dashboard', { smoothing: this.smoothing, log: this.log });
  }

  private render(): void {
    const toolbar = h(
      'div',
      { class: 'anneal-toolbar' },
      h('label', { class: 'anneal-picker-label' }, 'Runs', this.picker),
      this.stopButton,
      this.resumeButton,
      h('span', { class: 'spacer' }),
      h('label', { class: 'smoothing', for: 'smoothing' }, 'Smoothing', this.smoothingInput, this.smoothingValue),
      this.logBox,
    );
    const progress = h('div', { class: 'progress' }, this.progressBar, this.progressEl);
    if (this.boot.host === 'browser') this.root.append(browserNav('dashboard', () => this.feed.shown.slice()));
    this.root.append(toolbar, this.titleEl, this.statusEl, progress, this.headlineEl, this.signalEl, this.banner, this.emptyEl, this.chartsEl);
  }

  private wire(): void {
    const { session } = this.boot;
    session.on(RunMetricsNotification.type, (p) => this.onNotification(RunMetricsNotification.method, p, p.runId));
    session.on(RunStatusNotification.type, (p) => {
      this.mergeRun(p.run);
      this.onNotification(RunStatusNotification.method, p, p.run.id);
    });
    // Runs created, changed or deleted by any client keep the picker current; a browser page that
    // shows nothing yet follows the first run that appears.
    session.on(RunsChangedNotification.type, ({ run, deleted }) => {
      if (run) {
        this.mergeRun(run);
        if (this.boot.host === 'browser' && this.feed.shown.length === 0) this.showRuns([run.id]);
      } else if (deleted !== undefined) {
        this.runs = this.runs.filter((r) => r.id !== deleted);
        this.fillPicker();
      }
    });
    session.onState((s) => this.onSession(s));
    this.boot.channel.onShowRuns((ids) => this.showRuns(ids));

    this.picker.addEventListener('change', () => this.showRuns(this.picker.value));
    this.stopButton.addEventListener('click', () => this.act('stop'));
    this.resumeButton.addEventListener('click', () => this.act('resume'));
    this.smoothingInput.addEventListener('input', () => {
      this.smoothing = Number(this.smoothingInput.value);
      this.smoothingValue.textContent = this.smoothing.toFixed(2);
      this.savePrefs();
      this.schedule();
    });
    this.logBox.addEventListener('change', () => {
      this.log = this.logBox.checked;
      this.savePrefs();
      this.schedule();
    });
    new ResizeObserver(() => this.schedule()).observe(this.chartsEl);
    // VS Code swaps the theme by changing the body's class: rebuild charts with the new colours.
    new MutationObserver(() => {
      this.colors = [];
      for (const c of this.charts.values()) c.invalidate();
      this.schedule();
    }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
  }

  private onNotification(method: string, params: unknown, runId: string): void {
    const changed = applyNotification(this.store, method, params, !this.feed.isReplaying(runId), performance.now());
    if (changed) this.schedule();
  }

  private async onSession(s: SessionState): Promise<void> {
    if (s.state === 'connecting') {
      this.showBanner('Connecting to the daemon…', false);
      return;
    }
    if (s.state === 'closed') {
      this.showBanner(s.reason, true);
      return;
    }
    this.showBanner(undefined, false);
    try {
      const { runs } = await this.boot.session.request(ListRuns.type, {});
      this.runs = runs;
      this.fillPicker();
      if (this.feed.shown.length === 0) {
        const wanted = this.boot.urlRuns.filter((id) => runs.some((r) => r.id === id));
        if (wanted.length > 0) this.showRuns(wanted);
        else if (this.boot.host === 'browser' && runs[0]) this.showRuns([runs[0].id]);
      }
      this.schedule();
    } catch (err) {
      this.showBanner(`Could not list runs: ${(err as Error).message}`, true);
    }
  }

  /** Shows these runs (the first is the main one: its status, progress and buttons). */
  showRuns(ids: string[]): void {
    for (const id of ids) this.store.run(id);
    for (const id of [...this.store.runs.keys()]) if (!ids.includes(id)) this.store.drop(id);
    this.feed.setRuns(ids);
    if (this.boot.host === 'browser') syncUrlRuns(ids);
    const known = new Set(this.runs.map((r) => r.id));
    // A run started after our list (VS Code opens the dashboard as it starts one): list again.
    if (ids.some((id) => !known.has(id)) && this.boot.session.current.state === 'ready') {
      void this.boot.session.request(ListRuns.type, {}).then(({ runs }) => {
        this.runs = runs;
        this.fillPicker();
      }, () => {});
    }
    this.fillPicker();
    this.structureDirty = true;
    this.schedule();
  }

  private mergeRun(run: RunInfo): void {
    const i = this.runs.findIndex((r) => r.id === run.id);
    if (i >= 0) {
      const labelChanged = runLabel(this.runs[i]!) !== runLabel(run);
      this.runs[i] = run;
      if (labelChanged) this.fillPicker();
    } else {
      this.runs.unshift(run);
      this.fillPicker();
    }
  }

  private fillPicker(): void {
    const shown = this.feed.shown;
    const options = this.runs.map((r) => h('vscode-option', { value: r.id, selected: shown.includes(r.id), description: r.id }, `${runLabel(r)}`));
    this.picker.replaceChildren(...options);
    this.picker.value = [...shown];
    this.emptyEl.hidden = this.runs.length > 0 || this.boot.session.current.state !== 'ready';
  }

  private async act(action: 'stop' | 'resume'): Promise<void> {
    const runId = this.feed.shown[0];
    if (!runId) return;
    try {
      const { run } = action === 'stop'
        ? await this.boot.session.request(StopRun.type, { runId })
        : await this.boot.session.request(ResumeRun.type, { runId });
      this.store.runs.get(run.id)?.setRun(run);
      this.mergeRun(run);
      this.schedule();
    } catch (err) {
      this.showBanner(`Could not ${action} the run: ${(err as Error).message}`, true);
    }
  }

  private showBanner(text: string | undefined, error: boolean): void {
    showBanner(this.banner, text, error);
  }

  private runColor(index: number): string {
    if (this.colors.length === 0) {
      const style = getComputedStyle(document.documentElement);
      this.colors = RUN_COLORS.map(([name, fallback]) => style.getPropertyValue(name).trim() || fallback);
    }
    return this.colors[index % this.colors.length]!;
  }

  private draw(): void {
    const started = performance.now();
    const shown = this.feed.shown;
    const main = shown[0] ? this.store.runs.get(shown[0]) : undefined;
    this.drawStatus(main?.run, main?.lastStep ?? 0, main);
    this.drawHeadline(main);
    this.drawSignalWarning(main);

    const names = new Set<string>();
    for (const id of shown) for (const name of this.store.runs.get(id)?.series.keys() ?? []) names.add(name);
    if (names.size !== this.charts.size || [...names].some((n) => !this.charts.has(n)) || this.structureDirty) this.layout(names);
    this.structureDirty = false;

    const lines = (metric: string): ChartLine[] =>
      shown.map((id, i) => {
        const r = this.store.runs.get(id);
        return { runId: id, label: shortRunName(id), color: this.runColor(i), series: r?.series.get(metric) };
      });
    for (const chart of this.charts.values()) chart.update(lines(chart.metric), { smoothing: isSmoothed(chart.metric) ? this.smoothing : 0, log: this.log });
    const ms = performance.now() - started;
    document.body.dataset.redrawMs = ms.toFixed(2);
  }

  /** Creates, orders and removes chart cards to match the metrics present. */
  private layout(names: Set<string>): void {
    for (const [name, chart] of this.charts) {
      if (!names.has(name)) {
        chart.destroy();
        this.charts.delete(name);
      }
    }
    const sections: HTMLElement[] = [];
    for (const group of groupMetrics(names)) {
      let section = this.groups.get(group.name);
      if (!section) {
        section = h('section', { class: 'group', 'data-group': group.name }, h('h2', { class: 'anneal-heading' }, group.name), h('div', { class: 'charts' }));
        this.groups.set(group.name, section);
      }
      const grid = section.querySelector('.charts')!;
      const cards = group.metrics.map((m) => {
        let chart = this.charts.get(m);
        if (!chart) this.charts.set(m, (chart = new MetricChart(m, () => this.schedule())));
        return chart.element;
      });
      // Re-appending in order moves existing cards without recreating their charts.
      for (const card of cards) if (card.parentElement !== grid || grid.lastElementChild !== card) grid.append(card);
      sections.push(section);
    }
    for (const [name, section] of this.groups) {
      if (!sections.includes(section)) {
        section.remove();
        this.groups.delete(name);
      }
    }
    for (const section of sections) if (section.parentElement !== this.chartsEl || this.chartsEl.lastElementChild !== section) this.chartsEl.append(section);
  }

  /** The main run's reward accuracy and margin, large, when it reports them (preference stages). */
  private drawHeadline(metrics: RunMetrics | undefined): void {
    const cards = metrics ? headlines(metrics.series) : [];
    const key = cards.map((c) => [c.train, c.eval].map((n) => (n ? `${n.metric}=${n.text}@${n.step}` : '')).join(',')).join('|');
    if (key === this.headlineKey) return;
    this.headlineKey = key;
    this.headlineEl.hidden = cards.length === 0;
    const number = (n: HeadlineNumber | undefined, cls: string, prefix: string) =>
      n && h('span', { class: cls, 'data-headline': n.metric, 'data-value': String(n.value), title: `${n.metric} at step ${n.step}` }, prefix, n.text);
    this.headlineEl.replaceChildren(
      ...cards.map((c) =>
        h(
          'div',
          { class: 'headline-number' },
          h('span', { class: 'headline-label' }, c.metric),
          h('span', { class: 'headline-values' }, number(c.train, 'headline-value', ''), number(c.eval, 'headline-eval', 'eval ')),
        ),
      ),
    );
  }

  /** GRPO: a warning while most of the latest step's groups had equal rewards (no learning signal). */
  private drawSignalWarning(metrics: RunMetrics | undefined): void {
    const warning = metrics ? signalWarning(metrics.series) : undefined;
    this.signalEl.hidden = !warning;
    setAttr(this.signalEl, 'data-value', warning ? String(warning.value) : undefined);
    if (this.signalEl.textContent !== (warning?.text ?? '')) this.signalEl.textContent = warning?.text ?? '';
  }

  private drawStatus(run: RunInfo | undefined, lastStep: number, metrics: RunMetrics | undefined): void {
    setAttr(document.body, 'data-run-status', run?.status);
    setAttr(document.body, 'data-run-id', run?.id);
    this.titleEl.textContent = run ? `${run.id} — ${runLabel(run).replace(/ · [a-z]+$/, '')}${run.pipeline ? ` · ${pipelineText(run)}` : ''}${this.feed.shown.length > 1 ? ` (+${this.feed.shown.length - 1} overlaid)` : ''}` : '';
    if (!run) {
      this.statusEl.textContent = this.feed.shown.length === 0 ? 'Pick a run to show.' : 'Loading the run…';
      this.progressEl.textContent = '';
      this.progressBar.value = 0;
      this.stopButton.setAttribute('disabled', '');
      this.resumeButton.setAttribute('disabled', '');
      return;
    }
    const step = Math.max(run.step ?? 0, lastStep);
    this.statusEl.textContent = statusText(run);
    this.statusEl.classList.toggle('failed', run.status === 'failed');
    const arrivals = metrics?.arrivals ?? [];
    const running = run.status === 'running';
    this.progressEl.textContent = progressText(step, run.totalSteps, stepsPerSecond(arrivals), etaSeconds(arrivals, step, run.totalSteps), running);
    this.progressBar.max = run.totalSteps ?? Math.max(1, step);
    this.progressBar.value = run.status === 'completed' ? this.progressBar.max : step;
    const { canStop, canResume } = runActions(run);
    this.stopButton.toggleAttribute('disabled', !canStop);
    this.resumeButton.toggleAttribute('disabled', !canResume);
  }
}

/** `sft-20261121-182105-1e60` -> `182105-1e60`: enough to tell overlaid runs apart in a legend. */
function shortRunName(id: string): string {
  return id.replace(/^[a-z]+-\d{8}-/, '');
}
