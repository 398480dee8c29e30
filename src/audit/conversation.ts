// The conversation view: the messages between two bare JIDs, oldest first, around one message
// (an incident's hit) or paged outward from a cursor. GET /api/v1/conversations (api/routes/conversations.ts).
//
// Every read is a walk of archive-search.ts's readArchive with user = a, peer = b: the
// "a → b" branch reads the (from_bare, ts) index, the "b → a" branch the same index for b, each
// in (ts, id) order from the cursor, so a page costs `limit` rows per side however long the
// conversation is. The message named by `around` is found through archive_stanza_id.
import type { Sql } from 'postgres';
import { encodeCursor, readArchive, type ArchiveCursor, type ArchiveRecord, type ArchivedMessage } from './archive-search.ts';

export const DEFAULT_CONVERSATION_LIMIT = 25;
export const MAX_CONVERSATION_LIMIT = 200;

export interface ConversationQuery {
  /** Bare JIDs; the order of a and b does not matter. */
  readonly a: string;
  readonly b: string;
  /** Messages on each side of `around`, or in one page (1..MAX_CONVERSATION_LIMIT). */
  readonly limit: number;
  /** At most one of around / before / after; none: the newest `limit` messages. */
  readonly around?: string;
  /** Messages strictly older than this position. */
  readonly before?: ArchiveCursor;
  /** Messages strictly newer than this position. */
  readonly after?: ArchiveCursor;
}

export interface ConversationPage {
  /** Oldest first. */
  readonly items: ArchivedMessage[];
  /** Pass as `before` for the older messages; null when there are none. */
  readonly before: string | null;
  /** Pass as `after` for the newer messages; null when there are none. */
  readonly after: string | null;
}

export class ConversationError extends Error {
  override readonly name = 'ConversationError';
}

// ---------------------------------------------------------------------------------------------
// Pure part

/** What the reads around one position found: `older` newest first (as read), `newer` oldest first. */
export interface ConversationParts {
  readonly older?: { readonly records: readonly ArchiveRecord[]; readonly more: boolean };
  readonly center?: ArchiveRecord;
  readonly newer?: { readonly records: readonly ArchiveRecord[]; readonly more: boolean };
  /**
   * The position a before/after page started from. When only one side was read, the other side
   * holds at least the message at this position (the client was shown it), so that side's cursor
   * is the page's edge — or this position itself when the page is empty.
   */
  readonly from?: ArchiveCursor;
}

/** Assembles one page, oldest first, with cursors that are null exactly when nothing more lies that way. */
export function assembleConversationPage(parts: ConversationParts): ConversationPage {
  const older = parts.older === undefined ? [] : [...parts.older.records].reverse();
  const newer = parts.newer?.records ?? [];
  const records = [...older, ...(parts.center === undefined ? [] : [parts.center]), ...newer];
  const first = records[0]?.key;
  const last = records[records.length - 1]?.key;
  const edge = (read: { readonly more: boolean } | undefined, end: ArchiveCursor | undefined): string | null => {
    if (read !== undefined) return read.more && end !== undefined ? encodeCursor(end) : null;
    // This side was not read: it is where the page came from.
    if (parts.from === undefined) return null;
    return encodeCursor(end ?? parts.from);
  };
  return {
    items: records.map((r) => r.message),
    before: edge(parts.older, first),
    after: edge(parts.newer, last),
  };
}

/** The position just before `key` in (ts, id) order: `(ts, id) > predecessor(k)` ⇔ `(ts, id) >= k`, ids being integers. */
export function predecessor(key: ArchiveCursor): ArchiveCursor {
  return { ts: key.ts, id: (BigInt(key.id) - 1n).toString() };
}

// ---------------------------------------------------------------------------------------------
// Query

/** A page of the conversation; undefined when `around` names no message between a and b. */
export async function readConversation(sql: Sql, query: ConversationQuery): Promise<ConversationPage | undefined> {
  const { a, b, limit } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CONVERSATION_LIMIT) throw new ConversationError(`limit must be 1..${MAX_CONVERSATION_LIMIT}`);
  const given = [query.around, query.before, query.after].filter((x) => x !== undefined).length;
  if (given > 1) throw new ConversationError('around, before and after exclude each other');
  const filters = { user: a, peer: b };
  const olderThan = (cursor: ArchiveCursor | undefined) => readArchive(sql, { ...filters, limit, cursor }, { order: 'newest-first' });

  if (query.before !== undefined) return assembleConversationPage({ older: await olderThan(query.before), from: query.before });
  if (query.after !== undefined) {
    const newer = await readArchive(sql, { ...filters, limit, cursor: query.after }, { order: 'oldest-first' });
    return assembleConversationPage({ newer, from: query.after });
  }
  if (query.around === undefined) {
    // The newest messages: nothing is newer (at this moment), so `after` is null.
    return assembleConversationPage({ older: await olderThan(undefined), newer: { records: [], more: false } });
  }

  const pivot = await findMessage(sql, a, b, query.around);
  if (pivot === undefined) return undefined;
  // One read for the message and the ones after it: (ts, id) >= the message's own position.
  const [older, fromPivot] = await Promise.all([
    olderThan(pivot),
    readArchive(sql, { ...filters, limit: limit + 1, cursor: predecessor(pivot) }, { order: 'oldest-first' }),
  ]);
  const [center, ...newer] = fromPivot.records;
  // Retention may have deleted it between the two reads.
  if (center === undefined || center.key.id !== pivot.id) return undefined;
  return assembleConversationPage({ older, center, newer: { records: newer, more: fromPivot.more } });
}

/** The position of the message with stanza id `stanzaId` between a and b (either direction). */
async function findMessage(sql: Sql, a: string, b: string, stanzaId: string): Promise<ArchiveCursor | undefined> {
  // archive_stanza_id finds the (usually one) row; the conversation test rejects an id of
  // another conversation, so `around` cannot be used to read a message outside a ↔ b.
  const rows = await sql<{ ts_key: string; id: string }[]>`
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_key, id
    FROM archive
    WHERE stanza_id = ${stanzaId} AND ((from_bare = ${a} AND to_bare = ${b}) OR (from_bare = ${b} AND to_bare = ${a}))
    ORDER BY ts, id LIMIT 1`;
  const row = rows[0];
  return row === undefined ? undefined : { ts: row.ts_key, id: String(row.id) };
}
