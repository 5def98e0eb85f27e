// How a daemon view starts: pick its channel (VS Code relay or browser WebSocket) and its session.
// The view code above this never asks which one it got, except to show browser-only navigation.

import { BrowserAuthChannel } from './browserAuth.ts';
import type { FrameChannel } from './channel.ts';
import { DaemonSession } from './daemonSession.ts';
import { h } from './dom.ts';
import { VsCodeChannel, vscodeApi } from './vscodeChannel.ts';

export interface ViewBoot {
  session: DaemonSession;
  channel: FrameChannel;
  host: 'vscode' | 'browser';
  /** Runs named in the page URL (`?run=a,b`), browser only. */
  urlRuns: string[];
}

/** Creates the channel and session for a view rooted at `app`; call `session.start()` when listeners are set. */
export function bootView(app: HTMLElement, clientName = 'anneal-dashboard'): ViewBoot {
  const vscode = vscodeApi();
  const channel: FrameChannel = vscode ? new VsCodeChannel(vscode) : new BrowserAuthChannel(app);
  const urlRuns = vscode ? [] : (new URLSearchParams(location.search).get('run') ?? '').split(',').filter(Boolean);
  return { session: new DaemonSession(channel, clientName), channel, host: vscode ? 'vscode' : 'browser', urlRuns };
}

/** The browser page's header: links between the dashboard and the samples for the same runs. */
export function browserNav(current: 'dashboard' | 'samples', runIds: () => string[]): HTMLElement {
  const link = (view: 'dashboard' | 'samples', label: string) => {
    const a = h('a', { href: view === 'dashboard' ? '/' : '/samples', 'data-view': view, 'aria-current': view === current ? 'page' : undefined }, label);
    // The run selection travels in the query; the token stays in this tab's sessionStorage.
    a.addEventListener('click', () => {
      const ids = runIds();
      a.href = (view === 'dashboard' ? '/' : '/samples') + (ids.length > 0 ? `?run=${ids.map(encodeURIComponent).join(',')}` : '');
    });
    return a;
  };
  return h('nav', { class: 'anneal-nav' }, h('span', { class: 'brand' }, 'Anneal'), link('dashboard', 'Dashboard'), link('samples', 'Samples'));
}

/** Keeps `?run=` in the address bar in step with the runs shown (browser only). */
export function syncUrlRuns(runIds: string[]): void {
  const url = new URL(location.href);
  if (runIds.length > 0) url.searchParams.set('run', runIds.join(','));
  else url.searchParams.delete('run');
  history.replaceState(null, '', url.pathname + url.search);
}
