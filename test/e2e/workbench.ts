// Opens the VS Code workbench of a running code-server in headless Chromium, with this repository
// loaded as the extension under development, and waits until the Explorer lists the workspace.
import { chromium, type Browser, type Page } from 'playwright-core';
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
