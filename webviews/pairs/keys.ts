// Keyboard shortcuts of the pair inspector, as a pure mapping from a key press to an action so the
// bindings are tested without a browser. Keys typed into the search field or an editor never act.

export type KeyAction = 'next' | 'previous' | 'nextFlagged' | 'previousFlagged' | 'first' | 'last' | 'pageDown' | 'pageUp' | 'swap' | 'editChosen' | 'editRejected' | 'delete' | 'reveal' | 'search';

export interface KeyPress {
  key: string;
  shiftKey?: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  /** True when focus is in a text field, textarea or other editable element. */
  inEditable: boolean;
}

/** The action for a key press, or undefined to let the browser handle it. */
export function keyAction(press: KeyPress): KeyAction | undefined {
  if (press.inEditable || press.ctrlKey || press.metaKey || press.altKey) return undefined;
  switch (press.key) {
    case 'j':
    case 'ArrowDown':
      return 'next';
    case 'k':
    case 'ArrowUp':
      return 'previous';
    case 'n':
      return 'nextFlagged';
    case 'N':
    case 'p':
      return 'previousFlagged';
    case 'Home':
    case 'g':
      return 'first';
    case 'End':
    case 'G':
      return 'last';
    case 'PageDown':
      return 'pageDown';
    case 'PageUp':
      return 'pageUp';
    case 's':
      return 'swap';
    case 'e':
      return 'editChosen';
    case 'E':
      return 'editRejected';
    case 'Delete':
      return 'delete';
    case 'Enter':
    case 'o':
      return 'reveal';
    case '/':
      return 'search';
    default:
      return undefined;
  }
}
