// A user's message archive (XEP-0313), read from the compliance archive (migrations/0002_archive.sql).
// The compliance archive holds one row per message whatever its verdict; a user sees a subset:
//
//  - what they sent (from_bare = user), whatever the verdict: blocked and held messages too —
//    they wrote them (they got an error for a blocked one);
//  - what they received (to_bare = user), except a blocked message (never delivered) and a held
//    one whose incident is not 'released' (not delivered, or rejected by an officer).
//    A redacted one is served with redacted_body in place of the body (the module does that).
//
// Served messages are of type chat or normal and have a body (XEP-0313 §5.1.1 SHOULD); the
// compliance archive also holds chat states, receipts and errors, which are not history.
//
// Order is (ts, id): ts alone can tie. Each page is two index range scans — sent on
// (from_bare, ts), received on (to_bare, ts) — each stopping after `limit` rows, merged and cut
// to `limit`, so a page costs the same at the start of a ten-year archive as at its end. Bounds
// on ts (start/end, and the ts of a paging cursor) also prune the monthly partitions.
import type { PendingQuery, Row, Sql } from 'postgres';
import type { Verdict } from '../audit/archive-record.ts';
import type { WithFilter } from './mam-query.ts';

/**
 * Where a message sits in archive order, exactly: ts as text with microseconds (a JavaScript Date
 * would drop them, and a cursor that moved by a microsecond would repeat or skip a message).
 */
export interface ArchivePosition {
  /** UTC, 'YYYY-MM-DDThh:mm:ss.uuuuuuZ' (also a valid XEP-0082 DateTime). */
  readonly ts: string;
  /** archive.id (bigint) as text. */
  readonly id: string;
}

export interface ArchivedMessage {
  /** The archive id (XEP-0359 stanza-id) given at delivery. */
  readonly stanzaId: string;
  readonly position: ArchivePosition;
  readonly fromJid: string;
  readonly toJid: string;
  readonly fromBare: string;
  readonly toBare: string;
  readonly type: string;
  readonly body: string | null;
  readonly redactedBody: string | null;
  /** The stanza as received from the sender (before redaction and before the stanza-id). */
  readonly raw: string;
  readonly verdict: Verdict;
}

export interface MamFilter {
  readonly with?: WithFilter;
  /** XEP-0082 DateTimes, inclusive. */
  readonly start?: string;
  readonly end?: string;
  /** Only these archive ids. */
  readonly ids?: readonly string[];
  /** Exclusive lower bounds in archive order (all apply). */
  readonly after?: readonly ArchivePosition[];
  /** Exclusive upper bounds in archive order (all apply). */
  readonly before?: readonly ArchivePosition[];
  /** Inclusive bounds in archive order (narrows an 'ids' lookup to the span the ids lie in). */
  readonly span?: { readonly first: ArchivePosition; readonly last: ArchivePosition };
}

export interface MamStore {
  /**
   * Positions of these archive ids among the messages `user` may see (any type: a client may page
   * from the stanza-id of a chat state it received). Ids not found are absent from the map.
   */
  locate(user: string, stanzaIds: readonly string[]): Promise<Map<string, ArchivePosition>>;
  /** Up to `limit` messages: the oldest matching ones ('forward'), or the newest ('backward', newest first). */
  page(user: string, filter: MamFilter, direction: 'forward' | 'backward', limit: number): Promise<ArchivedMessage[]>;
  /** How many messages match the filter (XEP-0059 §2.7). */
  count(user: string, filter: MamFilter): Promise<number>;
}

/** Archive order of two positions (negative: a first). Pure. */
export function comparePositions(a: ArchivePosition, b: ArchivePosition): number {
  // The ts texts have one fixed width and format, so they compare as strings.
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x === y ? 0 : x < y ? -1 : 1;
}

interface MessageRow {
  id: string;
  stanza_id: string;
  stamp: string;
  from_jid: string;
  to_jid: string;
  from_bare: string;
  to_bare: string;
  type: string;
  body: string | null;
  redacted_body: string | null;
  raw: string;
  verdict: Verdict;
}

type Fragment = PendingQuery<Row[]>;

export function createMamStore(sql: Sql): MamStore {
  // Exact text for a position; to_char in UTC does not depend on the session's DateStyle or TimeZone.
  const stamp = sql`to_char(a.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

  /** Visible to `user` as the recipient: delivered, i.e. not blocked, and not held unless released. */
  const deliveredTo = (user: string) => sql`
    a.to_bare = ${user} AND a.from_bare <> ${user} AND a.verdict <> 'block'
    AND (a.verdict <> 'hold' OR EXISTS (
      SELECT 1 FROM incidents i WHERE i.stanza_id = a.stanza_id AND i.hold_state = 'released'))`;

  // Timestamps go in as text and are cast in SQL: a parameter postgres.js sees as timestamptz goes
  // through a JavaScript Date and loses its microseconds.
  const and = (parts: Fragment[]): Fragment => parts.reduce((acc, part) => sql`${acc} AND ${part}`);

  /** The conditions shared by both halves of the archive (all but who sent or received). */
  function common(filter: MamFilter): Fragment[] {
    const parts: Fragment[] = [sql`a.type IN ('chat', 'normal')`, sql`a.body IS NOT NULL`];
    if (filter.start !== undefined) parts.push(sql`a.ts >= ${filter.start}::text::timestamptz`);
    if (filter.end !== undefined) parts.push(sql`a.ts <= ${filter.end}::text::timestamptz`);
    if (filter.ids !== undefined) parts.push(sql`a.stanza_id = ANY(${filter.ids as string[]}::text[])`);
    // The plain ts bound beside the row comparison lets the planner use it for the index range
    // and for partition pruning.
    for (const p of filter.after ?? []) {
      parts.push(sql`a.ts >= ${p.ts}::text::timestamptz AND (a.ts, a.id) > (${p.ts}::text::timestamptz, ${p.id}::bigint)`);
    }
    for (const p of filter.before ?? []) {
      parts.push(sql`a.ts <= ${p.ts}::text::timestamptz AND (a.ts, a.id) < (${p.ts}::text::timestamptz, ${p.id}::bigint)`);
    }
    if (filter.span !== undefined) {
      const { first, last } = filter.span;
      parts.push(sql`a.ts >= ${first.ts}::text::timestamptz AND (a.ts, a.id) >= (${first.ts}::text::timestamptz, ${first.id}::bigint)`);
      parts.push(sql`a.ts <= ${last.ts}::text::timestamptz AND (a.ts, a.id) <= (${last.ts}::text::timestamptz, ${last.id}::bigint)`);
    }
    return parts;
  }

  /** Sent by the user: 'with' is the recipient. Received: 'with' is the sender (XEP-0313 §4.1.1). */
  function halves(user: string, filter: MamFilter): { sent: Fragment; received: Fragment } {
    const w = filter.with;
    const sent: Fragment[] = [sql`a.from_bare = ${user}`];
    const received: Fragment[] = [deliveredTo(user)];
    if (w?.kind === 'bare') {
      sent.push(sql`a.to_bare = ${w.jid}`);
      // 'with' = the user's own JID asks for notes to self (§4.1.1): sent and received at once,
      // so the sent half has them all, and this half is empty (from_bare <> user above).
      received.push(sql`a.from_bare = ${w.jid}`);
    } else if (w?.kind === 'full') {
      sent.push(sql`a.to_jid = ${w.jid}`);
      received.push(sql`a.from_jid = ${w.jid}`);
    }
    const shared = common(filter);
    return { sent: and([...sent, ...shared]), received: and([...received, ...shared]) };
  }

  return {
    async locate(user, stanzaIds) {
      const found = new Map<string, ArchivePosition>();
      if (stanzaIds.length === 0) return found;
      const rows = await sql<{ stanza_id: string; ts: string; id: string }[]>`
        SELECT a.stanza_id, ${stamp} AS ts, a.id::text AS id
        FROM archive a
        WHERE a.stanza_id = ANY(${stanzaIds as string[]}::text[])
          AND (a.from_bare = ${user} OR (${deliveredTo(user)}))`;
      for (const r of rows) found.set(r.stanza_id, { ts: r.ts, id: r.id });
      return found;
    },

    async page(user, filter, direction, limit) {
      if (limit <= 0) return [];
      const { sent, received } = halves(user, filter);
      // Inside each half, ts and id are archive columns. Outside, qualified: a bare `id` there
      // would name the text output column and sort '10' before '9'.
      const order = direction === 'forward' ? sql`ORDER BY a.ts, a.id` : sql`ORDER BY a.ts DESC, a.id DESC`;
      const outer = direction === 'forward' ? sql`ORDER BY page.ts, page.id` : sql`ORDER BY page.ts DESC, page.id DESC`;
      const columns = sql`a.id, a.ts, a.stanza_id, ${stamp} AS stamp, a.from_jid, a.to_jid, a.from_bare, a.to_bare,
                          a.type, a.body, a.redacted_body, a.raw, a.verdict`;
      const rows = await sql<MessageRow[]>`
        SELECT id::text AS id, stanza_id, stamp, from_jid, to_jid, from_bare, to_bare, type, body, redacted_body, raw, verdict
        FROM (
          (SELECT ${columns} FROM archive a WHERE ${sent} ${order} LIMIT ${limit})
          UNION ALL
          (SELECT ${columns} FROM archive a WHERE ${received} ${order} LIMIT ${limit})
        ) page
        ${outer}
        LIMIT ${limit}`;
      return rows.map((r) => ({
        stanzaId: r.stanza_id,
        position: { ts: r.stamp, id: r.id },
        fromJid: r.from_jid,
        toJid: r.to_jid,
        fromBare: r.from_bare,
        toBare: r.to_bare,
        type: r.type,
        body: r.body,
        redactedBody: r.redacted_body,
        raw: r.raw,
        verdict: r.verdict,
      }));
    },

    async count(user, filter) {
      const { sent, received } = halves(user, filter);
      const [row] = await sql<{ n: string }[]>`
        SELECT (SELECT count(*) FROM archive a WHERE ${sent}) + (SELECT count(*) FROM archive a WHERE ${received}) AS n`;
      return Number(row?.n ?? 0);
    },
  };
}
