import assert from 'node:assert/strict';
import { test } from 'node:test';
import { panelCsp, panelHtml, scriptJson } from '../../../extension/client/panels/panelHtml.ts';

const base = {
  kind: 'dashboard' as const,
  title: 'Anneal <Dashboard>',
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'bm9uY2Vub25jZQ==',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webviews/dashboard.js',
  state: { kind: 'dashboard' as const, runIds: ['r1'] },
};

test('CSP allows only nonce scripts and local resources', () => {
  const csp = panelCsp(base.cspSource, base.nonce);
  assert.match(csp, /^default-src 'none'; /);
  assert.match(csp, /script-src 'nonce-bm9uY2Vub25jZQ=='(;|$)/);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
  assert.doesNotMatch(csp, /connect-src/);
  assert.match(csp, /font-src https:\/\/file\+\.vscode-resource\.vscode-cdn\.net/);
});

test('every script carries the nonce, the body names the view kind, the title is escaped', () => {
  const html = panelHtml(base);
  const scripts = html.match(/<script[^>]*>/g) ?? [];
  assert.equal(scripts.length, 2);
  for (const s of scripts) assert.ok(s.includes(`nonce="${base.nonce}"`), s);
  assert.match(html, /<body data-view-kind="dashboard">/);
  assert.match(html, /<title>Anneal &#60;Dashboard&#62;<\/title>/);
  assert.ok(html.includes(base.scriptUri));
  assert.doesNotMatch(html, /vscode-codicon-stylesheet/);
  const withCss = panelHtml({ ...base, styleUri: 'x/dashboard.css', codiconUri: 'x/codicon.css' });
  assert.match(withCss, /<link rel="stylesheet" id="vscode-codicon-stylesheet" href="x\/codicon.css">/);
  assert.match(withCss, /<link rel="stylesheet" href="x\/dashboard.css">/);
});

test('state embedded in the bootstrap cannot close the script element', () => {
  const html = panelHtml({ ...base, state: { kind: 'pairs', uri: 'file:///a/</script><b>.jsonl' } });
  assert.equal(html.match(/<\/script>/g)?.length, 2);
  assert.equal(JSON.parse(scriptJson('</script>\u2028')), '</script>\u2028');
});
