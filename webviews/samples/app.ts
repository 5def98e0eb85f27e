// The samples view: completions the model produced during training. "By step" lists each sampling
// step with every prompt's completion; "By prompt" follows one prompt through training, step by step.
// Each completion has a copy button. An online-RL run (GRPO/PPO) scores its completions: "Groups"
// shows one step at a time as its prompts' groups, each completion with its rewards and advantage.

import { ListRuns, RunSampleNotification, RunStatusNotification } from '../../core/protocol/daemon.ts';
import type { RunInfo } from '../../core/protocol/runs.ts';
import { browserNav, syncUrlRuns, type ViewBoot } from '../shared/boot.ts';
import { copyText } from '../shared/clipboard.ts';
import type { SessionState } from '../shared/daemonSession.ts';
import { frameScheduler, h, setAttr, showBanner } from '../shared/dom.ts';
import { loadPrefs, savePrefs } from '../shared/prefs.ts';
import { runLabel } from '../shared/runLabel.ts';
import { RunFeed } from '../shared/runFeed.ts';
import { groupSection, oneLine } from './groupView.ts';
import { groupsSummary, rewardNames, stepGroups, stepPosition, visibleGroups } from './groups.ts';
import { SampleStore, applySampleNotification, type RunSamples } from './sampleStore.ts';

type Mode = 'groups' | 'step' | 'prompt';
/** Stages whose completions are sampled and scored as they train: their samples are groups. */
const ONLINE_RL = new Set<string>(['grpo', 'ppo']);
type Checkbox = HTMLElement & { checked: boolean };

export class SamplesApp {
  private readonly store = new SampleStore();
  private readonly feed: RunFeed;
  private runs: RunInfo[] = [];
  private mode: Mode = 'step';
  /** The user picked a mode for this run: the view stops choosing Groups for them. */
  private modeChosen = false;
  private prompt: string | undefined;
  /** The step the user went to in Groups; undefined follows the newest step. */
  private pinnedStep: number | undefined;
  private sortByAdvantage = false;
  private hideZeroVariance = false;
  /** What the Groups list was last built from: a frame with the same key keeps the DOM (open prompts, scroll). */
  private groupsKey = '';
  private stepPickerKey = '';
  private readonly schedule = frameScheduler(() => this.draw());

  private readonly runPicker = h('vscode-single-select', { id: 'run-picker', 'aria-label': 'Run' }) as HTMLElement & { value: string };
  private readonly modeGroups = h('vscode-button', { id: 'mode-groups', secondary: true, hidden: true, title: 'Each step\u2019s prompts as groups of scored completions' }, 'Groups');
  private readonly modeStep = h('vscode-button', { id: 'mode-step' }, 'By step');
  private readonly modePrompt = h('vscode-button', { id: 'mode-prompt', secondary: true }, 'By prompt');
  private readonly promptPicker = h('vscode-single-select', { id: 'prompt-picker', 'aria-label': 'Prompt', hidden: true }) as HTMLElement & { value: string };
  private readonly stepPrev = h('vscode-button', { id: 'step-prev', secondary: true, title: 'The step before' }, '\u2039 Previous');
  private readonly stepPicker = h('vscode-single-select', { id: 'step-picker', 'aria-label': 'Step' }) as HTMLElement & { value: string };
  private readonly stepNext = h('vscode-button', { id: 'step-next', secondary: true, title: 'The step after' }, 'Next \u203a');
  private readonly sortBox = h('vscode-checkbox', { id: 'sort-advantage', label: 'Sort by advantage' }) as Checkbox;
  private readonly hideFlatBox = h('vscode-checkbox', {
    id: 'hide-zero-variance',
    label: 'Hide groups with zero reward variance',
    title: 'Groups whose completions all got the same reward have advantage 0 everywhere: they teach the model nothing.',
  }) as Checkbox;
  private readonly groupControls = h(
    'div',
    { class: 'anneal-toolbar group-controls', id: 'group-controls', hidden: true },
    h('span', { class: 'step-nav' }, this.stepPrev, this.stepPicker, this.stepNext),
    this.sortBox,
    this.hideFlatBox,
  );
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
    const prefs = loadPrefs('samples');
    this.sortByAdvantage = prefs.sortByAdvantage === true;
    this.hideZeroVariance = prefs.hideZeroVariance === true;
    this.sortBox.checked = this.sortByAdvantage;
    this.hideFlatBox.checked = this.hideZeroVariance;
    if (boot.host === 'browser') root.append(browserNav('samples', () => this.feed.shown.slice()));
    root.append(
      h(
        'div',
        { class: 'anneal-toolbar' },
        h('label', { class: 'anneal-picker-label' }, 'Run', this.runPicker),
        h('span', { class: 'modes' }, this.modeGroups, this.modeStep, this.modePrompt),
        this.promptPicker,
      ),
      this.groupControls,
      this.banner,
      this.summary,
      this.list,
    );
    boot.session.on(RunSampleNotification.type, (p) => this.apply(RunSampleNotification.method, p));
    boot.session.on(RunStatusNotification.type, (p) => this.apply(RunStatusNotification.method, p));
    boot.session.onState((s) => void this.onSession(s));
    boot.channel.onShowRuns((ids) => this.showRun(ids[0]));
    this.runPicker.addEventListener('change', () => this.showRun(this.runPicker.value));
    this.modeGroups.addEventListener('click', () => this.setMode('groups', true));
    this.modeStep.addEventListener('click', () => this.setMode('step', true));
    this.modePrompt.addEventListener('click', () => this.setMode('prompt', true));
    this.stepPrev.addEventListener('click', () => this.goToStep('previous'));
    this.stepNext.addEventListener('click', () => this.goToStep('next'));
    this.stepPicker.addEventListener('change', () => this.goToStep(Number(this.stepPicker.value)));
    this.sortBox.addEventListener('change', () => {
      this.sortByAdvantage = this.sortBox.checked;
      this.savePrefs();
      this.schedule();
    });
    this.hideFlatBox.addEventListener('change', () => {
      this.hideZeroVariance = this.hideFlatBox.checked;
      this.savePrefs();
      this.schedule();
    });
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
    this.pinnedStep = undefined;
    this.modeChosen = false;
    this.setMode('step', false);
    this.fillRunPicker();
    this.schedule();
  }

  private savePrefs(): void {
    savePrefs('samples', { sortByAdvantage: this.sortByAdvantage, hideZeroVariance: this.hideZeroVariance });
  }

  /** Groups: go to the step before or after the one shown, or to a step by number; the newest step follows training again. */
  private goToStep(to: 'previous' | 'next' | number): void {
    const runId = this.feed.shown[0];
    const steps = runId ? (this.store.runs.get(runId)?.scoredSteps() ?? []) : [];
    const at = stepPosition(steps, this.pinnedStep);
    if (!at) return;
    const target = to === 'previous' ? at.previous : to === 'next' ? at.next : steps.includes(to) ? to : undefined;
    if (target === undefined) return;
    this.pinnedStep = target === steps[steps.length - 1] ? undefined : target;
    this.schedule();
  }

  private fillRunPicker(): void {
    const shown = this.feed.shown[0];
    this.runPicker.replaceChildren(...this.runs.map((r) => h('vscode-option', { value: r.id, selected: r.id === shown, description: r.id }, runLabel(r))));
    if (shown) this.runPicker.value = shown;
  }

  private setMode(mode: Mode, chosen: boolean): void {
    this.mode = mode;
    if (chosen) this.modeChosen = true;
    this.modeGroups.toggleAttribute('secondary', mode !== 'groups');
    this.modeStep.toggleAttribute('secondary', mode !== 'step');
    this.modePrompt.toggleAttribute('secondary', mode !== 'prompt');
    this.promptPicker.hidden = mode !== 'prompt';
    this.groupControls.hidden = mode !== 'groups';
    this.groupsKey = '';
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
    const scoredSteps = data?.scoredSteps() ?? [];
    this.modeGroups.hidden = scoredSteps.length === 0;
    // A run that scores its completions opens on its groups, unless the user asked for another reading.
    if (scoredSteps.length > 0 && !this.modeChosen && this.mode !== 'groups') this.setMode('groups', false);
    if (scoredSteps.length === 0 && this.mode === 'groups') this.setMode('step', false);
    setAttr(document.body, 'data-mode', this.mode);
    if (!data || data.count === 0) {
      const run = data?.run;
      const sampling = run?.samples;
      this.summary.textContent = !runId
        ? 'Pick a run to see its samples.'
        : run && ONLINE_RL.has(run.stage)
          ? `No completions yet: this run shows each prompt's group of scored completions every ${run.args.logging_steps ?? 1} step(s), as it logs.`
          : sampling && sampling.prompts.length > 0
            ? `No samples yet: this run samples ${sampling.prompts.length} prompt(s) every ${sampling.every_steps} steps.`
            : 'This run has no samples. Add a `samples:` block (prompts, every_steps) to the recipe to see completions during training.';
      this.list.replaceChildren();
      this.groupsKey = '';
      this.fillPromptPicker(data);
      return;
    }
    this.fillPromptPicker(data);
    if (this.mode === 'groups') {
      this.drawGroups(data, scoredSteps);
      return;
    }
    this.groupsKey = '';
    this.summary.textContent = `${data.count} completion(s) of ${data.prompts.length} prompt(s) at ${data.steps.length} step(s).`;
    this.list.replaceChildren(...(this.mode === 'step' ? this.byStep(data) : this.byPrompt(data)));
  }

  /** One step's groups (the newest unless the user went to another), rebuilt only when what it shows changed. */
  private drawGroups(data: RunSamples, steps: number[]): void {
    const at = stepPosition(steps, this.pinnedStep)!;
    if (this.pinnedStep !== undefined && this.pinnedStep !== at.step) this.pinnedStep = undefined;
    this.fillStepPicker(steps, at.step);
    this.stepPrev.toggleAttribute('disabled', at.previous === undefined);
    this.stepNext.toggleAttribute('disabled', at.next === undefined);
    const entry = data.stepAt(at.step)!;
    setAttr(document.body, 'data-step', String(at.step));
    const key = [data.runId, at.step, entry.samples.length, this.sortByAdvantage, this.hideZeroVariance].join('|');
    if (key === this.groupsKey) return;
    this.groupsKey = key;
    const groups = stepGroups(entry.samples);
    const shown = visibleGroups(groups, this.hideZeroVariance);
    const names = rewardNames(groups);
    const maxAbsAdvantage = Math.max(0, ...groups.flatMap((g) => g.completions.map((c) => Math.abs(c.scored.advantage))));
    const position = `Step ${at.step}${at.newest ? ', the newest' : ''} of ${steps.length} logged step${steps.length === 1 ? '' : 's'}`;
    this.summary.textContent = `${position} · ${groupsSummary(groups, this.hideZeroVariance)}`;
    const sections = shown.map((g) => groupSection(g, { rewardNames: names, sortByAdvantage: this.sortByAdvantage, maxAbsAdvantage }));
    const empty =
      shown.length === 0 && groups.length > 0
        ? h('p', { class: 'muted', id: 'all-hidden' }, 'Every group of this step has zero reward variance: no completion was better than another, so the step taught the model nothing. Untick the filter to see them.')
        : null;
    this.list.replaceChildren(...sections, ...(empty ? [empty] : []));
  }

  private fillStepPicker(steps: number[], current: number): void {
    const key = steps.join(',');
    if (key !== this.stepPickerKey) {
      this.stepPickerKey = key;
      this.stepPicker.replaceChildren(...[...steps].reverse().map((s) => h('vscode-option', { value: String(s) }, `Step ${s}`)));
    }
    if (this.stepPicker.value !== String(current)) this.stepPicker.value = String(current);
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

