// The end-to-end test in a real VS Code: code-server 4.100.3 (VS Code 1.100.3) with this repository
// loaded as the extension under development, driven by Debian's Chromium through playwright-core.
// It opens a faulty dataset and checks what a person sees: the problems in the Problems panel, the
// summary in the status bar, and the record hover. Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ensureServerBuilt } from '../integration/lsp/lspClient.ts';
import { ensureInstalled, startCodeServer, type CodeServer } from './codeServer.ts';
import { LONG, openFile, openWorkbench, runCommand } from './workbench.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-results/e2e');
/** The datasets fixture when it exists (json-syntax, missing-field, role-typo, duplicate), else ours with the same faults. */
const fixture = [join(repoRoot, 'test/fixtures/datasets/faulty.jsonl'), join(repoRoot, 'test/fixtures/e2e/faulty.jsonl')].find((f) => existsSync(f))!;
const expectedCodes = ['json-syntax', 'missing-field', 'role-typo', 'duplicate-record'];

/** Widgets fade in; screenshots wait until the one showing `text` and its ancestors are opaque. */
async function waitOpaque(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([sel, needle]) => {
      const el = [...document.querySelectorAll<HTMLElement>(sel)].find((h) => h.innerText.includes(needle));
      for (let node: HTMLElement | null = el ?? null; node; node = node.parentElement) {
        if (Number(getComputedStyle(node).opacity) < 1) return false;
      }
      return el !== undefined;
    },
    [selector, text] as const,
    { timeout: LONG },
  );
}

describe('Anneal in a real VS Code (code-server)', () => {
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let workspace: string;
  const consoleErrors: string[] = [];

  before(async () => {
    ensureInstalled(repoRoot);
    ensureServerBuilt();
    assert.ok(existsSync(join(repoRoot, 'dist/extension.js')), 'dist/extension.js is built');
    mkdirSync(artifacts, { recursive: true });
    workspace = mkdtempSync(join(tmpdir(), 'anneal-e2e-ws-'));
    copyFileSync(fixture, join(workspace, 'faulty.jsonl'));
    server = await startCodeServer(workspace);
    ({ browser, page } = await openWorkbench(server, repoRoot, workspace, consoleErrors));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('shows the dataset problems in the Problems panel and the summary in the status bar', async () => {
    // Open the dataset through Quick Open, as a user would.
    await page.locator('.monaco-workbench').click({ position: { x: 700, y: 400 } });
    await openFile(page, 'faulty.jsonl');
    // The extension activates, starts the server, and squiggles appear.
    await page.waitForSelector('.monaco-editor .squiggly-error', { timeout: LONG });
    await page.waitForFunction(() => /records · /.test((document.querySelector('.part.statusbar') as HTMLElement | null)?.innerText ?? ''), undefined, { timeout: LONG });
    await page.screenshot({ path: join(artifacts, '01-editor.png') });

    const statusText = await page.locator('.part.statusbar').innerText();
    assert.match(statusText, /\d+ records · \d+ errors? · (\d+ warnings? · )?SFT messages/);

    // Open the Problems panel and read what it lists.
    await page.keyboard.press('Control+Shift+M');
    await page.waitForSelector('.markers-panel .monaco-list-row', { timeout: LONG });
    await page.waitForFunction(
      (codes) => {
        const text = (document.querySelector('.markers-panel') as HTMLElement | null)?.innerText ?? '';
        return codes.every((c) => text.includes(c));
      },
      expectedCodes,
      { timeout: LONG },
    );
    const problems = await page.locator('.markers-panel').innerText();
    for (const code of expectedCodes) assert.ok(problems.includes(code), `Problems panel lists ${code}:\n${problems}`);
    assert.match(problems, /did you mean "assistant"/);
    assert.match(problems, /anneal/);
    await page.screenshot({ path: join(artifacts, '02-problems.png') });
  });

  it('runs "Anneal: Show Dataset Summary" from the command palette', async () => {
    // Click inside line 1 itself: the CodeLens ("Train SFT | Report") sits above it in the view-lines area.
    await page.locator('.monaco-editor .view-lines .view-line').first().click({ position: { x: 5, y: 5 } });
    await runCommand(page, 'Anneal: Show Dataset Summary');
    const toast = page.locator('.notification-toast', { hasText: 'records' });
    await toast.waitFor({ timeout: LONG });
    assert.match(await toast.innerText(), /Anneal: \d+ records · \d+ errors?/);
    await waitOpaque(page, '.notification-toast', 'records');
    await page.screenshot({ path: join(artifacts, '04-summary-command.png') });
    await page.keyboard.press('Escape');
  });

  it('shows the record hover with the chat-template rendering', async () => {
    const firstLine = page.locator('.monaco-editor .view-lines .view-line').first();
    await firstLine.hover({ position: { x: 40, y: 5 } });
    const hover = page.locator('.monaco-hover:visible', { hasText: 'Record on line 1' });
    await hover.waitFor({ timeout: LONG });
    await waitOpaque(page, '.monaco-hover', 'Record on line 1');
    const text = await hover.innerText();
    assert.match(text, /messages · conversational · \d+ turns · \d+ characters/);
    assert.match(text, /built-in tiny byte-level ChatML tokenizer/);
    assert.match(text, /<\|im_start\|>/);
    await page.screenshot({ path: join(artifacts, '03-hover.png') });
    assert.ok(statSync(join(artifacts, '03-hover.png')).size > 10_000);
  });
});
