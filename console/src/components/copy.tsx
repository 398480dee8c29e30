// "Copy" buttons: the clipboard API where the browser allows it (HTTPS or localhost), else the
// old select-and-copy; either way the button says whether it worked.
import { useEffect, useState } from 'preact/hooks';

/** Copies `text`; resolves false when the browser refused. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context, or no permission: fall back to a hidden field and execCommand.
  }
  const field = document.createElement('textarea');
  field.value = text;
  field.setAttribute('readonly', '');
  field.className = 'offscreen';
  document.body.appendChild(field);
  field.select();
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  } finally {
    field.remove();
  }
}

export type CopyState = 'idle' | 'copied' | 'failed';

/** A copy action with feedback that fades after a moment (also for keyboard shortcuts). */
export function useCopy(): [CopyState, (text: string) => void] {
  const [state, setState] = useState<CopyState>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 1800);
    return () => clearTimeout(timer);
  }, [state]);
  return [state, (text: string) => void copyText(text).then((ok) => setState(ok ? 'copied' : 'failed'))];
}

export function CopyButton({ text, label, title }: { text: string; label: string; title?: string }) {
  const [state, copy] = useCopy();
  return (
    <button type="button" class={`link copy${state === 'idle' ? '' : ` ${state}`}`} onClick={() => copy(text)} title={title ?? `Copy ${label}`}>
      {state === 'copied' ? 'Copied ✓' : state === 'failed' ? 'Copy failed — select it' : label}
    </button>
  );
}
