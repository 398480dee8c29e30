// vCards (XEP-0054) as XML text: migrations/0004_user_data.sql, table vcards.
import type { Sql } from 'postgres';

export interface VCardStore {
  get(username: string): Promise<string | undefined>;
  /** Replaces the account's vCard. */
  set(username: string, vcard: string): Promise<void>;
}

export function createVCardStore(sql: Sql): VCardStore {
  return {
    async get(username) {
      const [row] = await sql<{ vcard: string }[]>`SELECT vcard FROM vcards WHERE username = ${username}`;
      return row?.vcard;
    },
    async set(username, vcard) {
      await sql`
        INSERT INTO vcards (username, vcard) VALUES (${username}, ${vcard})
        ON CONFLICT (username) DO UPDATE SET vcard = EXCLUDED.vcard, updated_at = now()`;
    },
  };
}
