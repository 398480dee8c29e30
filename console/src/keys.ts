// Keyboard shortcuts. A person who reviews incidents all day should not need the mouse:
// j/k move, Enter opens, u goes back, / searches, g then a letter jumps to a page, ? shows help.
import { useEffect, useRef } from 'preact/hooks';

/** Open modal dialogs (components/modal.tsx): while there is one, no page or shell shortcut runs. */
let openModals = 0;

/** Called by a modal dialog when it opens; call the returned function when it closes. */
export function modalOpened(): () => void {
  openModals += 1;
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    openModals -= 1;
  };
}

export const isModalOpen = (): boolean => openModals > 0;

/** A handler returning false declines the key: it goes on to the next listener. */
export type KeyMap = Readonly<Record<string, (event: KeyboardEvent) => void | boolean>>;

/** Typing in a field is not a shortcut (except Escape, which leaves the field). */
function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

/**
 * Binds `keys` (KeyboardEvent.key values: 'j', 'Enter', '?', 'Escape') while the component is
 * mounted. The latest map is used on each press, so handlers may close over fresh state. A key
 * whose handler runs is consumed (preventDefault), so later listeners skip it.
 */
export function useKeys(keys: KeyMap, opts: { first?: boolean } = {}): void {
  const current = useRef(keys);
  current.current = keys;
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      // A dialog is open: it has its own keys (Esc, Tab, its buttons); the page behind is inert.
      if (openModals > 0) return;
      if (typingIn(event.target) && event.key !== 'Escape') return;
      // Enter on a focused link or button already does its own thing.
      if (event.key === 'Enter' && event.target instanceof HTMLElement && event.target.closest('a,button')) return;
      const handler = current.current[event.key];
      if (handler === undefined) return;
      if (handler(event) === false) return;
      event.preventDefault();
    };
    // `first`: on the window in the capture phase, ahead of every page's own keys (the shell's
    // "g then a letter" must win over a page's own use of that letter).
    const target: EventTarget = opts.first ? window : document;
    const capture = opts.first === true;
    target.addEventListener('keydown', onKey as EventListener, capture);
    return () => target.removeEventListener('keydown', onKey as EventListener, capture);
  }, [opts.first]);
}

/** Scrolls the row marked selected into view when it is out of it. */
export function scrollSelectedIntoView(container: HTMLElement | null): void {
  const row = container?.querySelector<HTMLElement>('[aria-selected="true"]');
  row?.scrollIntoView({ block: 'nearest' });
}
