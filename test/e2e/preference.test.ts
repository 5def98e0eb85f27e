// End-to-end: a DPO run in a real VS Code (code-server + Chromium, the harness of vscode.test.ts).
// The workspace holds examples/preference.jsonl and a copy of examples/dpo.anneal.yaml cut to a few
// steps that log every step and evaluate. The user starts the daemon, which makes "Train DPO" appear,
// runs it from the palette on the data file (its recipe beside it is used), and the dashboard shows
// the run to its end: the rewards charts right after the training ones, margin first, and the latest
// reward accuracy and margin (train and eval) as headline numbers equal to what the run logged.
// Screenshots: test-results/e2e/2x-*.png.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openFile, openWorkbench, runCommand, viewFrame, closeWorkbench } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
/** A handful of steps: enough for a curve on every chart, a few seconds on tiny. */
const MAX_STEPS = 8;
const EVAL_STEPS = 4;

/** examples/dpo.anneal.yaml, shortened for the test: every step logged, an eval every EVAL_STEPS. */
function shortRecipe(): string {
  const example = readFileSync(join(repoRoot, 'examples/dpo.anneal.yaml'), 'utf8');
  const lines = example
    .split('\n')
    // The schema path is relative to examples/; the extension validates recipes by itself.
    .filter((l) => !l.startsWith('# yaml-language-server'))
    .map((l) => (l.startsWith('logging_steps:') ? 'logging_steps: 1' : l))
    .map((l) => (l === '  train: preference.jsonl' ? `${l}\n  eval: preference.jsonl` : l));
  const text = [...lines.filter((l) => l !== ''), `max_steps: ${MAX_STEPS}`, `eval_steps: ${EVAL_STEPS}`, ''].join('\n');
  assert.match(text, /^stage: dpo$/m, 'the example is a DPO recipe');
  assert.match(text, /^logging_steps: 1$/m);
  assert.match(text, /^ {2}eval: preference\.jsonl$/m);
  return text;
}

describe('a DPO run in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  let stateDir: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/dashboard.js']) {
      assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    }
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-dpo-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    copyFileSync(join(repoRoot, 'examples/preference.jsonl'), join(workspace, 'preference.jsonl'));
    writeFileSync(join(workspace, 'dpo.anneal.yaml'), shortRecipe());
    server = await startCodeServer(workspace, 120_000, { settings: { 'anneal.daemon.stateDir': stateDir } });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(() => closeWorkbench({ browser, server, stateDir, workspace }));

  it('trains DPO from the palette; the dashboard leads with the rewards and shows accuracy and margin', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'preference.jsonl');
    // The extension is active once the CodeLens shows; "Train DPO" waits for a daemon that trains it.
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Inspect pairs")', { timeout: LONG });
    await runCommand(page, 'Anneal: Start Daemon');
    await page.locator('.notification-toast', { hasText: 'daemon ready' }).waitFor({ timeout: LONG });
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Train DPO")', { timeout: LONG });
    await page.screenshot({ path: join(artifacts, '20-preference-data.png') });

    // The recipe beside the data names it as its train file: no question is asked.
    await runCommand(page, 'Anneal: Train DPO');
    const dashboard = await viewFrame(page, 'dashboard');
    await dashboard.waitForFunction(() => document.body.dataset.runStatus === 'completed', undefined, { timeout: LONG, polling: 250 });
    const runId = await dashboard.evaluate(() => document.body.dataset.runId);
    assert.match(runId ?? '', /^dpo-/);

    // The rewards group comes right after train, margin and accuracy first, and holds every step.
    const groups = await dashboard.$$eval('section[data-group]', (els) => els.map((e) => (e as HTMLElement).dataset.group));
    assert.deepEqual(groups.slice(0, 3), ['train', 'rewards', 'eval'], `groups: ${groups.join(', ')}`);
    const rewardCharts = await dashboard.$$eval('section[data-group="rewards"] .chart', (els) => els.map((e) => (e as HTMLElement).dataset.metric));
    assert.deepEqual(rewardCharts.slice(0, 2), ['rewards/margins', 'rewards/accuracies']);
    const margins = dashboard.locator('.chart[data-metric="rewards/margins"]');
    assert.ok(await margins.isVisible(), 'the rewards/margins chart is on the page');
    await dashboard.waitForFunction(() => Number(document.querySelector<HTMLElement>('.chart[data-metric="rewards/margins"]')?.dataset.count) === 8, undefined, { timeout: LONG });

    // The headline numbers are the last values the run logged, written as the charts write them.
    const metrics = readFileSync(join(stateDir, 'runs', runId!, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
    const last = (name: string) => metrics.filter((m) => typeof m[name] === 'number').at(-1)?.[name];
    const shown = await dashboard.$$eval('#headline [data-headline]', (els) =>
      els.map((e) => ({ metric: (e as HTMLElement).dataset.headline, value: Number((e as HTMLElement).dataset.value), text: e.textContent, visible: (e as HTMLElement).offsetParent !== null })),
    );
    assert.deepEqual(shown.map((s) => s.metric), ['rewards/accuracies', 'eval/rewards/accuracies', 'rewards/margins', 'eval/rewards/margins']);
    for (const s of shown) {
      assert.ok(s.visible, `${s.metric} is visible`);
      assert.equal(s.value, last(s.metric!), `${s.metric} is the last logged value`);
      assert.match(s.text ?? '', /^(eval )?-?\d/, `${s.metric} reads as a number`);
    }
    await page.screenshot({ path: join(artifacts, '21-dpo-dashboard.png') });

    // The extension says the run finished; then the toasts go, so the charts below them show.
    await page.locator('.notification-toast', { hasText: `DPO run ${runId} finished at step ${MAX_STEPS}` }).waitFor({ timeout: LONG });
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.waitForSelector('.notification-toast', { state: 'detached', timeout: LONG });
    // What a user scrolls to: the rewards charts, drawn.
    await margins.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, '22-dpo-rewards.png') });
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });
});
