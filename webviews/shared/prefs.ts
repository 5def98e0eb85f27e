// Display preferences a view keeps across reloads: in VS Code inside the webview state (merged, so the
// panel state the host's serializer needs survives), in a browser in localStorage.

import { vscodeApi } from './vscodeChannel.ts';

const KEY = 'anneal.prefs';

/** The stored preferences of this view, or {} when none (or unreadable). */
export function loadPrefs(view: string): Record<string, unknown> {
  try {
    const vscode = vscodeApi();
    const all = vscode ? (vscode.getState() as Record<string, unknown> | undefined)?.[KEY] : JSON.parse(localStorage.getItem(KEY) ?? '{}');
    const mine = (all as Record<string, unknown> | undefined)?.[view];
    return typeof mine === 'object' && mine !== null ? (mine as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Stores this view's preferences. */
export function savePrefs(view: string, prefs: Record<string, unknown>): void {
  try {
    const vscode = vscodeApi();
    if (vscode) {
      const state = (vscode.getState() as Record<string, unknown> | undefined) ?? {};
      const all = { ...((state[KEY] as Record<string, unknown> | undefined) ?? {}), [view]: prefs };
      vscode.setState({ ...state, [KEY]: all });
    } else {
      const all = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Record<string, unknown>;
      localStorage.setItem(KEY, JSON.stringify({ ...all, [view]: prefs }));
    }
  } catch {
    /* storage unavailable: preferences last for this page only */
  }
}
