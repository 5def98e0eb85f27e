// The samples view: completions the model produced during training. "By step" lists each sampling
// step with every prompt's completion; "By prompt" follows one prompt through training, step by step.
// Each completion has a copy button.

import { ListRuns, RunSampleNotification, RunStatusNotification } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { browserNav, syncUrlRuns, type ViewBoot } from '../shared/boot.ts';
import { copyText } from '../shared/clipboard.ts';
import type { SessionState } from '../shared/daemonSession.ts';
import { frameScheduler, h, setAttr, showBanner } from '../shared/dom.ts';
import { runLabel } from '../shared/runLabel.ts';
import { RunFeed } from '../shared/runFeed.ts';
import { SampleStore, applySampleNotification, type RunSamples } from './sampleStore.ts';

type Mode = 'step' | 'prompt';

export class SamplesApp {
  private readonly store = new SampleStore();
  private readonly feed: RunFeed;
  private runs: RunInfo[] = [];
  private mode: Mode = 'step';
  private prompt: string | undefined;
  private readonly schedule = frameScheduler(() => this.draw());

  private readonly runPicker = h('vscode-single-select', { id: 'run-picker', 'aria-label': 'Run' }) as HTMLElement & { value: string };
  private readonly modeStep = h('vscode-button', { id: 'mode-step' }, 'By step');
  private readonly modePrompt = h('vscode-button', { id: 'mode-prompt', secondary: true }, 'By prompt');
  private readonly promptPicker = h('vscode-single-select', { id: 'prompt-picker', 'aria-label': 'Prompt', hidden: true }) as HTMLElement & { value: string };
  private readonly banner = h('div', { class: 'anneal-banner', id: 'connection-banner', hidden: true });
  private readonly summary = h('p', { class: 'muted', id: 'samples-summary' });
  private readonly list = h('main', { class: 'samples', id: 'samples' });

  constructor(private readonly root: HTMLElement, private readonly boot: ViewBoot) {
    this.feed = new RunFeed(boot.session, {
      lastStep: (id) => this.store.runs.get(id)?.lastStep,
      truncateFrom: (id, step) => this.store.runs.get(id)?.truncateFrom(step),
      setRun: (run) => {
        if (this.store.runs.has(run.id)) this.store.run(run.id).run = run;
        this.schedule();
      },
      error: (message) => this.showBanner(message, true),
    });
    if (boot.host === 'browser') root.append(browserNav('samples', () => this.feed.shown.slice()));
    root.append(
      h('div', { class: 'anneal-toolbar' }, h('label', { class: 'anneal-picker-label' }, 'Run', this.runPicker), h('span', { class: 'modes' }, this.modeStep, this.modePrompt), this.promptPicker),
      this.banner,
      this.summary,
      this.list,
    );
    boot.session.on(RunSampleNotification.type, (p) => this.apply(RunSampleNotification.method, p));
    boot.session.on(RunStatusNotification.type, (p) => this.apply(RunStatusNotification.method, p));
    boot.session.onState((s) => void this.onSession(s));
    boot.channel.onShowRuns((ids) => this.showRun(ids[0]));
    this.runPicker.addEventListener('change', () => this.showRun(this.runPicker.value));
    this.modeStep.addEventListener('click', () => this.setMode('step'));
    this.modePrompt.addEventListener('click', () => this.setMode('prompt'));
    this.promptPicker.addEventListener('change', () => {
      this.prompt = this.promptPicker.value;
      this.schedule();
    });
  }

  private apply(method: string, params: unknown): void {
    if (applySampleNotification(this.store, method, params)) this.schedule();
  }

  private async onSession(s: SessionState): Promise<void> {
    if (s.state !== 'ready') {
      this.showBanner(s.state === 'closed' ? s.reason : 'Connecting to the daemon…', s.state === 'closed');
      return;
    }
    this.showBanner(undefined, false);
    try {
      this.runs = (await this.boot.session.request(ListRuns.type, {})).runs;
      this.fillRunPicker();
      if (this.feed.shown.length === 0) {
        const wanted = this.boot.urlRuns.find((id) => this.runs.some((r) => r.id === id));
        if (wanted) this.showRun(wanted);
        else if (this.boot.host === 'browser' && this.runs[0]) this.showRun(this.runs[0].id);
      }
      this.schedule();
    } catch (err) {
      this.showBanner(`Could not list runs: ${(err as Error).message}`, true);
    }
  }

  private showRun(runId: string | undefined): void {
    const ids = runId ? [runId] : [];
    for (const id of [...this.store.runs.keys()]) if (!ids.includes(id)) this.store.drop(id);
    for (const id of ids) this.store.run(id);
    this.feed.setRuns(ids);
    if (this.boot.host === 'browser') syncUrlRuns(ids);
    if (runId && !this.runs.some((r) => r.id === runId) && this.boot.session.current.state === 'ready') {
      void this.boot.session.request(ListRuns.type, {}).then(({ runs }) => {
        this.runs = runs;
        this.fillRunPicker();
      }, () => {});
    }
    this.prompt = undefined;
    this.fillRunPicker();
    this.schedule();
  }

  private fillRunPicker(): void {
    const shown = this.feed.shown[0];
    this.runPicker.replaceChildren(...this.runs.map((r) => h('vscode-option', { value: r.id, selected: r.id === shown, description: r.id }, runLabel(r))));
    if (shown) this.runPicker.value = shown;
  }

  private setMode(mode: Mode): void {
    this.mode = mode;
    this.modeStep.toggleAttribute('secondary', mode !== 'step');
    this.modePrompt.toggleAttribute('secondary', mode !== 'prompt');
    this.promptPicker.hidden = mode !== 'prompt';
    this.schedule();
  }

  private showBanner(text: string | undefined, error: boolean): void {
    showBanner(this.banner, text, error);
  }

  private draw(): void {
    const runId = this.feed.shown[0];
    const data = runId ? this.store.runs.get(runId) : undefined;
    setAttr(document.body, 'data-sample-count', String(this.store.count));
    setAttr(document.body, 'data-run-id', runId);
    if (!data || data.count === 0) {
      const sampling = data?.run?.samples;
      this.summary.textContent = !runId
        ? 'Pick a run to see its samples.'
        : sampling && sampling.prompts.length > 0
          ? `No samples yet: this run samples ${sampling.prompts.length} prompt(s) every ${sampling.every_steps} steps.`
          : 'This run has no samples. Add a `samples:` block (prompts, every_steps) to the recipe to see completions during training.';
      this.list.replaceChildren();
      this.fillPromptPicker(data);
      return;
    }
    this.summary.textContent = `${data.count} completion(s) of ${data.prompts.length} prompt(s) at ${data.steps.length} step(s).`;
    this.fillPromptPicker(data);
    this.list.replaceChildren(...(this.mode === 'step' ? this.byStep(data) : this.byPrompt(data)));
  }

  private fillPromptPicker(data: RunSamples | undefined): void {
    const prompts = data?.prompts ?? [];
    if (!this.prompt || !prompts.includes(this.prompt)) this.prompt = prompts[0];
    const current = [...this.promptPicker.children].map((o) => o.getAttribute('value'));
    if (current.length !== prompts.length || current.some((v, i) => v !== prompts[i])) {
      this.promptPicker.replaceChildren(...prompts.map((p) => h('vscode-option', { value: p, selected: p === this.prompt }, oneLine(p))));
    }
    if (this.prompt) this.promptPicker.value = this.prompt;
  }

  /** Newest step first: that is what a user watching training wants to read. */
  private byStep(data: RunSamples): HTMLElement[] {
    return [...data.steps].reverse().map((entry) =>
      h('section', { class: 'step', 'data-step': entry.step }, h('h2', { class: 'anneal-heading' }, `Step ${entry.step}`), ...entry.samples.map((s) => this.card(s.prompt, s.completion, undefined))),
    );
  }

  private byPrompt(data: RunSamples): HTMLElement[] {
    if (!this.prompt) return [];
    const rows = data.byPrompt(this.prompt);
    return [
      h('section', { class: 'prompt-head' }, h('h2', { class: 'anneal-heading' }, 'Prompt'), h('pre', { class: 'prompt' }, this.prompt)),
      ...rows.flatMap((row) => row.completions.map((c) => this.card(undefined, c, row.step))),
    ];
  }

  private card(prompt: string | undefined, completion: string, step: number | undefined): HTMLElement {
    const copy = h('vscode-button', { class: 'copy', secondary: true, title: 'Copy the completion' }, 'Copy');
    copy.addEventListener('click', async () => {
      const ok = await copyText(completion);
      copy.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (copy.textContent = 'Copy'), 1200);
    });
    return h(
      'article',
      { class: 'sample' },
      h('div', { class: 'sample-head' }, step !== undefined ? h('span', { class: 'badge' }, `step ${step}`) : h('span', { class: 'prompt-line', title: prompt }, oneLine(prompt ?? '')), copy),
      h('pre', { class: 'completion' }, completion.length > 0 ? completion : '(empty completion)'),
    );
  }
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 90 ? `${flat.slice(0, 89)}…` : flat;
}
