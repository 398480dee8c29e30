// Console login sessions: a random cookie value (only its SHA-256 is stored) and a CSRF token per
// session. A session ends after `idleMs` without a request or `absoluteMs` after login,
// whichever is first; logout, a password change and account deletion end it at once.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Role } from '../api/principal.ts';

export interface ConsoleSession {
  readonly account: string;
  readonly role: Role;
  readonly csrfToken: string;
  readonly expiresAt: Date;
}

export interface SessionStoreOptions {
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly now?: () => number;
}

export interface ConsoleSessionStore {
  /** Starts a session; the cookie value is returned once and never stored. */
  create(account: string, role: Role, ip: string): Promise<{ cookie: string; session: ConsoleSession }>;
  /** The live session of a cookie (and slides its idle expiry); undefined when unknown or expired. */
  lookup(cookie: string): Promise<ConsoleSession | undefined>;
  end(cookie: string): Promise<void>;
}

const hashOf = (cookie: string) => createHash('sha256').update(cookie, 'utf8').digest();
/** last_seen_at is written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 60_000;

export function createConsoleSessionStore(sql: Sql, opts: SessionStoreOptions): ConsoleSessionStore {
  const now = opts.now ?? Date.now;
  return {
    async create(account, role, ip) {
      const cookie = randomBytes(32).toString('base64url');
      const csrfToken = randomBytes(24).toString('base64url');
      const t = now();
      const expiresAt = new Date(t + opts.absoluteMs);
      await sql`
        INSERT INTO console_sessions (id_hash, account, csrf_token, ip, created_at, last_seen_at, expires_at)
        VALUES (${hashOf(cookie)}, ${account}, ${csrfToken}, ${ip}, ${new Date(t)}, ${new Date(t)}, ${expiresAt})`;
      // Expired sessions of everyone are swept here rather than by a timer: logins are rare.
      await sql`DELETE FROM console_sessions WHERE expires_at < ${new Date(t)} OR last_seen_at < ${new Date(t - opts.idleMs)}`;
      return { cookie, session: { account, role, csrfToken, expiresAt } };
    },
    async lookup(cookie) {
      const t = now();
      const [row] = await sql<{ account: string; role: Role; csrf_token: string; expires_at: Date; last_seen_at: Date }[]>`
        SELECT s.account, a.role, s.csrf_token, s.expires_at, s.last_seen_at
        FROM console_sessions s JOIN console_accounts a ON a.username = s.account
        WHERE s.id_hash = ${hashOf(cookie)}`;
      if (row === undefined) return undefined;
      if (row.expires_at.getTime() <= t || row.last_seen_at.getTime() + opts.idleMs <= t) return undefined;
      if (t - row.last_seen_at.getTime() >= TOUCH_EVERY_MS) {
        await sql`UPDATE console_sessions SET last_seen_at = ${new Date(t)} WHERE id_hash = ${hashOf(cookie)}`;
      }
      return { account: row.account, role: row.role, csrfToken: row.csrf_token, expiresAt: row.expires_at };
    },
    async end(cookie) {
      await sql`DELETE FROM console_sessions WHERE id_hash = ${hashOf(cookie)}`;
    },
  };
}
