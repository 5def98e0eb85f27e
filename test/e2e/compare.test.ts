// End-to-end: the side-by-side chat and the pipeline report in a real VS Code (code-server + Chromium).
// Before the editor starts, the CLI trains examples/pipeline.anneal.yaml (SFT -> DPO on tiny) and then
// a short full fine-tune of tiny on examples/sft.jsonl into the session's state dir, as a user would.
// "Anneal: Compare Models Side by Side" opens on that run's output against its base (tiny); a prompt
// asked there is answered on both sides by the daemon; "Left is better" appends a preference record
// to judgements.jsonl in the workspace whose chosen/rejected are the answers shown. Then "Anneal: Open
// Pipeline Report" (picked from the palette) shows each stage's gates, metrics and before/after answers.
// Screenshots: test-results/e2e/6x-*.png.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { checkDataset } from '../../core/datasets/check.ts';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openWorkbench, runCommand, viewFrame, closeWorkbench } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
const CLI = join(repoRoot, 'dist/cli.js');
const PROMPT = 'Shout kotaru';

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('side-by-side chat and pipeline report in a real VS Code (code-server)', () => {
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
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/compare.js', 'webviews/pipelineReport.js']) {
      assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    }
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-compare-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    const started = Date.now();
    const pipeline = await cli(['train', '--config', join(repoRoot, 'examples/pipeline.anneal.yaml'), '--state-dir', stateDir]);
    assert.equal(pipeline.code, 0, `the pipeline failed: ${pipeline.stderr}`);
    // Full fine-tuning at a from-scratch rate (as the pipeline's SFT stage): 30 steps change tiny's answers.
    const recipe = join(workspace, 'shout.anneal.yaml');
    writeFileSync(recipe, ['model: tiny', 'stage: sft', 'data:', `  train: ${join(repoRoot, 'examples/sft.jsonl')}`, 'lora: null', 'learning_rate: 1.0e-2', 'per_device_train_batch_size: 16', 'max_length: 64', 'max_steps: 30', 'seed: 42', ''].join('\n'));
    const run = await cli(['train', '--config', recipe, '--json', '--state-dir', stateDir]);
    assert.equal(run.code, 0, `the SFT run failed: ${run.stderr}`);
    runId = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'status')?.runId;
    assert.match(runId, /^sft-/);
    console.log(`trained the pipeline and ${runId} in ${Date.now() - started} ms`);
    server = await startCodeServer(workspace, 120_000, { settings: { 'anneal.daemon.stateDir': stateDir } });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(() => closeWorkbench({ browser, server, stateDir, workspace }));

  it('compares a run with its base; "Left is better" appends the pair to judgements.jsonl', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await runCommand(page, 'Anneal: Compare Models Side by Side');
    const view = await viewFrame(page, 'compare');
    // Opened on the newest run's output against its base.
    await view.waitForFunction((id) => (document.getElementById('model-left') as HTMLSelectElement | null)?.value === `run:${id}`, runId, { timeout: LONG });
    assert.equal(await view.$eval('#model-right', (e) => (e as HTMLSelectElement).value), 'tiny');
    assert.match(await view.textContent('[data-testid="file"]') ?? '', /^judgements\.jsonl$/);

    await view.fill('[data-testid="prompt"]', PROMPT);
    await view.press('[data-testid="prompt"]', 'Control+Enter');
    await view.waitForFunction(() => document.querySelectorAll('.turn .answer:not(.pending)').length === 2, undefined, { timeout: LONG, polling: 200 });
    const shown = await view.$$eval('.turn .answer', (els) => els.map((e) => ({ text: e.textContent ?? '', error: e.classList.contains('error') })));
    assert.deepEqual(shown.map((s) => s.error), [false, false], `both sides answered: ${JSON.stringify(shown)}`);
    assert.notEqual(shown[0]!.text, shown[1]!.text, 'the trained run answers differently from its base');
    const heads = await view.$$eval('.turn .side-head', (els) => els.map((e) => e.textContent));
    assert.deepEqual(heads, [`Left · ${runId} (output)`, 'Right · tiny (built-in test model)']);
    await page.screenshot({ path: join(artifacts, '60-compare-answers.png') });

    // Keyboard: the first verdict button has the focus once both answered; Enter presses it.
    await view.waitForFunction(() => (document.activeElement as HTMLElement | null)?.dataset.verdict === 'left', undefined, { timeout: LONG });
    await view.locator('button[data-verdict="left"]').press('Enter');
    await view.waitForFunction(() => document.querySelector('.turn')?.classList.contains('judged'), undefined, { timeout: LONG });
    const status = await view.textContent('[data-testid="judge-status"]');
    assert.match(status ?? '', /^Left is better: saved as line 1 of judgements\.jsonl/);

    const text = readFileSync(join(workspace, 'judgements.jsonl'), 'utf8');
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), {
      prompt: [{ role: 'user', content: PROMPT }],
      chosen: [{ role: 'assistant', content: shown[0]!.text }],
      rejected: [{ role: 'assistant', content: shown[1]!.text }],
    });
    const report = checkDataset(text, { kind: 'preference' });
    assert.equal(report.summary.errors, 0);
    assert.equal(report.summary.records, 1);
    await page.screenshot({ path: join(artifacts, '61-compare-judged.png') });

    // Blind: the same prompt again (still selected in the box), the models hidden until judged; key 2.
    await view.check('[data-testid="blind"]');
    await view.press('[data-testid="prompt"]', 'Control+Enter');
    // The new turn goes on top: wait for it (the judged first turn already has two answers).
    await view.waitForFunction(() => document.querySelectorAll('.turn').length === 2 && document.querySelectorAll('.turn')[0]!.querySelectorAll('.answer:not(.pending)').length === 2, undefined, { timeout: LONG, polling: 200 });
    const blind = view.locator('.turn').first();
    assert.deepEqual(await blind.locator('.side-head').allTextContents(), ['Left · hidden', 'Right · hidden']);
    const blindShown = await blind.locator('.answer').allTextContents();
    await view.waitForFunction(() => (document.activeElement as HTMLElement | null)?.dataset.verdict === 'left', undefined, { timeout: LONG });
    await page.keyboard.press('2');
    await view.waitForFunction(() => document.querySelector('.turn')?.classList.contains('judged'), undefined, { timeout: LONG });
    const revealed = await blind.locator('.side-head').allTextContents();
    assert.deepEqual([...revealed].map((h) => h.replace(/^(Left|Right) · /, '')).sort(), [`${runId} (output)`, 'tiny (built-in test model)'].sort(), 'the sides are named once judged');
    // The trained run's short answer is stable; it is on the side the reveal names it.
    const runSide = revealed.findIndex((h) => h.endsWith(`${runId} (output)`));
    assert.equal(blindShown[runSide], shown[0]!.text, 'the run answers as before, on the side named for it');
    const second = readFileSync(join(workspace, 'judgements.jsonl'), 'utf8').split('\n').filter(Boolean);
    assert.equal(second.length, 2, 'appended, the first line kept');
    assert.equal(second[0], lines[0]);
    const record = JSON.parse(second[1]!);
    assert.equal(record.chosen[0].content, blindShown[1], 'right won: its answer is chosen');
    assert.equal(record.rejected[0].content, blindShown[0]);
    await page.screenshot({ path: join(artifacts, '62-compare-blind.png') });
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });

  it('the pipeline report shows each stage: gates, metrics, answers before and after', async () => {
    await runCommand(page, 'Anneal: Open Pipeline Report');
    await page.waitForSelector('.quick-input-list .monaco-list-row[aria-label*="sft → dpo"]', { timeout: LONG });
    await page.keyboard.press('Enter');
    const view = await viewFrame(page, 'pipelineReport');
    await view.waitForSelector('[data-testid="stage"]', { timeout: LONG });
    const stages = await view.$$eval('[data-testid="stage"]', (els) => els.map((e) => (e as HTMLElement).dataset.stage));
    assert.deepEqual(stages, ['sft', 'dpo']);
    assert.match(await view.textContent('[data-testid="summary"] [data-testid="status"]') ?? '', /completed/);
    assert.match(await view.textContent('[data-testid="result"]') ?? '', /dpo's output/);
    // The gate lines the daemon wrote, coloured by outcome; the exit gates passed.
    const gates = await view.$$eval('[data-stage="sft"] .gate', (els) => els.map((e) => ({ outcome: (e as HTMLElement).dataset.outcome, text: e.textContent })));
    assert.ok(gates.some((g) => g.outcome === 'pass' && /exit loss .* < 2\.5: pass/.test(g.text ?? '')), JSON.stringify(gates));
    // Metrics at both ends, and each sample prompt before (step 0) and after the stage.
    const loss = await view.$eval('[data-stage="sft"] .metrics tbody tr', (tr) => [...tr.children].map((c) => c.textContent));
    assert.equal(loss[0], 'loss');
    assert.ok(Number(loss[2]) < Number(loss[1]), `SFT loss falls: ${loss.join(' ')}`);
    const samples = await view.$$eval('[data-stage="dpo"] .samples tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    assert.deepEqual(samples.map((r) => r[0]), ['Shout kotaru', 'Shout mibelo']);
    const header = await view.$$eval('[data-stage="dpo"] .samples thead th', (els) => els.map((e) => e.textContent));
    assert.deepEqual(header, ['prompt', 'before (step 0)', 'after (step 30)']);
    await page.screenshot({ path: join(artifacts, '63-pipeline-report.png') });
    await view.locator('[data-stage="dpo"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(artifacts, '64-pipeline-report-dpo.png') });
  });
});
