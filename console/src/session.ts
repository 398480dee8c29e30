// Who is logged in. The session itself is the server's HttpOnly cookie; the console only keeps
// the account, its role and the CSRF token in memory, and asks GET /auth/me after a reload.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, handleUnauthorized, request, setCsrfToken } from './api.ts';
import type { Me } from './types.ts';

export type SessionState = { readonly kind: 'checking' } | { readonly kind: 'anonymous'; readonly reason?: string } | { readonly kind: 'signed-in'; readonly me: Me };

let state: SessionState = { kind: 'checking' };
const listeners = new Set<(s: SessionState) => void>();

function set(next: SessionState): void {
  state = next;
  setCsrfToken(next.kind === 'signed-in' ? next.me.csrfToken : null);
  for (const listener of listeners) listener(next);
}

handleUnauthorized(() => {
  if (state.kind === 'signed-in') set({ kind: 'anonymous', reason: 'Your session has ended. Please log in again.' });
});

export function useSession(): SessionState {
  const [current, setCurrent] = useState(state);
  useEffect(() => {
    listeners.add(setCurrent);
    setCurrent(state);
    return () => void listeners.delete(setCurrent);
  }, []);
  return current;
}

/** On start: is there a live session cookie? */
export async function restoreSession(): Promise<void> {
  try {
    set({ kind: 'signed-in', me: await request<Me>('GET', '/auth/me', { expectUnauthorized: true }) });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) set({ kind: 'anonymous' });
    else set({ kind: 'anonymous', reason: err instanceof Error ? err.message : String(err) });
  }
}

/** Throws ApiError (401 invalid credentials, 429 too many attempts). */
export async function logIn(username: string, password: string): Promise<void> {
  const me = await request<Me>('POST', '/auth/login', { body: { username, password }, expectUnauthorized: true });
  set({ kind: 'signed-in', me });
}

export async function logOut(): Promise<void> {
  try {
    await request<void>('POST', '/auth/logout', { body: {}, expectUnauthorized: true });
  } finally {
    set({ kind: 'anonymous', reason: 'You have logged out.' });
  }
}
