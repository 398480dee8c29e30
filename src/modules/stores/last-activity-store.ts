// Last logout times (XEP-0012): migrations/0004_user_data.sql, table last_activity.
import type { Sql } from 'postgres';

export interface LastLogout {
  readonly at: Date;
  /** The <status/> of the last unavailable presence, if there was one. */
  readonly status: string | undefined;
}

export interface LastActivityStore {
  get(username: string): Promise<LastLogout | undefined>;
  /** Records logouts of several accounts in one statement (usernames distinct). */
  record(entries: ReadonlyMap<string, LastLogout>): Promise<void>;
}

export function createLastActivityStore(sql: Sql): LastActivityStore {
  return {
    async get(username) {
      const [row] = await sql<{ logout_at: Date; status: string | null }[]>`
        SELECT logout_at, status FROM last_activity WHERE username = ${username}`;
      return row ? { at: row.logout_at, status: row.status ?? undefined } : undefined;
    },
    async record(entries) {
      if (entries.size === 0) return;
      const names: string[] = [];
      const times: string[] = [];
      const statuses: string[] = [];
      for (const [username, e] of entries) {
        names.push(username);
        times.push(e.at.toISOString());
        statuses.push(e.status ?? '');
      }
      // Parallel arrays: one statement for the whole batch. An account deleted meanwhile has no
      // users row; it is skipped rather than failing the batch on the foreign key.
      await sql`
        INSERT INTO last_activity (username, logout_at, status)
        SELECT v.username, v.logout_at, NULLIF(v.status, '')
        FROM unnest(${sql.array(names)}::text[], ${sql.array(times)}::timestamptz[], ${sql.array(statuses)}::text[])
          AS v (username, logout_at, status)
        WHERE EXISTS (SELECT 1 FROM users u WHERE u.username = v.username)
        ON CONFLICT (username) DO UPDATE SET logout_at = EXCLUDED.logout_at, status = EXCLUDED.status`;
    },
  };
}
