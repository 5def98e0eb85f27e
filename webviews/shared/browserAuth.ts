// The browser page's credentials: the token arrives in the URL fragment (`#token=...`, which browsers
// never send to a server), is kept in sessionStorage for this tab (so the dashboard <-> samples links
// need no token) and removed from the address bar. Without one, or when the daemon refuses it (a
// restarted daemon has a new token), a login form asks for it.

import { BrowserChannel } from './browserChannel.ts';
import { ListeningChannel } from './channel.ts';
import { h } from './dom.ts';

const STORAGE_KEY = 'anneal.token';

/** The token in a fragment such as `#token=abc` (also accepts a whole pasted dashboard URL). */
export function tokenFromText(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const hashAt = trimmed.indexOf('#');
  if (hashAt >= 0 || trimmed.includes('=')) {
    const fragment = hashAt >= 0 ? trimmed.slice(hashAt + 1) : trimmed;
    return new URLSearchParams(fragment).get('token')?.trim() || undefined;
  }
  return trimmed;
}

function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

function storeToken(token: string | undefined): void {
  try {
    if (token) sessionStorage.setItem(STORAGE_KEY, token);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage disabled: the user pastes the token again on the next page */
  }
}

/** Takes the token from the fragment (then hides it) or from this tab's storage. */
export function initialToken(): string | undefined {
  const fromHash = location.hash.length > 1 ? tokenFromText(location.hash) : undefined;
  if (fromHash) {
    storeToken(fromHash);
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return storedToken();
}

/** The daemon's WebSocket URL: the origin that served this page. */
export function daemonSocketUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
}

/**
 * A FrameChannel that owns the login: it connects with the current token and, when there is none or
 * the daemon refuses it, shows the form and reconnects with what the user enters.
 */
export class BrowserAuthChannel extends ListeningChannel {
  private inner: BrowserChannel | undefined;
  private form: HTMLElement | undefined;

  /** `app`: the view's root, hidden while the form shows. */
  constructor(private readonly app: HTMLElement, private token = initialToken()) {
    super();
  }

  send(frame: string): void {
    this.inner?.send(frame);
  }

  start(): void {
    if (this.token) this.connect(this.token);
    else this.showLogin();
  }

  private connect(token: string): void {
    this.inner?.dispose();
    const channel = new BrowserChannel(daemonSocketUrl(), token);
    this.inner = channel;
    channel.onFrame((frame) => {
      if (this.inner === channel) this.frames.fire(frame);
    });
    channel.onState((event) => {
      if (this.inner !== channel) return;
      this.state = event.state;
      if (event.state === 'open') {
        storeToken(token);
        this.hideLogin();
      }
      this.states.fire(event);
      if (event.refused) {
        storeToken(undefined);
        this.showLogin(event.reason);
      }
    });
    channel.start();
  }

  private hideLogin(): void {
    this.form?.remove();
    this.form = undefined;
    this.app.hidden = false;
  }

  private showLogin(error?: string): void {
    this.app.hidden = true;
    this.form?.remove();
    const input = h('input', { type: 'password', id: 'anneal-token', name: 'token', autocomplete: 'off', spellcheck: 'false', placeholder: 'token, or the whole dashboard URL', 'aria-label': 'Daemon token' });
    const submit = h('vscode-button', { id: 'anneal-login-submit' }, 'Connect');
    const message = h('p', { class: 'anneal-banner error', id: 'anneal-login-error', role: 'alert', hidden: !error }, error ?? '');
    const form = h(
      'form',
      { class: 'anneal-login', id: 'anneal-login' },
      h('h1', {}, 'Connect to the Anneal daemon'),
      h('p', {}, 'Paste the token printed by ', h('code', {}, 'anneal dashboard'), ' (or read ', h('code', {}, '<stateDir>/token'), ').'),
      h('div', { class: 'row' }, input, submit),
      message,
    );
    const go = (event?: Event) => {
      event?.preventDefault();
      const token = tokenFromText(input.value);
      if (!token) {
        message.textContent = 'Enter the token first.';
        message.hidden = false;
        return;
      }
      message.hidden = true;
      this.token = token;
      this.connect(token);
    };
    form.addEventListener('submit', go);
    // Enter in the field submits the form; the button is a custom element, so it gets its own click.
    submit.addEventListener('click', go);
    this.form = form;
    this.app.before(form);
    input.focus();
  }
}
