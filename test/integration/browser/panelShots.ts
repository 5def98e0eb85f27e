// Screenshot scaffolding (not a test): renders the pair inspector and the dataset report bundles in
// Chromium the way a webview runs them, so their look can be checked by eye. A stand-in for
// `acquireVsCodeApi` carries messages to this script, which answers with the panels' real VS Code-free
// logic (PairsSource, checkSteps + reportData) over a real file. Edits are applied to the text here.
//
//   node --import tsx test/integration/browser/panelShots.ts [outDir] [file.jsonl]
//
// SCORES=scores.jsonl (the output of `anneal score-pairs --json` on the same file) puts a model's
// scores on the pairs and the report, and adds the scored screenshots.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { deleteLineRange, setSide, swapSides } from '../../../core/pairs/pairEdit.ts';
import { checkSteps } from '../../../core/report/checkSteps.ts';
import { reportData } from '../../../core/report/reportData.ts';
import type { HostToView, ViewToHost } from '../../../core/protocol/webview.ts';
import { PairsSource } from '../../../extension/client/panels/pairsSource.ts';
import { reportMargins } from '../../../extension/client/panels/reportMargins.ts';
import { scoredFile, type ScoredFile } from '../../../core/pairs/pairScores.ts';

const root = resolve(__dirname, '../../..');
const outDir = resolve(process.argv[2] ?? join(root, 'test-results/panels'));
const file = process.argv[3] ?? join(root, 'test/fixtures/pairs/inspector.jsonl');
mkdirSync(outDir, { recursive: true });

/** The scores of `anneal score-pairs --json` (1-based lines) on `text`'s lines, when SCORES names such a file. */
function scoresFor(text: string): ScoredFile | undefined {
  if (!process.env.SCORES) return undefined;
  const events = readFileSync(process.env.SCORES, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const head = events.find((e) => e.event === 'result');
  const scores = events.filter((e) => e.event === 'pair').map((e) => ({ line: e.line - 1, chosen: e.chosen, rejected: e.rejected, margin: e.margin }));
  const lines = text.split('\n');
  return scoredFile({ kind: head.kind, description: head.description, scores, skipped: head.skipped }, (l) => lines[l]);
}

function pageHtml(kind: 'pairs' | 'report'): string {
  const dist = pathToFileURL(join(root, 'dist/webviews')).href;
  return `<!DOCTYPE html><html lang="en" data-host="browser"><head><meta charset="UTF-8">
<link rel="stylesheet" href="${dist}/${kind}.css"><title>${kind}</title></head>
<body data-view-kind="${kind}"><script src="${dist}/${kind}.js"></script></body></html>`;
}

async function openView(kind: 'pairs' | 'report', onMessage: (m: ViewToHost, send: (m: HostToView) => Promise<void>) => Promise<void>, page: Page): Promise<(m: HostToView) => Promise<void>> {
  const send = async (m: HostToView) => {
    await page.evaluate(`window.postMessage(${JSON.stringify(m)}, '*')`);
  };
  await page.exposeFunction('__hostPost', (m: ViewToHost) => onMessage(m, send));
  // A string, not a function: tsx's helpers (e.g. __name) do not exist in the page.
  await page.addInitScript(
    'let state; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.__hostPost(m), getState: () => state, setState: (s) => { state = s; } });',
  );
  const htmlPath = join(outDir, `${kind}.html`);
  writeFileSync(htmlPath, pageHtml(kind));
  page.on('console', (msg) => console.log(`[${kind} console] ${msg.text()}`));
  page.on('pageerror', (err) => console.log(`[${kind} error] ${err.message}`));
  await page.goto(pathToFileURL(htmlPath).href);
  return send;
}

async function pairsShots(page: Page): Promise<void> {
  let text = readFileSync(file, 'utf8');
  let version = 1;
  const source = new PairsSource({});
  await source.load(text, version);
  const scores = scoresFor(text);
  if (scores) await source.setScores(scores);
  const name = file.slice(file.lastIndexOf('/') + 1);
  await openView('pairs', async (m, send) => {
    if (m.type === 'ready') return send(source.resetMessage(name));
    if (m.type === 'pairs/requestPage') return send(source.page(m.start, m.count));
    if (m.type === 'pairs/setFilter') {
      await source.setFilter(m.filter);
      return send(source.resetMessage(name));
    }
    if (m.type === 'pairs/nextFlagged') return send({ type: 'pairs/select', position: source.nextFlagged(m.from, m.direction) });
    if (m.type === 'pairs/edit') {
      const lines = text.split('\n');
      const line = lines[m.line];
      let change;
      if (m.edit.kind === 'delete') {
        const r = deleteLineRange(m.line, lines.length, (l) => lines[l].length);
        change = { range: r, text: '' };
      } else {
        const next = m.edit.kind === 'swap' ? swapSides(line) : setSide(line, m.edit.side, m.edit.text);
        change = { range: { start: { line: m.line, character: 0 }, end: { line: m.line, character: line.length } }, text: next };
      }
      source.applyChanges([change], ++version, lines.length - (m.edit.kind === 'delete' ? 1 : 0));
      text = lines.map((l, i) => (i === m.line && m.edit.kind !== 'delete' ? change.text : l)).filter((_, i) => !(m.edit.kind === 'delete' && i === m.line)).join('\n');
      await source.refresh();
      return send(source.resetMessage(name));
    }
  }, page);
  await page.waitForSelector('[data-line]');
  await page.screenshot({ path: join(outDir, 'pairs-1-list.png') });
  await page.locator('[data-testid="pair-list"]').focus();
  await page.keyboard.press('End');
  await page.waitForTimeout(300);
  const total = await page.locator('[data-testid="pair-list"]').getAttribute('data-total');
  const cards = await page.locator('article.pair').count();
  const lastLine = await page.locator('article.pair.selected').getAttribute('data-line');
  console.log(`pairs: data-total=${total}, cards in the DOM=${cards}, selected after End: line ${lastLine}`);
  await page.screenshot({ path: join(outDir, 'pairs-1b-end.png') });
  await page.keyboard.press('Home');
  await page.waitForTimeout(200);
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('n');
  await page.waitForTimeout(200);
  await page.screenshot({ path: join(outDir, 'pairs-2-next-flagged.png') });
  await page.locator('article.pair.selected [data-testid="edit-chosen"]').click();
  await page.locator('textarea.editor').fill('An edited chosen answer.');
  await page.screenshot({ path: join(outDir, 'pairs-3-editing.png') });
  await page.keyboard.press('Control+Enter');
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(outDir, 'pairs-4-saved.png') });
  await page.locator('vscode-checkbox[data-testid="only-flagged"]').click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(outDir, 'pairs-5-only-flagged.png') });
  await page.locator('vscode-checkbox[data-testid="only-flagged"]').click();
  await page.locator('vscode-textfield[data-testid="search"]').click();
  await page.keyboard.type('capital');
  await page.waitForTimeout(600);
  await page.screenshot({ path: join(outDir, 'pairs-6-search.png') });
  if (!scores) return;
  await page.locator('vscode-textfield[data-testid="search"]').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.waitForTimeout(600);
  await page.locator('vscode-checkbox[data-testid="sort-margin"]').click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(outDir, 'pairs-7-by-margin.png') });
  await page.locator('vscode-checkbox[data-testid="only-negative"]').click();
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(outDir, 'pairs-8-negative.png') });
}

async function reportShots(page: Page): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const steps = checkSteps(text.split('\n'), {});
  let step = steps.next();
  while (!step.done) step = steps.next();
  const data = reportData(file.slice(file.lastIndexOf('/') + 1), step.value.report());
  const scores = scoresFor(text);
  if (scores) data.margins = reportMargins(text, data.summary.formats, scores);
  const revealed: number[] = [];
  await openView('report', async (m, send) => {
    if (m.type === 'ready') return send(data);
    if (m.type === 'reveal') revealed.push(m.line);
  }, page);
  await page.waitForSelector('[data-testid="histogram"]');
  await page.screenshot({ path: join(outDir, 'report-1.png'), fullPage: true });
  const link = page.locator('[data-testid="duplicates"] a').first();
  if (await link.count()) {
    await link.click();
    await page.waitForTimeout(100);
    console.log(`report: clicking the first duplicate asked the host to reveal line ${revealed[0]}`);
  }
}

async function main(): Promise<void> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
    const which = process.env.SHOTS ?? 'pairs,report';
    if (which.includes('pairs')) await pairsShots(await context.newPage());
    if (which.includes('report')) await reportShots(await context.newPage());
    console.log(`screenshots in ${outDir}`);
  } finally {
    await browser.close();
  }
}

void main();
