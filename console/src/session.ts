// Who is logged in. The session itself is the server's HttpOnly cookie; the console only keeps
// the account, its role and the CSRF token in memory, and asks GET /auth/me after a reload.
//
// When the session ends under a signed-in person (idle timeout, ended elsewhere: any request
// answers 401), the page stays mounted but hidden — a half-written note or a filled form is not
// lost — and a dialog asks that same account's password again. Requests refused meanwhile wait
// for it and are sent again; choosing "Log out" instead ends everything. Either way the lists
// the console kept in memory are forgotten at once (memory.ts).
import { useEffect, useState } from 'preact/hooks';
import { ApiError, handleUnauthorized, request, setCsrfToken } from './api.ts';
import { forgetEverything } from './memory.ts';
import { HOME, navFor } from './nav.ts';
import { navigate, parseHash } from './router.ts';
import type { Me } from './types.ts';

export type SessionState =
  | { readonly kind: 'checking' }
  | { readonly kind: 'anonymous'; readonly reason?: string }
  /** `expired`: the server no longer knows the session; the page waits for the password again. */
  | { readonly kind: 'signed-in'; readonly me: Me; readonly expired: boolean };

let state: SessionState = { kind: 'checking' };
const listeners = new Set<(s: SessionState) => void>();
/** Requests that met the 401, waiting for the person to log in again (true) or out (false). */
let waiting: ((again: boolean) => void)[] = [];

function set(next: SessionState): void {
  state = next;
  setCsrfToken(next.kind === 'signed-in' && !next.expired ? next.me.csrfToken : null);
  for (const listener of listeners) listener(next);
}

function wake(again: boolean): void {
  const waiters = waiting;
  waiting = [];
  for (const resolve of waiters) resolve(again);
}

handleUnauthorized(() => {
  if (state.kind !== 'signed-in') return Promise.resolve(false);
  if (!state.expired) {
    forgetEverything();
    set({ ...state, expired: true });
  }
  return new Promise<boolean>((resolve) => waiting.push(resolve));
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
    set({ kind: 'signed-in', me: await request<Me>('GET', '/auth/me', { expectUnauthorized: true }), expired: false });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) set({ kind: 'anonymous' });
    else set({ kind: 'anonymous', reason: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * Where a person lands after logging in: the address they came with when it is one of their
 * role's pages (a bookmark, a link from a colleague), else their role's home page.
 */
function land(me: Me): void {
  const section = parseHash(location.hash).path[0];
  if (section !== undefined && navFor(me.role).some((item) => item.path === `/${section}`)) return;
  navigate(HOME[me.role], {}, { replace: true });
}

/** Throws ApiError (401 invalid credentials, 429 too many attempts). */
export async function logIn(username: string, password: string): Promise<void> {
  const me = await request<Me>('POST', '/auth/login', { body: { username, password }, expectUnauthorized: true });
  forgetEverything();
  land(me);
  set({ kind: 'signed-in', me, expired: false });
}

/** After the session ended: the same account logs in again and the page carries on. Throws ApiError. */
export async function resumeSession(password: string): Promise<void> {
  if (state.kind !== 'signed-in') return;
  const username = state.me.username;
  const me = await request<Me>('POST', '/auth/login', { body: { username, password }, expectUnauthorized: true });
  set({ kind: 'signed-in', me, expired: false });
  wake(true);
}

export async function logOut(): Promise<void> {
  try {
    await request<void>('POST', '/auth/logout', { body: {}, expectUnauthorized: true });
  } catch {
    // Already ended (401), or the server is unreachable: this browser forgets it all the same.
  } finally {
    forgetEverything();
    // The address may name what was open (a search for a keyword, an incident): not for the next person.
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    set({ kind: 'anonymous', reason: 'You have logged out.' });
    wake(false);
  }
}
