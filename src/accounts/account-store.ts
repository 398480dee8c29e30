// Console accounts (migrations/0008_console.sql): the people who use the web console and API.
// Not chat accounts. The store sees only password hashes (password-hash.ts). Each change takes
// an optional InTransaction step (the access-log entry), run in the change's own transaction:
// the change and its record commit together or not at all.
import { createHash } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Role } from '../api/principal.ts';
import type { InTransaction } from '../audit/access-log.types.ts';

export interface ConsoleAccount {
  readonly username: string;
  readonly role: Role;
  readonly createdAt: Date;
  readonly createdBy: string;
}

/** What delete() did: an account that is the last administrator is never deleted. */
export type AccountDeletion = 'deleted' | 'not-found' | 'last-admin';

export interface ConsoleAccountStore {
  /** False when the username is taken. */
  create(account: { username: string; role: Role; passwordHash: string; createdBy: string }, also?: InTransaction): Promise<boolean>;
  get(username: string): Promise<ConsoleAccount | undefined>;
  passwordHash(username: string): Promise<{ role: Role; passwordHash: string } | undefined>;
  /** Ordered by username; `after` is exclusive. */
  list(opts: { limit: number; after?: string }): Promise<ConsoleAccount[]>;
  /**
   * Deletes an account; its sessions and tokens go with it (ON DELETE CASCADE). Refused when it
   * is the last administrator, also when two deletions race (both lock every admin row first).
   */
  delete(username: string, also?: InTransaction): Promise<AccountDeletion>;
  /**
   * Sets a new password hash and ends the account's console sessions, except the one whose
   * cookie is `keepSession` (the session that made the change). False when there is no account.
   */
  setPassword(username: string, passwordHash: string, opts?: { keepSession?: string; also?: InTransaction }): Promise<boolean>;
  /**
   * Replaces `oldHash` by `newHash` (same password, stronger parameters) if it is still the
   * stored hash; sessions are untouched. For rehashing at login.
   */
  upgradeHash(username: string, oldHash: string, newHash: string): Promise<void>;
  count(): Promise<number>;
}

/** Console usernames: lowercase ASCII, so they read the same in logs, URLs and the access log. */
export const CONSOLE_USERNAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

interface Row {
  username: string;
  role: Role;
  created_at: Date;
  created_by: string;
}
const toAccount = (r: Row): ConsoleAccount => ({ username: r.username, role: r.role, createdAt: r.created_at, createdBy: r.created_by });

/** SHA-256 of a session cookie, as console_sessions stores it (session-store.ts). */
const cookieHash = (cookie: string) => createHash('sha256').update(cookie, 'utf8').digest();

export function createConsoleAccountStore(sql: Sql): ConsoleAccountStore {
  /** Runs `change` in a transaction with `also` after it when it changed something; without `also`, alone. */
  async function changing(also: InTransaction | undefined, change: (q: Sql | TransactionSql) => Promise<boolean>): Promise<boolean> {
    if (also === undefined) return change(sql);
    let changed = false;
    await sql.begin(async (tx) => {
      changed = await change(tx);
      if (changed) await also(tx);
    });
    return changed;
  }

  return {
    async create({ username, role, passwordHash, createdBy }, also) {
      return changing(also, async (q) => {
        const rows = await q`
          INSERT INTO console_accounts (username, role, password_hash, created_by)
          VALUES (${username}, ${role}, ${passwordHash}, ${createdBy})
          ON CONFLICT (username) DO NOTHING RETURNING username`;
        return rows.length === 1;
      });
    },
    async get(username) {
      const [row] = await sql<Row[]>`SELECT username, role, created_at, created_by FROM console_accounts WHERE username = ${username}`;
      return row === undefined ? undefined : toAccount(row);
    },
    async passwordHash(username) {
      const [row] = await sql<{ role: Role; password_hash: string }[]>`SELECT role, password_hash FROM console_accounts WHERE username = ${username}`;
      return row === undefined ? undefined : { role: row.role, passwordHash: row.password_hash };
    },
    async list({ limit, after }) {
      const rows = await sql<Row[]>`
        SELECT username, role, created_at, created_by FROM console_accounts
        ${after === undefined ? sql`` : sql`WHERE username > ${after}`}
        ORDER BY username LIMIT ${limit}`;
      return rows.map(toAccount);
    },
    async delete(username, also) {
      let result: AccountDeletion = 'not-found';
      await sql.begin(async (tx) => {
        // Every admin row, locked in one order: two admins deleting each other at once queue here,
        // and the second sees (READ COMMITTED re-checks locked rows) that the first one's is gone.
        const admins = await tx<{ username: string }[]>`SELECT username FROM console_accounts WHERE role = 'admin' ORDER BY username FOR UPDATE`;
        if (admins.length === 1 && admins[0]?.username === username) {
          result = 'last-admin';
          return;
        }
        const rows = await tx`DELETE FROM console_accounts WHERE username = ${username} RETURNING username`;
        if (rows.length === 0) return;
        result = 'deleted';
        await also?.(tx);
      });
      return result;
    },
    async setPassword(username, passwordHash, opts = {}) {
      const keep = opts.keepSession === undefined ? Buffer.alloc(0) : cookieHash(opts.keepSession);
      let changed = false;
      await sql.begin(async (tx) => {
        const rows = await tx`UPDATE console_accounts SET password_hash = ${passwordHash} WHERE username = ${username} RETURNING username`;
        if (rows.length !== 1) return;
        changed = true;
        await tx`DELETE FROM console_sessions WHERE account = ${username} AND id_hash <> ${keep}`;
        await opts.also?.(tx);
      });
      return changed;
    },
    async upgradeHash(username, oldHash, newHash) {
      await sql`UPDATE console_accounts SET password_hash = ${newHash} WHERE username = ${username} AND password_hash = ${oldHash}`;
    },
    async count() {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM console_accounts`;
      return row?.n ?? 0;
    },
  };
}
