// Offline messages (XEP-0160) in PostgreSQL: migrations/0004_user_data.sql, table offline_messages.
import type { Sql } from 'postgres';

export interface StoredMessage {
  /** bigserial, as a string (postgres.js returns int8 as text). Delivery order. */
  readonly id: string;
  readonly stanza: string;
  readonly storedAt: Date;
}

export interface OfflineStore {
  /**
   * Appends a message unless the account already holds `quota` of them; false when full.
   * The quota is soft under concurrency: inserts racing for the last place may each get it.
   */
  add(username: string, stanza: string, quota: number): Promise<boolean>;
  /** Up to `limit` messages with an id above `after`, oldest first. */
  list(username: string, opts: { after?: string; limit: number }): Promise<StoredMessage[]>;
  /** Deletes these messages of the account; returns how many were deleted. */
  remove(username: string, ids: readonly string[]): Promise<number>;
  count(username: string): Promise<number>;
}

export function createOfflineStore(sql: Sql): OfflineStore {
  return {
    async add(username, stanza, quota) {
      // One statement: the count and the insert see the same snapshot, and the count is bounded
      // by the quota (index-only scan of offline_messages_user_id).
      const rows = await sql`
        INSERT INTO offline_messages (username, stanza)
        SELECT ${username}::text, ${stanza}::text
        WHERE (SELECT count(*) FROM (
                 SELECT 1 FROM offline_messages WHERE username = ${username} LIMIT ${quota}
               ) held) < ${quota}
        RETURNING id`;
      return rows.length > 0;
    },

    async list(username, { after, limit }) {
      const rows = await sql<{ id: string; stanza: string; stored_at: Date }[]>`
        SELECT id, stanza, stored_at FROM offline_messages
        WHERE username = ${username} ${after === undefined ? sql`` : sql`AND id > ${after}::bigint`}
        ORDER BY id
        LIMIT ${limit}`;
      return rows.map((r) => ({ id: String(r.id), stanza: r.stanza, storedAt: r.stored_at }));
    },

    async remove(username, ids) {
      if (ids.length === 0) return 0;
      const rows = await sql`
        DELETE FROM offline_messages
        WHERE username = ${username} AND id = ANY(${sql.array(ids as string[])}::bigint[])
        RETURNING id`;
      return rows.length;
    },

    async count(username) {
      const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM offline_messages WHERE username = ${username}`;
      return Number(row?.n ?? 0);
    },
  };
}
