// Block lists (XEP-0191): migrations/0004_user_data.sql, table blocklist. JIDs arrive normalised.
import type { Sql } from 'postgres';

export interface BlocklistStore {
  /** Every account's list: the module keeps them all in memory (see xep0191-blocking.ts). */
  all(): Promise<Map<string, string[]>>;
  list(username: string): Promise<string[]>;
  add(username: string, jids: readonly string[]): Promise<void>;
  remove(username: string, jids: readonly string[]): Promise<void>;
  clear(username: string): Promise<void>;
}

export function createBlocklistStore(sql: Sql): BlocklistStore {
  return {
    async all() {
      const rows = await sql<{ username: string; jid: string }[]>`SELECT username, jid FROM blocklist ORDER BY username, jid`;
      const lists = new Map<string, string[]>();
      for (const { username, jid } of rows) {
        const list = lists.get(username);
        if (list) list.push(jid);
        else lists.set(username, [jid]);
      }
      return lists;
    },
    async list(username) {
      const rows = await sql<{ jid: string }[]>`SELECT jid FROM blocklist WHERE username = ${username} ORDER BY jid`;
      return rows.map((r) => r.jid);
    },
    async add(username, jids) {
      if (jids.length === 0) return;
      const rows = [...new Set(jids)].map((jid) => ({ username, jid }));
      await sql`INSERT INTO blocklist ${sql(rows, 'username', 'jid')} ON CONFLICT (username, jid) DO NOTHING`;
    },
    async remove(username, jids) {
      if (jids.length === 0) return;
      await sql`DELETE FROM blocklist WHERE username = ${username} AND jid = ANY(${sql.array(jids as string[])}::text[])`;
    },
    async clear(username) {
      await sql`DELETE FROM blocklist WHERE username = ${username}`;
    },
  };
}
