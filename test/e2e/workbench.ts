// Opens the VS Code workbench of a running code-server in headless Chromium, with this repository
// loaded as the extension under development, and waits until the Explorer lists the workspace; plus
// the two ways tests drive it as a user would (the command palette and Quick Open) and a way to reach
// the inside of our webviews.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { chromiumPath, type CodeServer } from './codeServer.ts';

/** How long one workbench step may take (first loads on a busy machine are slow). */
export const LONG = 90_000;

/** Launches Chromium on `workspace` in `server`; console errors are appended to `consoleErrors`. */
export async function openWorkbench(server: CodeServer, repoRoot: string, workspace: string, consoleErrors: string[]): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  const payload = JSON.stringify([['extensionDevelopmentPath', `vscode-remote://127.0.0.1:${server.port}${repoRoot}`]]);
  await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: LONG });
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: LONG });
  return { browser, page };
}

/**
 * Types `text` into a quick input opened by `key` and accepts the row labelled `label`. A quick input
 * closes when something else takes focus while the workbench is still settling (a notification, a
 * late editor), so a row that never becomes visible is retried with a fresh quick input.
 */
async function pickFromQuickInput(page: Page, key: string, text: string, label: string): Promise<void> {
  const row = page.locator(`.quick-input-list .monaco-list-row[aria-label*="${label}"]`).first();
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press(key);
    await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: LONG });
    await page.keyboard.type(text);
    try {
      await row.waitFor({ state: 'visible', timeout: attempt < 3 ? LONG / 3 : LONG });
      await page.keyboard.press('Enter');
      return;
    } catch (error) {
      if (attempt >= 3) throw error;
      await page.keyboard.press('Escape');
    }
  }
}

/** Runs a command from the palette by its full title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await pickFromQuickInput(page, 'F1', title, title);
}

/** Opens a workspace file through Quick Open and waits for its tab to be the active one. */
export async function openFile(page: Page, name: string): Promise<void> {
  await pickFromQuickInput(page, 'Control+P', name, name);
  await page.waitForSelector(`.tab.active[aria-label*="${name}"]`, { timeout: LONG });
}

/** The webview frame whose body has data-view-kind=`kind` (code-server nests it two iframes deep). */
export async function viewFrame(page: Page, kind: string): Promise<Frame> {
  const deadline = Date.now() + LONG;
  while (Date.now() < deadline) {
    for (const frame of page.frames()) {
      const found = await frame.$(`body[data-view-kind="${kind}"]`).catch(() => null);
      if (found) return frame;
    }
    // Wait for the next frame to load rather than spinning.
    await page.waitForEvent('framenavigated', { timeout: 2000 }).catch(() => undefined);
  }
  throw new Error(`no ${kind} webview appeared within ${LONG} ms`);
}

/**
 * Ends an e2e session: the browser, code-server, the daemon the session started (detached, so it
 * outlives code-server; its pid is in the state dir) and the temporary folders.
 */
export async function closeWorkbench(s: { browser?: Browser; server?: CodeServer; stateDir?: string; workspace?: string }): Promise<void> {
  await s.browser?.close();
  await s.server?.stop();
  if (s.stateDir) {
    try {
      const info = JSON.parse(readFileSync(join(s.stateDir, 'daemon.json'), 'utf8')) as { pid: number };
      process.kill(info.pid, 'SIGKILL');
    } catch {
      // never started, or gone
    }
  }
  for (const dir of [s.workspace, s.stateDir]) if (dir) rmSync(dir, { recursive: true, force: true });
}
