import type { Sql } from 'postgres';
import type { ScramCredential, ScramHash } from '../auth/scram-credential.ts';

export interface UserRecord {
  readonly username: string; // normalised localpart
  readonly createdAt: Date;
}

/** Chat accounts. Usernames are already-normalised localparts; the store never sees a password. */
export interface UserStore {
  /** False when the username is taken. */
  create(username: string, credentials: readonly ScramCredential[]): Promise<boolean>;
  credential(username: string, hash: ScramHash): Promise<ScramCredential | undefined>;
  exists(username: string): Promise<boolean>;
  /** Ordered by username; `after` is an exclusive cursor. */
  list(opts?: { limit?: number; after?: string }): Promise<UserRecord[]>;
  /** False when there was no such user. */
  delete(username: string): Promise<boolean>;
  /** Replaces all credentials; false when there is no such user. */
  setCredentials(username: string, credentials: readonly ScramCredential[]): Promise<boolean>;
}

// SQL for the UserStore, on PostgreSQL or the embedded PGlite (migrations/0001_accounts.sql).
// Inside sql.begin(tx => …) only `tx` is used: the pool `sql` would deadlock on PGlite.

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1000;

interface CredentialRow {
  hash: ScramHash;
  salt: Buffer;
  iterations: number;
  stored_key: Buffer;
  server_key: Buffer;
}

function credentialRows(username: string, credentials: readonly ScramCredential[]) {
  return credentials.map((c) => ({
    username,
    hash: c.hash,
    salt: c.salt,
    iterations: c.iterations,
    stored_key: c.storedKey,
    server_key: c.serverKey,
  }));
}

export function createUserStore(sql: Sql): UserStore {
  return {
    async create(username, credentials) {
      return sql.begin(async (tx) => {
        // ON CONFLICT DO NOTHING: a concurrent create of the same name waits for the first
        // to commit and then gets no row, rather than a unique-violation error.
        const created = await tx`
          INSERT INTO users (username) VALUES (${username})
          ON CONFLICT (username) DO NOTHING
          RETURNING username`;
        if (created.length === 0) return false;
        if (credentials.length > 0) {
          await tx`INSERT INTO user_credentials ${tx(credentialRows(username, credentials))}`;
        }
        return true;
      });
    },

    // Every SASL login: one primary-key lookup.
    async credential(username, hash) {
      const [row] = await sql<CredentialRow[]>`
        SELECT hash, salt, iterations, stored_key, server_key
        FROM user_credentials
        WHERE username = ${username} AND hash = ${hash}`;
      if (!row) return undefined;
      return { hash: row.hash, salt: row.salt, iterations: row.iterations, storedKey: row.stored_key, serverKey: row.server_key };
    },

    async exists(username) {
      const rows = await sql`SELECT 1 FROM users WHERE username = ${username}`;
      return rows.length > 0;
    },

    async list(opts = {}) {
      const limit = Math.min(Math.max(Math.trunc(opts.limit ?? DEFAULT_LIST_LIMIT), 1), MAX_LIST_LIMIT);
      // username is COLLATE "C": byte order, the same on every server, served by the primary key.
      const rows = await sql<{ username: string; created_at: Date }[]>`
        SELECT username, created_at FROM users
        ${opts.after === undefined ? sql`` : sql`WHERE username > ${opts.after}`}
        ORDER BY username
        LIMIT ${limit}`;
      return rows.map((r) => ({ username: r.username, createdAt: r.created_at }));
    },

    async delete(username) {
      // Credentials (and later per-user rows) go with it: ON DELETE CASCADE.
      const rows = await sql`DELETE FROM users WHERE username = ${username} RETURNING username`;
      return rows.length > 0;
    },

    async setCredentials(username, credentials) {
      return sql.begin(async (tx) => {
        // Lock the user row so a concurrent delete cannot slip between the check and the insert.
        const user = await tx`SELECT 1 FROM users WHERE username = ${username} FOR UPDATE`;
        if (user.length === 0) return false;
        await tx`DELETE FROM user_credentials WHERE username = ${username}`;
        if (credentials.length > 0) {
          await tx`INSERT INTO user_credentials ${tx(credentialRows(username, credentials))}`;
        }
        return true;
      });
    },
  };
}
