// Roster storage (RFC 6121 §2): one row per (user, contact), plus a version counter per user
// (migrations/0003_roster.sql). The store is thin: which state to write, and whether the
// version moves, is decided by the roster module.
import type { ISql, Sql } from 'postgres';
import type { Subscription } from './subscription.ts';

export interface RosterItem {
  /** The contact's normalised bare JID. */
  readonly contact: string;
  readonly name: string | undefined;
  readonly subscription: Subscription;
  /** ask='subscribe' ("Pending Out"). */
  readonly ask: boolean;
  /** RFC 6121 §3.4 pre-approval. */
  readonly approved: boolean;
  /** The contact's subscription request awaits an answer ("Pending In"). */
  readonly pendingIn: boolean;
  /** The request's <status/>, redelivered with it. */
  readonly pendingStatus: string | undefined;
  readonly groups: readonly string[];
  /** False: not a roster item, only a pending inbound request (then pendingIn is true). */
  readonly listed: boolean;
}

export interface StoredRoster {
  readonly version: number;
  /** Every row, listed or not. */
  readonly items: readonly RosterItem[];
}

export interface RosterStore {
  load(username: string): Promise<StoredRoster>;
  get(username: string, contact: string): Promise<RosterItem | undefined>;
  version(username: string): Promise<number>;
  /** Inserts or replaces a row; with `bump`, moves the version on. Returns the version after. */
  put(username: string, item: RosterItem, bump: boolean): Promise<number>;
  /** Deletes a row (if any); with `bump`, moves the version on. Returns the version after. */
  remove(username: string, contact: string, bump: boolean): Promise<number>;
}

interface ItemRow {
  contact: string;
  name: string | null;
  subscription: Subscription;
  ask: string | null;
  approved: boolean;
  pending_in: boolean;
  pending_status: string | null;
  listed: boolean;
  groups: string[];
}

const fromRow = (r: ItemRow): RosterItem => ({
  contact: r.contact,
  name: r.name ?? undefined,
  subscription: r.subscription,
  ask: r.ask === 'subscribe',
  approved: r.approved,
  pendingIn: r.pending_in,
  pendingStatus: r.pending_status ?? undefined,
  groups: r.groups,
  listed: r.listed,
});

// Inside sql.begin(tx => …) only `tx` is used: the pool `sql` would deadlock on PGlite.
export function createRosterStore(sql: Sql): RosterStore {
  const readVersion = async (q: ISql, username: string): Promise<number> => {
    const [row] = await q<{ ver: string }[]>`SELECT ver::text AS ver FROM roster_versions WHERE username = ${username}`;
    return row ? Number(row.ver) : 0;
  };

  const bumpVersion = async (q: ISql, username: string): Promise<number> => {
    const [row] = await q<{ ver: string }[]>`
      INSERT INTO roster_versions (username, ver) VALUES (${username}, 1)
      ON CONFLICT (username) DO UPDATE SET ver = roster_versions.ver + 1
      RETURNING ver::text AS ver`;
    return Number(row?.ver ?? 0);
  };

  return {
    async load(username) {
      // Two reads, one snapshot: a version that belongs to the items.
      return sql.begin('isolation level repeatable read', async (tx) => {
        const rows = await tx<ItemRow[]>`
          SELECT contact, name, subscription, ask, approved, pending_in, pending_status, listed, groups
          FROM roster_items WHERE username = ${username} ORDER BY contact`;
        return { version: await readVersion(tx, username), items: rows.map(fromRow) };
      });
    },

    async get(username, contact) {
      const [row] = await sql<ItemRow[]>`
        SELECT contact, name, subscription, ask, approved, pending_in, pending_status, listed, groups
        FROM roster_items WHERE username = ${username} AND contact = ${contact}`;
      return row ? fromRow(row) : undefined;
    },

    version: (username) => readVersion(sql, username),

    async put(username, item, bump) {
      const row = {
        username,
        contact: item.contact,
        name: item.name ?? null,
        subscription: item.subscription,
        ask: item.ask ? 'subscribe' : null,
        approved: item.approved,
        pending_in: item.pendingIn,
        pending_status: item.pendingIn ? (item.pendingStatus ?? null) : null,
        listed: item.listed,
        groups: sql.array([...item.groups]),
      };
      return sql.begin(async (tx) => {
        await tx`
          INSERT INTO roster_items ${tx(row)}
          ON CONFLICT (username, contact) DO UPDATE SET
            name = EXCLUDED.name, subscription = EXCLUDED.subscription, ask = EXCLUDED.ask,
            approved = EXCLUDED.approved, pending_in = EXCLUDED.pending_in,
            pending_status = EXCLUDED.pending_status, listed = EXCLUDED.listed, groups = EXCLUDED.groups`;
        return bump ? bumpVersion(tx, username) : readVersion(tx, username);
      });
    },

    async remove(username, contact, bump) {
      return sql.begin(async (tx) => {
        await tx`DELETE FROM roster_items WHERE username = ${username} AND contact = ${contact}`;
        return bump ? bumpVersion(tx, username) : readVersion(tx, username);
      });
    },
  };
}
