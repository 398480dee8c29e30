// Private XML storage (XEP-0049): migrations/0004_user_data.sql, table private_storage.
// Inside sql.begin(tx => …) only `tx` is used: the pool `sql` would deadlock on PGlite.
import type { Sql } from 'postgres';

export interface PrivateKey {
  readonly namespace: string;
  /** The element's local name (without prefix). */
  readonly name: string;
}

export interface PrivateEntry extends PrivateKey {
  /** The element as XML text; undefined deletes the entry. */
  readonly element: string | undefined;
}

export interface PrivateStore {
  get(username: string, key: PrivateKey): Promise<string | undefined>;
  /** Writes (or, with element undefined, deletes) entries together; keys must be distinct. */
  set(username: string, entries: readonly PrivateEntry[]): Promise<void>;
}

export function createPrivateStore(sql: Sql): PrivateStore {
  return {
    async get(username, { namespace, name }) {
      const [row] = await sql<{ element: string }[]>`
        SELECT element FROM private_storage
        WHERE username = ${username} AND namespace = ${namespace} AND name = ${name}`;
      return row?.element;
    },

    async set(username, entries) {
      const upserts = entries
        .filter((e): e is PrivateEntry & { element: string } => e.element !== undefined)
        .map((e) => ({ username, namespace: e.namespace, name: e.name, element: e.element }));
      const deletes = entries.filter((e) => e.element === undefined);
      if (upserts.length === 0 && deletes.length === 0) return;
      await sql.begin(async (tx) => {
        if (upserts.length > 0) {
          await tx`
            INSERT INTO private_storage ${tx(upserts, 'username', 'namespace', 'name', 'element')}
            ON CONFLICT (username, namespace, name)
            DO UPDATE SET element = EXCLUDED.element, updated_at = now()`;
        }
        for (const d of deletes) {
          await tx`DELETE FROM private_storage WHERE username = ${username} AND namespace = ${d.namespace} AND name = ${d.name}`;
        }
      });
    },
  };
}
