// End-to-end: a GRPO run in a real VS Code (code-server + Chromium, the harness of vscode.test.ts).
// The workspace holds examples/prompts.jsonl and examples/grpo.anneal.yaml (with its reward modules)
// cut to a few steps that log every other step, its rewards weighted 0 (columns that never move the
// total, as the tiny model now and then writes a digit) and test/fixtures/e2e/grpo/plateau.ts added: a
// reward that varies at first, throws once, then gives every completion 0. "Anneal: Train from Recipe" trains it on the tiny model; the dashboard leads with the
// rewards (reward first), shows the reward headline and, as the last steps have no reward variance,
// the no-signal warning. The samples view opens on the newest step's groups; every group's rows carry
// the rewards and advantages the run wrote to samples.jsonl; sorting, the zero-variance filter and
// stepping back to the first step work; the step where the reward threw shows its error.
// Screenshots: test-results/e2e/4x-*.png.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Frame, Page } from 'playwright-core';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { SampleRecord } from '../../core/protocol/runs.ts';
import { hasZeroVariance } from '../../webviews/samples/groups.ts';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openFile, openWorkbench, runCommand, viewFrame, closeWorkbench } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
/** plateau.ts goes flat from step index 4: 8 steps leave the last logged ones without variance. */
const MAX_STEPS = 8;

/** The example's reward functions, by name; plateau.ts is the only one that counts. */
let exampleRewards: string[] = [];

/**
 * examples/grpo.anneal.yaml written into `workspace` for the test (its reward modules copied beside it):
 * fewer steps, logged every other, the example's rewards weighted 0 and plateau.ts added.
 */
function writeRecipe(workspace: string): void {
  // The schema comment's path is relative to examples/; the extension validates recipes by itself.
  const example = parseYaml(readFileSync(join(repoRoot, 'examples/grpo.anneal.yaml'), 'utf8')) as Record<string, unknown> & { rewards: { name: string; file?: string; weight?: number }[] };
  assert.equal(example.stage, 'grpo', 'the example is a GRPO recipe');
  for (const r of example.rewards) {
    if (r.file) {
      mkdirSync(dirname(join(workspace, r.file)), { recursive: true });
      copyFileSync(join(repoRoot, 'examples', r.file), join(workspace, r.file));
    }
  }
  exampleRewards = example.rewards.map((r) => r.name);
  const rewards = [...example.rewards.map((r) => ({ ...r, weight: 0 })), { name: 'plateau', file: 'plateau.ts' }];
  copyFileSync(join(repoRoot, 'test/fixtures/e2e/grpo/plateau.ts'), join(workspace, 'plateau.ts'));
  writeFileSync(join(workspace, 'grpo.anneal.yaml'), stringifyYaml({ ...example, rewards, max_steps: MAX_STEPS, logging_steps: 2 }));
}

/** What the samples view shows of one group, read from its DOM. */
interface ShownGroup {
  group: number;
  zeroVariance: boolean;
  advantages: number[];
  rewards: (number | null)[];
  error: string;
}

async function shownGroups(samples: Frame): Promise<ShownGroup[]> {
  return samples.$$eval('section.rl-group', (els) =>
    els.map((el) => {
      const e = el as HTMLElement;
      const rows = [...e.querySelectorAll<HTMLElement>('tr.rl-row')];
      return {
        group: Number(e.dataset.group),
        zeroVariance: e.dataset.zeroVariance === 'true',
        advantages: rows.map((r) => Number(r.dataset.advantage)),
        rewards: rows.map((r) => (r.dataset.reward === 'null' ? null : Number(r.dataset.reward))),
        error: e.querySelector('.rl-error')?.textContent ?? '',
      };
    }),
  );
}

/** Waits until the samples view shows `step` in Groups mode with `groups` groups drawn. */
async function waitForStep(samples: Frame, step: number, groups: number): Promise<void> {
  await samples.waitForFunction(
    ([s, n]) => document.body.dataset.mode === 'groups' && document.body.dataset.step === String(s) && document.querySelectorAll('section.rl-group').length === n,
    [step, groups] as const,
    { timeout: LONG, polling: 100 },
  );
}

describe('a GRPO run in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  let stateDir: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/dashboard.js', 'webviews/samples.js']) {
      assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    }
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-grpo-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    copyFileSync(join(repoRoot, 'examples/prompts.jsonl'), join(workspace, 'prompts.jsonl'));
    writeRecipe(workspace);
    server = await startCodeServer(workspace, 120_000, { settings: { 'anneal.daemon.stateDir': stateDir } });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(() => closeWorkbench({ browser, server, stateDir, workspace }));

  it('trains GRPO from its recipe; the dashboard leads with the reward and warns when the groups stop differing', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'grpo.anneal.yaml');
    // The extension is active (and the recipe checked) once its CodeLens shows.
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Run")', { timeout: LONG });
    await runCommand(page, 'Anneal: Train from Recipe');
    const dashboard = await viewFrame(page, 'dashboard');
    await dashboard.waitForFunction(() => document.body.dataset.runStatus === 'completed', undefined, { timeout: LONG, polling: 250 });
    const runId = (await dashboard.evaluate(() => document.body.dataset.runId))!;
    assert.match(runId, /^grpo-/);
    const metrics = readFileSync(join(stateDir, 'runs', runId, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
    const last = (name: string) => metrics.filter((m) => typeof m[name] === 'number').at(-1)?.[name];

    const groups = await dashboard.$$eval('section[data-group]', (els) => els.map((e) => (e as HTMLElement).dataset.group));
    assert.deepEqual(groups.slice(0, 2), ['train', 'rewards'], `groups: ${groups.join(', ')}`);
    for (const g of ['completions', 'clip_ratio']) assert.ok(groups.includes(g), `a ${g} group: ${groups.join(', ')}`);
    const rewardCharts = await dashboard.$$eval('section[data-group="rewards"] .chart', (els) => els.map((e) => (e as HTMLElement).dataset.metric));
    assert.deepEqual(rewardCharts.slice(0, 3), ['reward', 'reward_std', 'frac_reward_zero_std']);
    for (const fn of [...exampleRewards, 'plateau']) assert.ok(rewardCharts.includes(`rewards/${fn}/mean`), `rewards/${fn}/mean is charted`);

    const headline = await dashboard.$$eval('#headline [data-headline]', (els) => els.map((e) => ({ metric: (e as HTMLElement).dataset.headline, value: Number((e as HTMLElement).dataset.value) })));
    assert.deepEqual(headline, [{ metric: 'reward', value: last('reward') }]);

    // plateau.ts gives every completion 0 in the last steps: every group has zero variance.
    const frac = last('frac_reward_zero_std')!;
    assert.ok(frac >= 0.75, `the run ends without reward variance (frac_reward_zero_std ${frac})`);
    const warning = dashboard.locator('#signal-warning');
    await warning.waitFor({ state: 'visible', timeout: LONG });
    assert.match(await warning.innerText(), /got the same reward for every completion.*no learning signal.*too hard or too easy for the model; adjust the rewards .* or the data/s);
    await page.locator('.notification-toast', { hasText: `finished at step ${MAX_STEPS}` }).waitFor({ timeout: LONG });
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.screenshot({ path: join(artifacts, '40-grpo-dashboard.png') });
    // What a user scrolls to: the reward charts, drawn.
    await dashboard.locator('.chart[data-metric="reward"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, '44-grpo-dashboard-rewards.png') });
  });

  it('the samples view shows each step\'s groups with their rewards and advantages, sorts, filters and steps back', async () => {
    await runCommand(page, 'Anneal: Open Samples');
    const samples = await viewFrame(page, 'samples');
    await samples.waitForFunction(() => /^grpo-/.test(document.body.dataset.runId ?? ''), undefined, { timeout: LONG });
    const runId = (await samples.evaluate(() => document.body.dataset.runId))!;
    const records = readFileSync(join(stateDir, 'runs', runId, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SampleRecord);
    assert.ok(records.length > 0 && records.every((r) => r.scored), 'every sample of the run is scored');
    const steps = [...new Set(records.map((r) => r.step))];
    assert.ok(steps.length >= 3, `samples at steps ${steps.join(', ')}`);
    /** The run's groups at a step as samples.jsonl has them, in the engine's order. */
    const fileGroups = (step: number) => {
      const at = records.filter((r) => r.step === step);
      return [...new Set(at.map((r) => r.scored!.group))].sort((a, b) => a - b).map((g) => {
        const rows = at.filter((r) => r.scored!.group === g).map((r) => r.scored!);
        return { group: g, advantages: rows.map((s) => s.advantage), rewards: rows.map((s) => s.reward), zeroVariance: hasZeroVariance(rows.map((s) => s.reward)), error: rows[0]!.error };
      });
    };
    const check = async (step: number) => {
      const expected = fileGroups(step);
      await waitForStep(samples, step, expected.length);
      const shown = await shownGroups(samples);
      assert.deepEqual(
        shown.map((g) => ({ group: g.group, advantages: g.advantages, rewards: g.rewards, zeroVariance: g.zeroVariance })),
        expected.map((g) => ({ group: g.group, advantages: g.advantages, rewards: g.rewards, zeroVariance: g.zeroVariance })),
        `step ${step} as samples.jsonl has it`,
      );
      for (const [i, g] of expected.entries()) if (g.error) assert.ok(shown[i]!.error.includes(g.error), `step ${step} group ${g.group} shows its error`);
    };

    // A run that scores its completions opens on its newest step's groups.
    const newest = steps.at(-1)!;
    await check(newest);
    const columns = await samples.$$eval('section.rl-group:first-of-type th[data-reward-fn]', (els) => els.map((e) => (e as HTMLElement).dataset.rewardFn));
    assert.deepEqual(columns, [...exampleRewards, 'plateau'], 'a column per reward function');
    assert.match(await samples.locator('#samples-summary').innerText(), new RegExp(`^Step ${newest}, the newest of ${steps.length} logged steps · ${fileGroups(newest).length} groups of ${fileGroups(newest)[0]!.advantages.length} completions`));
    await page.screenshot({ path: join(artifacts, '41-grpo-samples-newest.png') });

    // Hiding the groups without variance leaves none at the flat newest step, and says why.
    await samples.locator('#hide-zero-variance').click();
    await samples.locator('#all-hidden').waitFor({ timeout: LONG });
    assert.equal(await samples.locator('section.rl-group').count(), 0);
    await samples.locator('#hide-zero-variance').click();
    await waitForStep(samples, newest, fileGroups(newest).length);

    // Back, step by step, to the first step: the one where plateau.ts still tells completions apart.
    for (let i = steps.length - 2; i >= 0; i--) {
      await samples.locator('#step-prev').dispatchEvent('click');
      await check(steps[i]!);
      if (fileGroups(steps[i]!).some((g) => g.error)) await page.screenshot({ path: join(artifacts, '42-grpo-samples-error.png') });
    }
    assert.equal(await samples.locator('#step-prev').getAttribute('disabled'), '', 'no step before the first');
    const first = fileGroups(steps[0]!);
    assert.ok(first.some((g) => !g.zeroVariance && g.advantages.some((a) => a !== 0)), 'the first step has groups with a learning signal');

    // Sorted by advantage, best first, within each group.
    await samples.locator('#sort-advantage').click();
    await samples.waitForFunction(
      () =>
        [...document.querySelectorAll('section.rl-group')].every((g) => {
          const a = [...g.querySelectorAll<HTMLElement>('tr.rl-row')].map((r) => Number(r.dataset.advantage));
          return a.every((v, i) => i === 0 || a[i - 1]! >= v);
        }),
      undefined,
      { timeout: LONG },
    );
    const sorted = await shownGroups(samples);
    for (const [i, g] of first.entries()) assert.deepEqual(sorted[i]!.advantages, [...g.advantages].sort((a, b) => b - a), `group ${g.group} sorted`);
    // The filter at a step with signal keeps exactly the groups whose totals differ.
    await samples.locator('#hide-zero-variance').click();
    const kept = first.filter((g) => !g.zeroVariance).map((g) => g.group);
    await samples.waitForFunction((n) => document.querySelectorAll('section.rl-group').length === n, kept.length, { timeout: LONG });
    assert.deepEqual((await shownGroups(samples)).map((g) => g.group), kept);
    await page.screenshot({ path: join(artifacts, '43-grpo-samples-sorted.png') });

    // Forward again to the newest: the view follows training from there (the step picker agrees).
    for (let i = 1; i < steps.length; i++) await samples.locator('#step-next').dispatchEvent('click');
    await samples.waitForFunction((s) => document.body.dataset.step === String(s), newest, { timeout: LONG });
    assert.equal(await samples.locator('#step-next').getAttribute('disabled'), '');
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });
});
