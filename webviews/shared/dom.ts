// A small element builder: views build their DOM in code (no innerHTML, so no markup injection from
// run data and nothing a strict CSP must allow).

type Child = Node | string | null | undefined | false;

/** Creates an element with attributes (`data-*`, `aria-*`, anything) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Record<string, string | number | boolean | undefined>, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Record<string, string | number | boolean | undefined>, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** Sets an attribute only when it changed (observers and tests see real changes only). */
export function setAttr(el: Element, name: string, value: string | undefined): void {
  if (value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** Shows `text` in a banner (styled as an error when `error`), or hides the banner when there is none. */
export function showBanner(banner: HTMLElement, text: string | undefined, error: boolean): void {
  banner.hidden = !text;
  banner.textContent = text ?? '';
  banner.classList.toggle('error', error);
}

/** A function that asks for `draw` on the next animation frame; calls before it runs coalesce into one draw. */
export function frameScheduler(draw: () => void): () => void {
  let frame = 0;
  return () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      draw();
    });
  };
}
