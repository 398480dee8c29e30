// Console accounts (migrations/0008_console.sql): the people who use the web console and API.
// Not chat accounts. The store sees only password hashes (password-hash.ts).
import type { Sql } from 'postgres';
import type { Role } from '../api/principal.ts';

export interface ConsoleAccount {
  readonly username: string;
  readonly role: Role;
  readonly createdAt: Date;
  readonly createdBy: string;
}

export interface ConsoleAccountStore {
  /** False when the username is taken. */
  create(account: { username: string; role: Role; passwordHash: string; createdBy: string }): Promise<boolean>;
  get(username: string): Promise<ConsoleAccount | undefined>;
  passwordHash(username: string): Promise<{ role: Role; passwordHash: string } | undefined>;
  /** Ordered by username; `after` is exclusive. */
  list(opts: { limit: number; after?: string }): Promise<ConsoleAccount[]>;
  /** False when there was no such account. Its sessions and tokens go with it (ON DELETE CASCADE). */
  delete(username: string): Promise<boolean>;
  setPassword(username: string, passwordHash: string): Promise<boolean>;
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

export function createConsoleAccountStore(sql: Sql): ConsoleAccountStore {
  return {
    async create({ username, role, passwordHash, createdBy }) {
      const rows = await sql`
        INSERT INTO console_accounts (username, role, password_hash, created_by)
        VALUES (${username}, ${role}, ${passwordHash}, ${createdBy})
        ON CONFLICT (username) DO NOTHING RETURNING username`;
      return rows.length === 1;
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
    async delete(username) {
      const rows = await sql`DELETE FROM console_accounts WHERE username = ${username} RETURNING username`;
      return rows.length === 1;
    },
    async setPassword(username, passwordHash) {
      const rows = await sql`UPDATE console_accounts SET password_hash = ${passwordHash} WHERE username = ${username} RETURNING username`;
      if (rows.length === 1) await sql`DELETE FROM console_sessions WHERE account = ${username}`;
      return rows.length === 1;
    },
    async count() {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM console_accounts`;
      return row?.n ?? 0;
    },
  };
}
