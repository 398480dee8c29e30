// The one way the console talks to the server: fetch with the session cookie, the CSRF token on
// every state-changing request, and every failure turned into an ApiError carrying the
// server's problem details (RFC 9457), whose `detail` is what the person is shown.
import type { Problem } from './types.ts';

export type QueryValue = string | number | boolean | null | undefined;
export type Query = Readonly<Record<string, QueryValue>>;

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail);
    this.name = 'ApiError';
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

/** Kept in memory only (never in storage another script could read); restored by GET /auth/me. */
let csrfToken: string | null = null;
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * Called when a request answers 401: the session ended (expired, logged out elsewhere). Resolves
 * true once the same person has logged in again (the request is then sent once more), false when
 * they gave up (the request fails with its 401).
 */
let onUnauthorized: () => Promise<boolean> = async () => false;
export function handleUnauthorized(callback: () => Promise<boolean>): void {
  onUnauthorized = callback;
}

/** '?a=1&b=x' from a query, leaving out empty values; '' when nothing is left (API and console addresses alike). */
export function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '' || value === false) continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `?${qs}` : '';
}

/** `/api/v1${path}?query`, leaving out empty values. */
export function apiUrl(path: string, query: Query = {}): string {
  return `/api/v1${path}${queryString(query)}`;
}

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).detail === 'string' && typeof (value as Problem).status === 'number';
}

/** Retry-After in seconds (RFC 9110 §10.2.3: seconds or an HTTP date), undefined when absent. */
function retryAfterOf(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text().catch(() => '');
  const retryAfter = retryAfterOf(res);
  const extra = retryAfter === undefined ? {} : { retryAfter };
  try {
    const body: unknown = JSON.parse(text);
    if (isProblem(body)) return { ...body, ...extra };
  } catch {
    // not JSON: a proxy's error page, for instance
  }
  return { type: 'about:blank', title: res.statusText || 'Error', status: res.status, detail: `The server answered ${res.status} ${res.statusText}.`, ...extra };
}

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Do not treat a 401 as "the session ended" (the login and session probes expect it). */
  readonly expectUnauthorized?: boolean;
}

/** Set on the one repeat after a new login, so a second 401 is not asked about again. */
interface Attempt extends RequestOptions {
  readonly repeated?: boolean;
}

export async function request<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, opts: Attempt = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(apiUrl(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? null : JSON.stringify(opts.body),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError({ type: 'about:blank', title: 'Network error', status: 0, detail: 'The server could not be reached. Check the connection and try again.' });
  }
  if (!res.ok) {
    const problem = await problemOf(res);
    // The session ended: the person logs in again over the page (which keeps its state), then
    // this request goes once more. It was refused, so sending it again does nothing twice.
    if (res.status === 401 && !opts.expectUnauthorized && !opts.repeated && (await onUnauthorized())) {
      return request<T>(method, path, { ...opts, repeated: true });
    }
    throw new ApiError(problem);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T,>(path: string, query?: Query, signal?: AbortSignal) => request<T>('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) });
export const post = <T,>(path: string, body?: unknown) => request<T>('POST', path, { body: body ?? {} });
export const put = <T,>(path: string, body: unknown) => request<T>('PUT', path, { body });
/** DELETE, with a body when the route takes one (a legal hold's release reason). */
export const del = <T = void,>(path: string, body?: unknown) => request<T>('DELETE', path, body === undefined ? {} : { body });

/** The message to show for anything a request threw. */
export function problemFrom(err: unknown): Problem {
  if (err instanceof ApiError) return err.problem;
  return { type: 'about:blank', title: 'Error', status: 0, detail: err instanceof Error ? err.message : String(err) };
}
