// Legal holds (issue #5): while a hold is active, the retention job (retention.ts) deletes none
// of the messages it covers.
//
//   user          every message with the JID on either side (from_bare or to_bare)
//   conversation  every message between two JIDs, in either direction
//
// A conversation is stored as its pair in byte order (jid_a < jid_b, COLLATE "C" in 0008), so
// {a, b} and {b, a} are the same hold and retention finds it with one equality test. Holds are
// released, never deleted: the row stays as the record of what was held, by whom, when and why
// (placing and releasing each take a reason).
//
// A hold is in force from the moment create() returns: its INSERT waits for a retention batch in
// progress (which holds legal_holds in SHARE mode, retention.ts), and its created_at is
// clock_timestamp() taken after that wait — so every row retention deleted was deleted before
// created_at, and none after.
import type { Sql, TransactionSql } from 'postgres';
import { InvalidCursorError } from './invalid-cursor-error.ts';

export type LegalHoldKind = 'user' | 'conversation';

export type LegalHoldTarget =
  | { readonly kind: 'user'; readonly jid: string }
  /** a < b in byte order (see conversationPair). */
  | { readonly kind: 'conversation'; readonly a: string; readonly b: string };

export type LegalHold = LegalHoldTarget & {
  readonly id: string;
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly releasedBy: string | null;
  readonly releasedAt: Date | null;
  /** Why it was released (null while in force). */
  readonly releaseReason: string | null;
};

export interface LegalHoldPage {
  readonly items: LegalHold[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  readonly next: string | null;
}

export interface LegalHoldListFilter {
  /** true: only holds in force; false: only released ones; undefined: both. */
  readonly active?: boolean;
  readonly limit: number;
  readonly cursor?: string;
}

export type ReleaseResult =
  | { readonly ok: true; readonly hold: LegalHold }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'already-released'; readonly hold: LegalHold };

/** Work inside a hold change's transaction, given the hold as it is after the change. */
export type HoldStep = (tx: TransactionSql, hold: LegalHold) => Promise<void>;

export interface LegalHoldStore {
  /**
   * Places a hold. `inTransaction` runs after the insert and before the commit (the access-log
   * entry naming the new hold): if it throws, there is no hold. Throws RangeError for a
   * conversation of a JID with itself.
   */
  create(target: LegalHoldTarget, reason: string, createdBy: string, inTransaction?: HoldStep): Promise<LegalHold>;
  get(id: string): Promise<LegalHold | undefined>;
  /** Newest first. Throws InvalidCursorError for a cursor this store did not hand out. */
  list(filter: LegalHoldListFilter): Promise<LegalHoldPage>;
  /**
   * Ends a hold, saying why; at most once (a second release answers 'already-released').
   * `inTransaction` runs only when this call released it, before the commit; if it throws, the
   * hold stays in force.
   */
  release(id: string, releasedBy: string, reason: string, inTransaction?: HoldStep): Promise<ReleaseResult>;
}

/**
 * The stored form of a conversation between `x` and `y`: the pair in UTF-8 byte order, which is
 * PostgreSQL's order under COLLATE "C" in a UTF8 database. JavaScript's `<` compares UTF-16 code
 * units and disagrees with it past U+FFFF (a surrogate sorts before U+E000–U+FFFF), so the bytes
 * are compared. undefined when x and y are the same JID: that is not a conversation.
 */
export function conversationPair(x: string, y: string): { readonly a: string; readonly b: string } | undefined {
  const order = Buffer.compare(Buffer.from(x, 'utf8'), Buffer.from(y, 'utf8'));
  if (order === 0) return undefined;
  return order < 0 ? { a: x, b: y } : { a: y, b: x };
}

// Ids are bigint identities; anything else as an id or cursor is answered "not found" / invalid.
const ID = /^[1-9][0-9]{0,18}$/;
export const isLegalHoldId = (raw: string): boolean => ID.test(raw) && BigInt(raw) <= 9_223_372_036_854_775_807n;

interface HoldRow {
  id: string;
  kind: LegalHoldKind;
  jid_a: string;
  jid_b: string | null;
  reason: string;
  created_by: string;
  created_at: Date;
  released_by: string | null;
  released_at: Date | null;
  release_reason: string | null;
}

function toHold(r: HoldRow): LegalHold {
  const common = {
    id: String(r.id),
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: r.created_at,
    releasedBy: r.released_by,
    releasedAt: r.released_at,
    releaseReason: r.release_reason,
  };
  return r.kind === 'user' ? { kind: 'user', jid: r.jid_a, ...common } : { kind: 'conversation', a: r.jid_a, b: r.jid_b ?? '', ...common };
}

const COLUMNS = 'id, kind, jid_a, jid_b, reason, created_by, created_at, released_by, released_at, release_reason';

export function createLegalHoldStore(sql: Sql): LegalHoldStore {
  const store: LegalHoldStore = {
    async create(target, reason, createdBy, inTransaction) {
      let jidA: string;
      let jidB: string | null;
      if (target.kind === 'user') {
        jidA = target.jid;
        jidB = null;
      } else {
        const pair = conversationPair(target.a, target.b);
        if (pair === undefined) throw new RangeError('a conversation needs two different JIDs');
        jidA = pair.a;
        jidB = pair.b;
      }
      // created_at: clock_timestamp() is evaluated when the row is formed, after the INSERT got its
      // table lock (now() would be the statement's start, before any wait for a retention batch).
      return sql.begin(async (tx) => {
        const [row] = await tx<HoldRow[]>`
          INSERT INTO legal_holds (kind, jid_a, jid_b, reason, created_by, created_at)
          VALUES (${target.kind}, ${jidA}, ${jidB}, ${reason}, ${createdBy}, clock_timestamp())
          RETURNING ${sql.unsafe(COLUMNS)}`;
        if (row === undefined) throw new Error('INSERT … RETURNING gave no row');
        const hold = toHold(row);
        await inTransaction?.(tx, hold);
        return hold;
      });
    },

    async get(id) {
      if (!isLegalHoldId(id)) return undefined;
      const [row] = await sql<HoldRow[]>`SELECT ${sql.unsafe(COLUMNS)} FROM legal_holds WHERE id = ${id}::bigint`;
      return row === undefined ? undefined : toHold(row);
    },

    async list(filter) {
      // The cursor is the last id of the previous page (ids only grow, so newest first is id DESC).
      if (filter.cursor !== undefined && !isLegalHoldId(filter.cursor)) throw new InvalidCursorError();
      const rows = await sql<HoldRow[]>`
        SELECT ${sql.unsafe(COLUMNS)} FROM legal_holds
        WHERE true
          ${filter.cursor === undefined ? sql`` : sql`AND id < ${filter.cursor}::bigint`}
          ${filter.active === undefined ? sql`` : filter.active ? sql`AND released_at IS NULL` : sql`AND released_at IS NOT NULL`}
        ORDER BY id DESC
        LIMIT ${filter.limit + 1}`;
      const items = rows.slice(0, filter.limit).map(toHold);
      const last = items[items.length - 1];
      return { items, next: rows.length > filter.limit && last !== undefined ? last.id : null };
    },

    async release(id, releasedBy, reason, inTransaction) {
      if (!isLegalHoldId(id)) return { ok: false, reason: 'not-found' };
      // `released_at IS NULL` in the WHERE makes the release happen once, whoever clicks.
      // clock_timestamp(): after any wait for a retention batch (as created_at), so no deletion
      // can carry a time before the release while having happened under the hold.
      const released = await sql.begin(async (tx) => {
        const [row] = await tx<HoldRow[]>`
          UPDATE legal_holds SET released_by = ${releasedBy}, released_at = clock_timestamp(), release_reason = ${reason}
          WHERE id = ${id}::bigint AND released_at IS NULL
          RETURNING ${sql.unsafe(COLUMNS)}`;
        if (row === undefined) return undefined;
        const hold = toHold(row);
        await inTransaction?.(tx, hold);
        return hold;
      });
      if (released !== undefined) return { ok: true, hold: released };
      const current = await store.get(id);
      return current === undefined ? { ok: false, reason: 'not-found' } : { ok: false, reason: 'already-released', hold: current };
    },
  };
  return store;
}
