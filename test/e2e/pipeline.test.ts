// End-to-end: a pipeline driven from a real VS Code (code-server + Chromium, the harness of
// vscode.test.ts). examples/pipeline.anneal.yaml (tiny model, SFT -> DPO, gated, its result exported as
// a q8_0 GGUF) opens with a "Run pipeline (sft → dpo)" CodeLens; clicking it trains both stages on a
// real daemon; the Runs view shows the pipeline completed, each stage passed with its gate lines, the
// result, and the GGUF export. Then "Export Run…" on the result writes a q4_0 GGUF through runs/export
// and offers the `ollama create` command. Screenshots: test-results/e2e/30-*.png.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { PipelineInfo } from '../../core/protocol/pipelines.ts';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, closeWorkbench, openFile, openWorkbench, runCommand } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');

/** The pipeline's record as the daemon stored it. */
function storedPipeline(stateDir: string): PipelineInfo | undefined {
  const dir = join(stateDir, 'pipelines');
  const id = existsSync(dir) ? readdirSync(dir)[0] : undefined;
  return id ? (JSON.parse(readFileSync(join(dir, id, 'pipeline.json'), 'utf8')) as { info: PipelineInfo }).info : undefined;
}

describe('A pipeline in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  let stateDir: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    for (const bundle of ['extension.js', 'cli.js', 'worker.js', 'webviews/dashboard.js']) assert.ok(existsSync(join(repoRoot, 'dist', bundle)), `dist/${bundle} is built`);
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-pipeline-'));
    stateDir = mkdtempSync(join(tmpdir(), 'anneal-e2e-state-'));
    for (const name of ['pipeline.anneal.yaml', 'sft.jsonl', 'shout-pairs.jsonl']) copyFileSync(join(repoRoot, 'examples', name), join(workspace, name));
    server = await startCodeServer(workspace, 120_000, { settings: { 'anneal.daemon.stateDir': stateDir } });
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(async () => {
    await page?.screenshot({ path: join(artifacts, '39-pipeline-last.png') }).catch(() => undefined);
    await closeWorkbench({ browser, server, stateDir, workspace });
  });

  it('runs the pipeline from its CodeLens; the Runs view shows it completed, both stages passed with their gates, and the GGUF export', async () => {
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'pipeline.anneal.yaml');
    const lens = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Run pipeline' });
    await lens.waitFor({ timeout: LONG });
    assert.equal((await lens.innerText()).replace(/\u00a0/g, ' ').trim(), 'Run pipeline (sft → dpo)');
    await page.screenshot({ path: join(artifacts, '30-pipeline-codelens.png') });
    await lens.click();

    // The Runs view (the badge covers the icon's centre; the item takes the click all the same), the
    // side bar widened as a user would to read the rows whole.
    await page.locator('.activitybar .action-item a[aria-label^="Anneal"]').click({ force: true });
    const sidebar = (await page.locator('.part.sidebar').boundingBox())!;
    await page.mouse.move(sidebar.x + sidebar.width + 1, sidebar.y + sidebar.height / 2);
    await page.mouse.down();
    await page.mouse.move(sidebar.x + sidebar.width + 340, sidebar.y + sidebar.height / 2, { steps: 5 });
    await page.mouse.up();
    const rows = page.locator('.pane-body .monaco-list-row');
    const pipelineRow = rows.filter({ hasText: 'Pipeline · sft → dpo' });
    await pipelineRow.waitFor({ timeout: LONG });
    // While it trains (a stage spinning, the next one pending), for the record.
    await page.screenshot({ path: join(artifacts, '30-pipeline-running.png') });
    // Completed, with the export written (the daemon records both before the pipeline's last change).
    await pipelineRow.locator('.codicon-pass-filled').waitFor({ timeout: LONG });
    const exportRow = rows.filter({ hasText: 'Export GGUF q8_0' });
    await exportRow.locator('.codicon-package').waitFor({ timeout: LONG });

    await page.screenshot({ path: join(artifacts, '31-pipeline-runs-view.png') });
    const info = storedPipeline(stateDir)!;
    assert.equal(info.status, 'completed');
    assert.deepEqual(info.stages.map((s) => s.status), ['passed', 'passed']);
    const gguf = info.exports?.[0];
    assert.equal(gguf?.status, 'done');
    const file = gguf!.files!.find((f) => f.endsWith('.gguf'))!;
    assert.ok(existsSync(join(gguf!.out, file)), 'the GGUF file exists');

    assert.match(await pipelineRow.innerText(), /completed · 2\/2 passed/);
    for (const [label, stage] of [['1. SFT', info.stages[0]!], ['2. DPO', info.stages[1]!]] as const) {
      const row = rows.filter({ hasText: label });
      assert.match(await row.innerText(), /passed · step \d+\/\d+/, `${label} reads passed`);
      assert.equal(await row.locator('.codicon-pass').count(), 1, `${label} has the passed icon`);
      // Its exit gate's line, with the measured number, sits under it.
      const exit = stage.gates!.find((g) => g.startsWith('exit'))!;
      assert.ok(await rows.filter({ hasText: exit.replace(/ \(.*\)$/, '') }).count() >= 1, `the gate line "${exit}" is shown`);
    }
    assert.match(await rows.filter({ hasText: 'Result:' }).innerText(), /Result: dpo's output/);
    assert.match(await exportRow.innerText(), new RegExp(file.replace(/[.]/g, '\\.')));
    // One message for the pipeline (none per stage), with the daemon's sentence on its result.
    const notice = page.locator('.notification-toast', { hasText: 'pipeline sft → dpo' });
    await notice.waitFor({ timeout: LONG });
    assert.match(await notice.innerText(), /Completed: every stage passed its gates; the result is dpo's output/);
    assert.equal(await page.locator('.notification-toast', { hasText: 'finished at step' }).count(), 0, 'no message per stage');
  });

  it('exports the pipeline\'s result as a q4_0 GGUF from the Runs view and offers the ollama command', async () => {
    await runCommand(page, 'Notifications: Clear All Notifications');
    const result = page.locator('.pane-body .monaco-list-row', { hasText: 'Result:' });
    await result.click({ button: 'right' });
    // The menu takes the keyboard: highlight the item, then Enter.
    await page.locator('.context-view .action-label', { hasText: 'Export Run…' }).hover();
    await page.keyboard.press('Enter');
    // The merged-model GGUF (its detail names the Modelfile), then its quantization.
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Ollama Modelfile' }).click({ timeout: LONG });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'q4_0' }).click({ timeout: LONG });
    const done = page.locator('.notification-toast', { hasText: 'exported the result of pipeline' });
    await done.locator('a.monaco-button', { hasText: 'Reveal' }).waitFor({ timeout: LONG });
    // The toast slides in: the screenshot waits until it is drawn whole.
    await page.waitForFunction(() => [...document.querySelectorAll('.notification-toast')].every((t) => getComputedStyle(t).opacity === '1'), undefined, { timeout: LONG });
    assert.match(await done.innerText(), /as GGUF q4_0 to \/.+-q4_0\.gguf/);
    assert.equal(await done.locator('a.monaco-button', { hasText: 'Copy `ollama create` command' }).count(), 1);
    await page.screenshot({ path: join(artifacts, '32-pipeline-exported.png') });
    const info = storedPipeline(stateDir)!;
    const dpoRun = info.stages[1]!.runId!;
    const out = join(stateDir, 'runs', dpoRun, 'exports', 'gguf-q4_0');
    assert.ok(readdirSync(out).some((f) => f.endsWith('q4_0.gguf')), `runs/export wrote ${out}`);

    // The same export again: the daemon refuses to write over it, and the message says why.
    await runCommand(page, 'Notifications: Clear All Notifications');
    await result.click({ button: 'right' });
    await page.locator('.context-view .action-label', { hasText: 'Export Run…' }).hover();
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Ollama Modelfile' }).click({ timeout: LONG });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'q4_0' }).click({ timeout: LONG });
    const refused = page.locator('.notification-toast', { hasText: 'could not export the result of pipeline' });
    await refused.waitFor({ timeout: LONG });
    assert.match(await refused.innerText(), /as GGUF q4_0: .*already exists and is not empty/s);
    assert.deepEqual(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e)), [], 'no CSP violations');
  });
});
