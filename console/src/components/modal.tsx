// A modal dialog: the page behind it is inert (no clicks, no focus, no shortcuts), Tab and
// Shift+Tab stay inside it, Esc closes it (when it may be closed), and focus returns to what had
// it before. Used for the keyboard help, confirmations and the re-login after a session ended.
import type { ComponentChildren } from 'preact';
import { createPortal } from 'preact/compat';
import { useId, useLayoutEffect, useRef } from 'preact/hooks';
import { modalOpened } from '../keys.ts';
import type { Problem } from '../types.ts';
import { ProblemBox } from './problem.tsx';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The console's root: made inert while a dialog is open (the dialog is rendered outside it). */
const appRoot = () => document.getElementById('app');
let inertDepth = 0;

export interface ModalProps {
  readonly title: string;
  /** Esc, a click beside the dialog and its close buttons call it; absent: the dialog must be answered. */
  readonly onClose?: () => void;
  readonly class?: string;
  readonly children: ComponentChildren;
}

export function Modal({ title, onClose, class: extra, children }: ModalProps) {
  const box = useRef<HTMLDivElement>(null);
  const titleId = useId();
  // A layout effect: opening and closing take hold in the same commit as the dialog's DOM (Preact
  // runs a passive effect's cleanup only after the next paint: a key pressed just after closing
  // would still find the page inert).
  useLayoutEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const closed = modalOpened();
    const root = appRoot();
    inertDepth += 1;
    root?.setAttribute('inert', '');
    const first = box.current?.querySelector<HTMLElement>('[data-autofocus]') ?? box.current?.querySelector<HTMLElement>(FOCUSABLE);
    (first ?? box.current)?.focus();
    return () => {
      closed();
      inertDepth -= 1;
      if (inertDepth === 0) root?.removeAttribute('inert');
      if (before?.isConnected) before.focus();
    };
  }, []);

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onClose?.();
      return;
    }
    if (event.key !== 'Tab' || !box.current) return;
    const focusable = [...box.current.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (!first || !last) {
      event.preventDefault();
      return;
    }
    const active = document.activeElement;
    if (event.shiftKey && (active === first || !box.current.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !box.current.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  };

  return createPortal(
    <div class="overlay" onMouseDown={(e) => e.target === e.currentTarget && onClose?.()} onKeyDown={onKeyDown}>
      <div ref={box} class={`card dialog${extra ? ` ${extra}` : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} tabIndex={-1}>
        <h2 id={titleId}>{title}</h2>
        {children}
      </div>
    </div>,
    document.body,
  );
}

/** "Are you sure?" for an action that cannot be taken back; the confirming button has the focus (Enter). */
export function ConfirmDialog({
  title,
  confirmLabel,
  danger = false,
  busy = false,
  problem,
  onConfirm,
  onCancel,
  children,
}: {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  problem?: Problem | null;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  return (
    <Modal title={title} onClose={onCancel} class="confirm">
      {children}
      <ProblemBox problem={problem} />
      <div class="button-row">
        <button type="button" class={danger ? 'danger-solid' : 'primary'} data-autofocus disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel <kbd>Esc</kbd>
        </button>
      </div>
    </Modal>
  );
}
