// The browser dashboard against a real daemon: the daemon serves the page, Debian's Chromium (through
// playwright-core) opens it with the token in the URL fragment, and a real tiny SFT run trains while
// the page watches. Checks the loss curve fills and falls, stop/resume leaves no duplicate or missing
// point, samples show up on the samples page, and a page without (or with a wrong) token gets the
// login form and a refused WebSocket. Screenshots go to test-results/browser/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { StartRun, Subscribe } from '../../../core/protocol/daemon.ts';
import type { DaemonClient } from '../../../daemon/client/connect.ts';
import { ROOT, connect, readMetricsFile, startTestDaemon, stopTestDaemon, tempDir, waitForStatus, type TestDaemon } from '../daemon/helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-results/browser');
const MAX_STEPS = 40;
const WAIT = 60_000;

function writeRecipe(dir: string): string {
  const evalFile = join(dir, 'eval.jsonl');
  writeFileSync(evalFile, readFileSync(join(ROOT, 'examples/sft.jsonl'), 'utf8').split('\n').slice(0, 32).join('\n') + '\n');
  const path = join(dir, 'browser.anneal.yaml');
  writeFileSync(
    path,
    [
      'model: tiny',
      'stage: sft',
      'data:',
      `  train: ${JSON.stringify(join(ROOT, 'examples/sft.jsonl'))}`,
      `  eval: ${JSON.stringify(evalFile)}`,
      'lora: null',
      'learning_rate: 5.0e-3',
      'per_device_train_batch_size: 8',
      'max_length: 48',
      'logging_steps: 1',
      'eval_steps: 10',
      'save_steps: 5',
      `max_steps: ${MAX_STEPS}`,
      'seed: 3',
      'samples:',
      '  prompts: ["Shout kotaru", "Shout mibelo"]',
      '  every_steps: 10',
      '  max_new_tokens: 8',
      '  temperature: 0.3',
      '  top_p: 0.9',
      '',
    ].join('\n'),
  );
  return path;
}

interface ChartFigures {
  count: number;
  first: number;
  last: number;
}

async function chart(page: Page, metric: string): Promise<ChartFigures> {
  const el = page.locator(`[data-metric="${metric}"]`);
  const [count, first, last] = await Promise.all(['data-count', 'data-first', 'data-last'].map((a) => el.getAttribute(a)));
  return { count: Number(count), first: Number(first), last: Number(last) };
}

describe('browser dashboard served by the daemon', { timeout: 180_000 }, () => {
  let daemon: TestDaemon;
  let stateDir: string;
  let client: DaemonClient;
  let browser: Browser;
  let base: string;
  let runId: string;
  const pageErrors: string[] = [];
  const cleanups: (() => void)[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) spawnSync('bash', [join(ROOT, 'test/e2e/setup.sh')], { stdio: 'inherit' });
    mkdirSync(ARTIFACTS, { recursive: true });
    stateDir = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-browser-');
    daemon = await startTestDaemon(stateDir);
    client = await connect(daemon);
    base = `http://127.0.0.1:${daemon.port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  after(async () => {
    await browser?.close();
    client?.close();
    if (daemon) await stopTestDaemon(daemon);
    cleanups.forEach((fn) => fn());
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    return page;
  }

  test('a live run: the loss chart fills and falls; stop and resume keep every point exactly once', async () => {
    const recipe = writeRecipe(tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-browser-data-'));
    ({ run: { id: runId } } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe }));
    const page = await newPage();
    await page.goto(`${base}/#token=${daemon.token}`);
    // The token leaves the address bar as soon as the page has read it.
    assert.equal(new URL(page.url()).hash, '');
    await page.waitForSelector(`body[data-run-id="${runId}"][data-run-status="running"]`, { timeout: WAIT });
    await page.waitForFunction(() => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) >= 8, null, { timeout: WAIT });

    // Live points give a speed and an ETA.
    await page.waitForFunction(() => /steps\/s · ETA/.test(document.querySelector('#progress-text')?.textContent ?? ''), null, { timeout: WAIT });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-running.png'), fullPage: true });
    await page.locator('#stop-run').click();
    await page.waitForSelector('body[data-run-status="stopped"]', { timeout: WAIT });
    const stopped = await chart(page, 'loss');
    assert.ok(stopped.count >= 8 && stopped.count < MAX_STEPS, `${stopped.count} points when stopped`);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-stopped.png'), fullPage: true });

    await page.locator('#resume-run').click();
    await page.waitForSelector('body[data-run-status="completed"]', { timeout: WAIT });
    await page.waitForFunction((n) => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) === n, MAX_STEPS, { timeout: WAIT });

    const loss = await chart(page, 'loss');
    const stored = readMetricsFile(daemon.stateDir, runId).filter((m) => typeof m.loss === 'number');
    assert.equal(loss.count, stored.length, 'the chart holds exactly the stored points');
    assert.equal(loss.count, MAX_STEPS);
    assert.equal(loss.first, stored[0]!.loss);
    assert.equal(loss.last, stored[stored.length - 1]!.loss);
    assert.ok(loss.first > loss.last, `loss falls: ${loss.first} -> ${loss.last}`);
    // Every metric the run reports has a chart, grouped by namespace.
    for (const metric of ['learning_rate', 'grad_norm', 'train/tokens_per_second', 'eval/loss']) assert.ok((await chart(page, metric)).count > 0, metric);
    assert.equal(await page.locator('section[data-group="eval"] [data-metric="eval/loss"]').count(), 1);
    assert.match(await page.locator('#progress-text').innerText(), new RegExp(`step ${MAX_STEPS} / ${MAX_STEPS}`));

    // The display options change the drawing, never the data.
    await page.locator('#log-scale').click();
    await page.locator('#smoothing').fill('0.9');
    await page.waitForFunction(() => document.querySelector('[data-metric="loss"] .u-legend')?.textContent?.includes('smoothed'), null, { timeout: WAIT });
    assert.equal((await chart(page, 'loss')).count, MAX_STEPS);
    // Hover readout: the legend shows the value under the cursor.
    const plot = page.locator('[data-metric="loss"] .u-over');
    const box = (await plot.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-metric="loss"] .u-legend .u-series:nth-child(2) .u-value')?.textContent ?? ''), null, { timeout: WAIT });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    const redrawMs = Number(await page.evaluate(() => document.body.dataset.redrawMs));
    console.log(`dashboard: ${loss.count} loss points, ${loss.first.toFixed(3)} -> ${loss.last.toFixed(3)}; last redraw ${redrawMs} ms`);
    await page.context().close();
  });

  test('the samples page shows the completions, by step and by prompt', async () => {
    const page = await newPage();
    await page.goto(`${base}/?run=${runId}#token=${daemon.token}`);
    await page.waitForSelector(`body[data-run-id="${runId}"]`, { timeout: WAIT });
    // The nav link keeps the run; the token stays in this tab's session storage.
    await page.locator('nav a[data-view="samples"]').click();
    await page.waitForURL(/\/samples\?run=/);
    await page.waitForFunction(() => Number(document.body.dataset.sampleCount) > 0, null, { timeout: WAIT });
    const stored = readFileSync(join(daemon.stateDir, 'runs', runId, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; prompt: string; completion: string });
    assert.equal(Number(await page.evaluate(() => document.body.dataset.sampleCount)), stored.length);
    const newest = stored[stored.length - 1]!;
    const firstCard = page.locator('section.step').first();
    assert.equal(await firstCard.getAttribute('data-step'), String(newest.step));
    assert.ok((await firstCard.locator('pre.completion').allInnerTexts()).includes(newest.completion || '(empty completion)'));
    // Copy puts the completion on the clipboard.
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    const copy = firstCard.locator('vscode-button.copy').first();
    await copy.click();
    await page.waitForFunction(() => document.querySelector('section.step vscode-button.copy')?.textContent === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await firstCard.locator('pre.completion').first().innerText().then((t) => (t === '(empty completion)' ? '' : t)));
    await page.screenshot({ path: join(ARTIFACTS, 'samples-by-step.png'), fullPage: true });

    await page.locator('#mode-prompt').click();
    await page.waitForSelector('pre.prompt');
    const prompt = await page.locator('pre.prompt').innerText();
    const expected = stored.filter((s) => s.prompt === prompt);
    assert.ok(expected.length > 0, `prompt ${prompt} has samples`);
    assert.deepEqual(await page.locator('article.sample .badge').allInnerTexts(), expected.map((s) => `step ${s.step}`));
    await page.screenshot({ path: join(ARTIFACTS, 'samples-by-prompt.png'), fullPage: true });
    await page.context().close();
  });

  test('runs can be overlaid for comparison', async () => {
    const dir = tempDir({ after: (fn) => cleanups.push(fn) }, 'anneal-browser-data-');
    const recipe = writeRecipe(dir);
    writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(`max_steps: ${MAX_STEPS}`, 'max_steps: 12').replace('learning_rate: 5.0e-3', 'learning_rate: 1.0e-2'));
    const { run } = await client.connection.sendRequest(StartRun.type, { stage: 'sft', recipe });
    const completed = waitForStatus(client, run.id, (r) => r.status === 'completed');
    // Status notifications reach subscribed connections only; the run may have finished before that.
    const subscribed = await client.connection.sendRequest(Subscribe.type, { runId: run.id });
    if (subscribed.run.status !== 'completed') await completed;
    const page = await newPage();
    await page.goto(`${base}/?run=${run.id},${runId}#token=${daemon.token}`);
    await page.waitForSelector(`body[data-run-id="${run.id}"][data-run-status="completed"]`, { timeout: WAIT });
    await page.waitForFunction(() => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) === 12, null, { timeout: WAIT });
    // One raw and one smoothed line per run, each labelled with its run.
    const labels = await page.locator('[data-metric="loss"] .u-legend .u-series .u-label').allInnerTexts();
    assert.equal(labels.length, 5, labels.join(', '));
    assert.ok(labels.some((l) => l.includes(run.id.slice(-8))) && labels.some((l) => l.includes(runId.slice(-8))), labels.join(', '));
    assert.match(await page.locator('#run-title').innerText(), /\+1 overlaid/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-compare.png'), fullPage: true });
    await page.context().close();
  });

  test('without the token the page asks for it; a wrong token is refused, the right one connects', async () => {
    const page = await newPage();
    await page.goto(`${base}/?run=${runId}`);
    await page.waitForSelector('#anneal-login', { state: 'visible', timeout: WAIT });
    assert.equal(await page.locator('#app').isHidden(), true);

    // The daemon refuses a WebSocket with a wrong token, and accepts the right one from its own page.
    const tryToken = (token: string) =>
      page.evaluate(
        (t) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/`, ['anneal.v1', `anneal.token.${t}`]);
            ws.onopen = () => {
              ws.close();
              resolve('open');
            };
            ws.onclose = () => resolve('refused');
          }),
        token,
      );
    assert.equal(await tryToken('0'.repeat(64)), 'refused');
    assert.equal(await tryToken(daemon.token), 'open');

    await page.locator('#anneal-token').fill('f'.repeat(64));
    await page.locator('#anneal-token').press('Enter');
    await page.waitForFunction(() => /refused/.test(document.querySelector('#anneal-login-error')?.textContent ?? ''), null, { timeout: WAIT });
    await page.screenshot({ path: join(ARTIFACTS, 'login-refused.png'), fullPage: true });

    // Pasting the whole dashboard URL works too.
    await page.locator('#anneal-token').fill(`${base}/#token=${daemon.token}`);
    await page.locator('#anneal-login-submit').click();
    await page.waitForSelector('#anneal-login', { state: 'detached', timeout: WAIT });
    await page.waitForSelector(`body[data-run-id="${runId}"][data-run-status="completed"]`, { timeout: WAIT });
    assert.equal((await chart(page, 'loss')).count, MAX_STEPS);
    await page.context().close();
  });

  test('the page has a strict CSP and raised no errors', async () => {
    const res = await fetch(`${base}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal((await fetch(`${base}/webviews/dashboard.js`)).status, 200);
    assert.equal((await fetch(`${base}/webviews/../token`)).status, 404);
    // `anneal dashboard` prints this page's URL with the token in the fragment.
    const printed = spawnSync(process.execPath, [join(ROOT, 'dist/cli.js'), 'dashboard', '--state-dir', daemon.stateDir], { encoding: 'utf8' });
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal(printed.stdout.trim(), `${base}/#token=${daemon.token}`);
    // The only console errors allowed are the refused WebSockets the login test provoked on purpose.
    const unexpected = pageErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    assert.deepEqual(unexpected, []);
  });

  test('a restarted daemon: the page reconnects, asks for the new token, and keeps every point once', async () => {
    const page = await newPage();
    await page.goto(`${base}/?run=${runId}#token=${daemon.token}`);
    await page.waitForFunction((n) => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) === n, MAX_STEPS, { timeout: WAIT });
    const before = await chart(page, 'loss');
    client.close();
    await stopTestDaemon(daemon);
    await page.waitForFunction(() => /reconnecting/i.test(document.querySelector('#connection-banner')?.textContent ?? ''), null, { timeout: WAIT });
    // Same port (the page's origin), new token: the daemon writes a fresh one each start.
    daemon = await startTestDaemon(stateDir, ['--port', String(daemon.port)]);
    await page.waitForSelector('#anneal-login', { state: 'visible', timeout: WAIT });
    assert.match(await page.locator('#anneal-login-error').innerText(), /refused/);
    await page.screenshot({ path: join(ARTIFACTS, 'daemon-restarted-login.png'), fullPage: true });
    await page.locator('#anneal-token').fill(daemon.token);
    await page.locator('#anneal-token').press('Enter');
    await page.waitForSelector('#anneal-login', { state: 'detached', timeout: WAIT });
    // The re-subscription replays from the last step held (dropping it first): nothing lost or doubled.
    await page.waitForSelector('#connection-banner[hidden]', { state: 'attached', timeout: WAIT });
    await page.waitForSelector(`body[data-run-id="${runId}"][data-run-status="completed"]`, { timeout: WAIT });
    await page.waitForFunction((n) => Number(document.querySelector('[data-metric="loss"]')?.getAttribute('data-count')) === n, MAX_STEPS, { timeout: WAIT });
    assert.deepEqual(await chart(page, 'loss'), before);
    await page.context().close();
  });
});
