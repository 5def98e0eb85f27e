// The HTML shell every Anneal webview gets. Pure (no vscode import) so the CSP can be unit-tested.
import type { PanelState, ViewKind } from '../../../core/protocol/webview.ts';

export interface PanelHtmlInput {
  kind: ViewKind;
  title: string;
  /** `webview.cspSource`: the origin VS Code serves local resources from. */
  cspSource: string;
  /** Base64 from crypto.randomBytes; one per HTML document. */
  nonce: string;
  scriptUri: string;
  /** `dist/webviews/<kind>.css` when the bundle has one. */
  styleUri?: string;
  /** `dist/codicons/codicon.css`: @vscode-elements' <vscode-icon> looks for `link#vscode-codicon-stylesheet`. */
  codiconUri?: string;
  state: PanelState;
}

/**
 * The Content-Security-Policy for a panel. Nothing is reachable but our own nonce'd scripts and
 * resources from `dist/`; the views talk to the daemon only through the host, so no connect-src.
 * style-src keeps 'unsafe-inline' because Lit (under @vscode-elements) falls back to <style> elements
 * and uPlot writes `style` attributes on the elements it creates.
 */
export function panelCsp(cspSource: string, nonce: string): string {
  return [
    `default-src 'none'`,
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'unsafe-inline'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** Escapes text for an HTML attribute or text node. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON that is safe inside an inline <script> (no `</script>`, no U+2028 surprises). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The bootstrap runs before the view's bundle. `acquireVsCodeApi` may be called only once per page, so
 * it is called here and replaced by a function returning the same object: the view calls it as usual.
 * The panel's PanelState is merged into the webview state so the serializer can revive the panel after
 * a reload, and again on each `panel/state` message (a view that stores its own state should merge with
 * `getState()` and keep these fields).
 */
function bootstrap(state: PanelState): string {
  return (
    `(function(){var api=acquireVsCodeApi();window.acquireVsCodeApi=function(){return api};` +
    `function keep(s){var prev=api.getState();api.setState(Object.assign({},prev&&typeof prev==='object'?prev:{},s));}` +
    `keep(${scriptJson(state)});` +
    `window.addEventListener('message',function(e){var m=e.data;if(m&&m.type==='panel/state'&&m.state)keep(m.state);});})();`
  );
}

/** The complete HTML document for a panel. */
export function panelHtml(input: PanelHtmlInput): string {
  const { nonce } = input;
  const links = [
    input.codiconUri ? `<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${escapeHtml(input.codiconUri)}">` : '',
    input.styleUri ? `<link rel="stylesheet" href="${escapeHtml(input.styleUri)}">` : '',
  ]
    .filter(Boolean)
    .join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeHtml(panelCsp(input.cspSource, nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${links}
    <title>${escapeHtml(input.title)}</title>
  </head>
  <body data-view-kind="${escapeHtml(input.kind)}">
    <script nonce="${nonce}">${bootstrap(input.state)}</script>
    <script nonce="${nonce}" src="${escapeHtml(input.scriptUri)}"></script>
  </body>
</html>
`;
}
