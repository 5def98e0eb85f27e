// End-to-end: scoring a preference file's pairs with a trained model in a real VS Code (code-server +
// Chromium, the harness of vscode.test.ts). A tiny DPO run with a LoRA adapter is trained through the
// CLI on examples/preference.jsonl (its daemon is the one the editor joins, by the state dir in the
// settings); the workspace holds a copy with the pairs on lines 3, 10 and 18 flipped, as a labelling
// mistake would. The user opens the copy in the pair inspector, clicks "Score with a model…", picks
// the run, orders the pairs by margin and keeps those below 0: exactly the flipped pairs, each with a
// negative margin. Swapping one back in the inspector drops its score; the report draws the margins.
// Screenshots: test-results/e2e/3x-*.png.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Frame, Page } from 'playwright-core';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openFile, openWorkbench, runCommand, viewFrame, closeWorkbench } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
const DATA = join(repoRoot, 'examples/preference.jsonl');
/** 0-based lines whose chosen and rejected are swapped in the workspace's copy. */
const FLIPPED = [2, 9, 17];

function flippedCopy(): string {
  return readFileSync(DATA, 'utf8')
    .trim()
    .split('\n')
    .map((l, i) => {
      if (!FLIPPED.includes(i)) return l;
      const r = JSON.parse(l) as { prompt: string; chosen: string; rejected: string };
      return JSON.stringify({ prompt: r.prompt, chosen: r.rejected, rejected: r.chosen });
    })
    .join('\n') + '\n';
}

/** The cards the inspector shows, top to bottom: their line and margin. */
function cards(pairs: Frame): Promise<{ line: number; margin: number | null }[]> {
  return pairs.$$eval('article.pair[data-line]', (els) =>
    els
      .map((e) => e as HTMLElement)
      .sort((a, b) => Number(a.dataset.position) - Number(b.dataset.position))
      .map((e) => {
        const m = e.querySelector<HTMLElement>('[data-testid="margin"]');
        return { line: Number(e.dataset.line), margin: m ? Number(m.dataset.margin) : null };
      }),
  );
}

describe('scoring pairs with a trained model in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  let stateDir: string;
  let runId: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/pairs.js', 'webviews/report.js']) {
      assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    }
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-score-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    writeFileSync(join(workspace, 'pairs.jsonl'), flippedCopy());
    // The engine's scorePairs setting: LoRA r 8 on every linear layer, 30 steps at 5e-3 (~15 s on tiny).
    const recipe = join(stateDir, 'dpo.anneal.yaml');
    writeFileSync(recipe, ['model: tiny', 'stage: dpo', 'data:', `  train: ${DATA}`, 'lora:', '  r: 8', '  alpha: 16', '  dropout: 0', '  target_modules: all-linear', 'learning_rate: 5.0e-3', 'per_device_train_batch_size: 4', 'max_length: 320', ''].join('\n'));
    const trained = spawnSync(process.execPath, [join(repoRoot, 'dist/cli.js'), 'train', 'dpo', '--config', recipe, '--data', DATA, '--model', 'tiny', '--max-steps', '30', '--json', '--state-dir', stateDir], { encoding: 'utf8' });
    assert.equal(trained.status, 0, trained.stderr);
    runId = trained.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'status')?.runId;
    assert.match(runId, /^dpo-/);
    server = await startCodeServer(workspace, 120_000, { settings: { 'anneal.daemon.stateDir': stateDir } });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(() => closeWorkbench({ browser, server, stateDir, workspace }));

  it('scores with the run from the inspector; ordered by margin and cut to margin < 0, the flipped pairs remain', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'pairs.jsonl');
    await page.waitForSelector('.monaco-editor .codelens-decoration a:has-text("Inspect pairs")', { timeout: LONG });
    await runCommand(page, 'Anneal: Inspect Preference Pairs');
    const pairs = await viewFrame(page, 'pairs');
    await pairs.locator('article.pair[data-line="0"]').waitFor({ timeout: LONG });

    // <vscode-button> draws its face in a shadow root that Playwright's hit test reports as covered.
    await pairs.locator('[data-testid="score"]').dispatchEvent('click');
    const row = page.locator(`.quick-input-list .monaco-list-row[aria-label*="${runId}"]`);
    await row.waitFor({ timeout: LONG });
    assert.match(await page.locator('.quick-input-widget').innerText(), /trained on preference\.jsonl/);
    assert.match(await page.locator('.quick-input-widget').innerText(), /Choose a folder/);
    await page.screenshot({ path: join(artifacts, '30-score-pick.png') });
    const started = Date.now();
    await row.click();

    await pairs.waitForFunction(() => document.body.dataset.scored === 'true', undefined, { timeout: LONG, polling: 250 });
    console.log(`scored in ${Date.now() - started} ms (from the pick to the header)`);
    const negative = pairs.locator('[data-testid="negative-count"]');
    assert.equal(await negative.getAttribute('data-negative'), '3');
    assert.match(await negative.innerText(), /^3 of 24 scored pairs have a margin below 0/);
    assert.match(await pairs.locator('[data-testid="scored-by"]').innerText(), new RegExp(`Scored by the implicit reward of run ${runId} against its base tiny \\(beta 0\\.1\\)`));
    await pairs.locator('article.pair[data-line="2"] [data-testid="margin"]').waitFor({ timeout: LONG });
    await page.screenshot({ path: join(artifacts, '31-scored.png') });

    await pairs.locator('vscode-checkbox[data-testid="sort-margin"]').click();
    await pairs.waitForFunction((flipped) => {
      const first = [...document.querySelectorAll<HTMLElement>('article.pair[data-line]')].sort((a, b) => Number(a.dataset.position) - Number(b.dataset.position)).slice(0, 3);
      return first.length === 3 && first.every((e) => flipped.includes(Number(e.dataset.line)));
    }, FLIPPED, { timeout: LONG });
    await page.screenshot({ path: join(artifacts, '32-by-margin.png') });

    await pairs.locator('vscode-checkbox[data-testid="only-negative"]').click();
    await pairs.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid="pair-list"]')?.dataset.total === '3', undefined, { timeout: LONG });
    await pairs.waitForFunction(() => document.querySelectorAll('article.pair[data-line]').length === 3, undefined, { timeout: LONG });
    const shown = await cards(pairs);
    assert.deepEqual(shown.map((c) => c.line).sort((a, b) => a - b), FLIPPED, 'exactly the flipped pairs');
    for (const c of shown) assert.ok(c.margin !== null && c.margin < 0, `line ${c.line + 1} has a negative margin: ${c.margin}`);
    const margins = shown.map((c) => c.margin!);
    assert.deepEqual(margins, [...margins].sort((a, b) => a - b), 'lowest margin first');
    assert.match(await pairs.locator('article.pair [data-testid="margin"]').first().innerText(), /^margin -\d+\.\d\d$/);
    await page.screenshot({ path: join(artifacts, '33-only-negative.png') });
  });

  it('swapping a flipped pair back drops its score; the report draws the margins around 0', async () => {
    const pairs = await viewFrame(page, 'pairs');
    const line = FLIPPED[0];
    await pairs.locator(`article.pair[data-line="${line}"] [data-testid="swap"]`).dispatchEvent('click');
    // The record's text changed, so the model's old score no longer describes it.
    await pairs.waitForFunction(() => document.querySelector<HTMLElement>('[data-testid="negative-count"]')?.dataset.negative === '2', undefined, { timeout: LONG });
    assert.match(await pairs.locator('[data-testid="unscored"]').innerText(), /^1 pair has no score/);
    await page.screenshot({ path: join(artifacts, '34-swapped-unscored.png') });

    await runCommand(page, 'View: Focus First Editor Group');
    await page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Report' }).click();
    const report = await viewFrame(page, 'report');
    const counts = report.locator('[data-testid="margin-counts"]');
    await counts.waitFor({ timeout: LONG });
    assert.match(await counts.innerText(), /^2 of 23 scored pairs below 0 .* · 1 unscored/);
    const negativeBars = await report.$$eval('[data-testid="margins"] rect.bar.negative', (els) => els.reduce((n, e) => n + Number((e as HTMLElement).dataset.count), 0));
    assert.equal(negativeBars, 2, 'the bars left of 0 hold the two pairs still backwards');
    assert.equal(await report.locator('[data-testid="zero-line"]').count(), 1);
    await report.locator('[data-testid="margins"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, '35-report-margins.png') });
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });
});
