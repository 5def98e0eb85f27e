// End-to-end: the training flows in a real VS Code (code-server + Chromium, the harness of
// vscode.test.ts). "Anneal: Train SFT" on a copy of examples/sft.jsonl with the tiny model picked in
// the QuickPick starts a real daemon (in a temporary state dir from the user settings), the dashboard
// draws a falling loss curve, the samples view shows a completion, the Runs view lists the run, and
// "Stop Run" stops it. Then the pair inspector swaps a pair of examples/preference.jsonl (the editor's
// text changes) and Ctrl+Z restores it, and the dataset report opens. Screenshots: test-results/e2e/.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openFile, openWorkbench, runCommand, viewFrame, closeWorkbench } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
/** Long enough that the run is still going when the test stops it; samples come every 25 steps. */
const MAX_STEPS = 400;

/** The first line of the active editor as rendered (Monaco draws spaces as U+00A0). */
async function firstEditorLine(page: Page): Promise<string> {
  const text = await page.locator('.editor-group-container .monaco-editor .view-lines .view-line').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

describe('Anneal training flows in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  let stateDir: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/dashboard.js', 'webviews/samples.js', 'webviews/pairs.js']) {
      assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    }
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-train-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    copyFileSync(join(repoRoot, 'examples/sft.jsonl'), join(workspace, 'sft.jsonl'));
    copyFileSync(join(repoRoot, 'examples/preference.jsonl'), join(workspace, 'preference.jsonl'));
    const faulty = [join(repoRoot, 'test/fixtures/datasets/faulty.jsonl'), join(repoRoot, 'test/fixtures/e2e/faulty.jsonl')].find((f) => existsSync(f))!;
    copyFileSync(faulty, join(workspace, 'faulty.jsonl'));
    server = await startCodeServer(workspace, 120_000, {
      settings: {
        'anneal.daemon.stateDir': stateDir,
        'anneal.train.maxSteps': MAX_STEPS,
      },
    });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(() => closeWorkbench({ browser, server, stateDir, workspace }));

  it('trains SFT on the tiny model: loss falls on the dashboard, a sample appears, the run stops', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'sft.jsonl');
    // The extension is active once the CodeLens shows.
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Train SFT")', { timeout: LONG });

    await runCommand(page, 'Anneal: Train SFT');
    // Without a recipe beside the data, the only question is the model.
    await page.waitForSelector('.quick-input-list .monaco-list-row[aria-label*="Built-in tiny model"]', { timeout: LONG });
    await page.keyboard.type('tiny');
    await page.keyboard.press('Enter');

    const dashboard = await viewFrame(page, 'dashboard');
    // At least 5 logged points (every 5 steps) and the latest loss well under the first.
    const loss = await dashboard.waitForFunction(
      () => {
        const chart = document.querySelector<HTMLElement>('.chart[data-metric="loss"]');
        const count = Number(chart?.dataset.count ?? 0);
        const first = Number(chart?.dataset.first);
        const last = Number(chart?.dataset.last);
        return count >= 5 && last < first * 0.8 ? { count, first, last } : false;
      },
      undefined,
      { timeout: LONG, polling: 250 },
    );
    const { count, first, last } = (await loss.jsonValue()) as { count: number; first: number; last: number };
    assert.ok(count >= 5 && last < first, `loss falls: ${first} -> ${last} over ${count} points`);
    assert.equal(await dashboard.evaluate(() => document.body.dataset.runStatus), 'running');
    await page.screenshot({ path: join(artifacts, '10-dashboard.png') });

    // The status bar shows the run's step and loss.
    await page.waitForFunction(() => /step \d+\/400 · loss \d/.test((document.querySelector('.part.statusbar') as HTMLElement | null)?.innerText ?? ''), undefined, { timeout: LONG });

    await runCommand(page, 'Anneal: Open Samples');
    const samples = await viewFrame(page, 'samples');
    await samples.waitForFunction(() => Number(document.body.dataset.sampleCount ?? 0) > 0, undefined, { timeout: LONG, polling: 250 });
    const sampleText = await samples.locator('body').innerText();
    assert.match(sampleText, /Shout \w+/, 'the sample shows its prompt');
    await page.screenshot({ path: join(artifacts, '11-samples.png') });

    // The Runs view lists the run as running.
    // The badge ("1 run in progress") covers the icon's centre; the item takes the click all the same.
    await page.locator('.activitybar .action-item a[aria-label^="Anneal"]').click({ force: true });
    const runRow = page.locator('.pane-body .monaco-list-row', { hasText: 'SFT · tiny · sft.jsonl' });
    await runRow.waitFor({ timeout: LONG });
    assert.equal(await runRow.locator('.codicon-sync').count(), 1, 'the running run spins');
    await page.screenshot({ path: join(artifacts, '12-runs-view.png') });

    await runCommand(page, 'Anneal: Stop Run');
    await runRow.locator('.codicon-debug-stop').waitFor({ timeout: LONG });
    const runId = await dashboard.evaluate(() => document.body.dataset.runId);
    assert.ok(runId);
    const run = JSON.parse(readFileSync(join(stateDir, 'runs', runId, 'run.json'), 'utf8')) as { status: string; step: number };
    assert.equal(run.status, 'stopped');
    assert.ok(run.step > 0 && run.step < MAX_STEPS, `stopped mid-run at step ${run.step}`);
    await dashboard.waitForFunction(() => document.body.dataset.runStatus === 'stopped', undefined, { timeout: LONG });
  });

  it('resumes the run; when the daemon is killed under it, a new daemon marks it interrupted and the UI says so', async () => {
    const runRow = page.locator('.pane-body .monaco-list-row', { hasText: 'SFT · tiny · sft.jsonl' });
    await runCommand(page, 'Anneal: Resume Run');
    await runRow.locator('.codicon-sync').waitFor({ timeout: LONG });
    const dashboard = await viewFrame(page, 'dashboard');
    await dashboard.waitForFunction(() => document.body.dataset.runStatus === 'running', undefined, { timeout: LONG });
    const before = JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8')) as { pid: number };
    process.kill(before.pid, 'SIGKILL');
    // auto-start brings a new daemon; it finds the run it lost and marks it interrupted.
    await runRow.locator('.codicon-warning').waitFor({ timeout: LONG });
    const after = JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8')) as { pid: number };
    assert.notEqual(after.pid, before.pid, 'a new daemon runs');
    await page.locator('.notification-toast', { hasText: 'was interrupted' }).waitFor({ timeout: LONG });
    // The dashboard's own socket reconnected and shows the truth, not a stale "running".
    await dashboard.waitForFunction(() => document.body.dataset.runStatus === 'interrupted', undefined, { timeout: LONG });
    await page.screenshot({ path: join(artifacts, '16-interrupted.png') });
    await page.keyboard.press('Escape');
  });

  it('refuses to train data with errors and points to the Problems panel', async () => {
    await openFile(page, 'faulty.jsonl');
    await page.waitForSelector('.monaco-editor .squiggly-error', { timeout: LONG });
    await runCommand(page, 'Anneal: Train SFT');
    const toast = page.locator('.notification-toast', { hasText: 'fix them before training' });
    await toast.waitFor({ timeout: LONG });
    assert.match(await toast.innerText(), /faulty\.jsonl has \d+ errors? \(first on line \d+: .+\); fix them before training\./);
    await toast.locator('a.monaco-button', { hasText: 'Show Problems' }).click();
    await page.waitForSelector('.markers-panel .monaco-list-row', { timeout: LONG });
    await page.screenshot({ path: join(artifacts, '17-refused.png') });
    await page.keyboard.press('Escape');
  });

  it('swaps a pair in the pair inspector and undoes it in the editor', async () => {
    // One text editor on screen, so "the editor's first line" is the preference file's.
    await runCommand(page, 'View: Close All Editor Groups');
    await page.waitForSelector('.editor-group-container .monaco-editor', { state: 'detached', timeout: LONG });
    await openFile(page, 'preference.jsonl');
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Inspect pairs")', { timeout: LONG });
    const original = await firstEditorLine(page);
    assert.match(original, /"chosen": "Ottawa\."/);

    await runCommand(page, 'Anneal: Inspect Preference Pairs');
    const pairs = await viewFrame(page, 'pairs');
    const swap = pairs.locator('[data-testid="pair"][data-line="0"] [data-testid="swap"]');
    await swap.waitFor({ timeout: LONG });
    await page.screenshot({ path: join(artifacts, '13-pairs.png') });
    // <vscode-button> draws its face in a shadow root that Playwright's hit test reports as covered.
    await swap.dispatchEvent('click');

    await page.waitForFunction(
      () => {
        const line = document.querySelector('.editor-group-container .monaco-editor .view-lines .view-line') as HTMLElement | null;
        return /"rejected": "Ottawa\."/.test((line?.innerText ?? '').replace(/\u00a0/g, ' '));
      },
      undefined,
      { timeout: LONG },
    );
    const swapped = await firstEditorLine(page);
    assert.notEqual(swapped, original);
    assert.match(swapped, /"chosen": "Toronto is the capital/);
    // The view refreshes from the edited document.
    await pairs.locator('[data-testid="pair"][data-line="0"] [data-side="chosen"]', { hasText: 'Toronto' }).waitFor({ timeout: LONG });
    await page.screenshot({ path: join(artifacts, '14-pairs-swapped.png') });

    // Undo in the text editor restores the record exactly.
    await runCommand(page, 'View: Focus First Editor Group');
    await page.waitForSelector('.editor-group-container .monaco-editor.focused', { timeout: LONG });
    await page.keyboard.press('Control+Z');
    await page.waitForFunction(
      () => /"chosen": "Ottawa\."/.test(((document.querySelector('.editor-group-container .monaco-editor .view-lines .view-line') as HTMLElement | null)?.innerText ?? '').replace(/\u00a0/g, ' ')),
      undefined,
      { timeout: LONG },
    );
    assert.equal(await firstEditorLine(page), original);
  });

  it('opens the dataset report from the CodeLens', async () => {
    await page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Report' }).click();
    const report = await viewFrame(page, 'report');
    // preference.jsonl has 24 records.
    await report.waitForFunction(() => /\b24\b/.test(document.body.innerText), undefined, { timeout: LONG, polling: 250 });
    await page.screenshot({ path: join(artifacts, '15-report.png') });
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });
});
