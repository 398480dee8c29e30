// Search over the compliance archive: filters, substring search in bodies (Chinese as well as
// English, case-insensitive), newest first, keyset pagination on (ts, id).
//
// How each filter reaches an index (migrations 0002, 0007):
// - body substring: ILIKE '%q%' on the pg_trgm GIN index of archive_search (a copy of the bodies
//   the search indexer keeps a few seconds behind the archive), when q has a run of
//   ≥ 3 letters/digits (pg_trgm extracts no trigram from a shorter one). Shorter queries — common
//   in Chinese: 你好, 炸弹 — are still answered correctly, but without that index: the rows are
//   walked newest first through the other filters' indexes (user: (from_bare, ts)/(to_bare, ts);
//   since/until/cursor: (ts, id) and partition pruning), so their cost is bounded by how many
//   rows those filters leave. Callers should pass since/until or user with short queries.
// - user / peer: a UNION ALL of "sent by" and "received by" branches, each an ordered scan of its
//   index, so a heavy user's newest page does not sort the user's whole history.
// - since/until: partition pruning on the monthly partitions plus the (ts, id) index.
//
// The same statement serves three walks (readArchive): newest-first search pages, the export's
// oldest-first batches (archive-export.ts) and the conversation view's pages either way
// (conversation.ts). Only the comparison with the cursor and the ORDER BY direction change; the
// btree indexes above read as well backwards as forwards (the trigram index has no order at all),
// so each walk gets the same plan shape.
import type { Sql } from 'postgres';
import type postgres from 'postgres';
import type { RuleMatch, Verdict } from './archive-record.ts';

export const DEFAULT_SEARCH_LIMIT = 50;
export const MAX_SEARCH_LIMIT = 500;
/** Longest search string accepted, in characters. */
export const MAX_QUERY_CHARS = 1000;

export const VERDICTS: readonly Verdict[] = ['allow', 'flag', 'redact', 'block', 'hold'];

/** What a search (and an export, archive-export.ts) selects, apart from paging. */
export interface ArchiveSearchFilters {
  /** Substring of the body, case-insensitive. */
  readonly q?: string;
  /** Bare JID on either side of the message. */
  readonly user?: string;
  /** Bare JID on the other side (needs `user`). */
  readonly peer?: string;
  /** Inclusive. */
  readonly since?: Date;
  /** Exclusive. */
  readonly until?: Date;
  readonly verdict?: Verdict;
}

export interface ArchiveSearchQuery extends ArchiveSearchFilters {
  /** 1..MAX_SEARCH_LIMIT. */
  readonly limit: number;
  /** From a previous page's `next`. */
  readonly cursor?: ArchiveCursor;
}

/** Position in a walk of the archive: the (ts, id) of the last row of a page. */
export interface ArchiveCursor {
  /** Microsecond ISO-8601 UTC (`2024-03-01T12:00:00.123456Z`), exact to the stored value. */
  readonly ts: string;
  /** archive.id (bigint, decimal). */
  readonly id: string;
}

export interface ArchivedMessage {
  /** The stanza id the archive assigned (XEP-0359). */
  readonly id: string;
  readonly ts: Date;
  readonly from: string;
  readonly to: string;
  readonly type: string;
  readonly body: string | null;
  readonly verdict: Verdict;
  readonly matches: RuleMatch[];
  readonly direction: 'internal' | 'outbound' | 'inbound';
  readonly policyVersion: number;
  readonly thread: string | null;
}

export interface ArchiveSearchPage {
  readonly items: ArchivedMessage[];
  /** Opaque cursor for the next (older) page; null on the last page. */
  readonly next: string | null;
}

export class ArchiveSearchError extends Error {
  override readonly name = 'ArchiveSearchError';
}

/** newest-first: search pages, rows before the cursor · oldest-first: exports, rows after it. */
export type ArchiveOrder = 'newest-first' | 'oldest-first';

/** Where a row sits in its writer's hash chain (archive-writer.ts), so an export can be checked against the archive. */
export interface ArchiveChainPlace {
  readonly chain: string;
  readonly chainSeq: number;
  /** SHA-256 of the row (hex): hash = SHA-256(prev_hash || canonical row). */
  readonly hash: string;
}

/** One row of a walk: the message, its position (for the next cursor) and, when asked for, its chain place. */
export interface ArchiveRecord {
  readonly message: ArchivedMessage;
  readonly key: ArchiveCursor;
  readonly chain?: ArchiveChainPlace;
}

export interface ArchiveReadOptions {
  readonly order: ArchiveOrder;
  /** Also read chain, chain_seq and hash. */
  readonly withChain?: boolean;
}

/** Largest batch readArchive reads at once (exports read 1000). */
export const MAX_READ_LIMIT = 10_000;

// ---------------------------------------------------------------------------------------------
// Pure parts

const CURSOR_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const CURSOR_ID = /^[1-9]\d{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

export function encodeCursor(c: ArchiveCursor): string {
  return Buffer.from(JSON.stringify([c.ts, c.id]), 'utf8').toString('base64url');
}

/** undefined when `raw` is not a cursor this module made. */
export function decodeCursor(raw: string): ArchiveCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(raw)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 2) return undefined;
  const [ts, id] = v as unknown[];
  if (typeof ts !== 'string' || typeof id !== 'string' || !CURSOR_TS.test(ts) || !CURSOR_ID.test(id)) return undefined;
  // A real instant (Date.parse reads 30 February as 2 March: the round trip must give it back)
  // and an id PostgreSQL's bigint holds, so a forged cursor is invalid-cursor, not a database error.
  const instant = new Date(ts);
  if (Number.isNaN(instant.getTime()) || instant.toISOString().slice(0, 19) !== ts.slice(0, 19)) return undefined;
  if (BigInt(id) > MAX_BIGINT) return undefined;
  return { ts, id };
}

/** `%q%` for LIKE/ILIKE with the default escape character: \ % _ in q stand for themselves. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * True when pg_trgm can extract a trigram from `%q%`: q holds a run of at least three
 * letters/digits (pg_trgm's word characters; the 2-character pad trigrams exist only at word
 * boundaries the pattern does not pin down).
 */
export function trigramSearchable(q: string): boolean {
  return /[\p{L}\p{N}]{3}/u.test(q);
}

// ---------------------------------------------------------------------------------------------
// Query

interface Row {
  chain?: string;
  chain_seq?: string;
  hash_hex?: string;
  stanza_id: string;
  ts: Date;
  ts_key: string;
  id: string;
  from_jid: string;
  to_jid: string;
  type: string;
  body: string | null;
  verdict: Verdict;
  matches: unknown;
  direction: ArchivedMessage['direction'];
  policy_version: string;
  thread: string | null;
}

export async function searchArchive(sql: Sql, query: ArchiveSearchQuery): Promise<ArchiveSearchPage> {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) throw new ArchiveSearchError(`limit must be 1..${MAX_SEARCH_LIMIT}`);
  const { records, more } = await readArchive(sql, query, { order: 'newest-first' });
  const last = records[records.length - 1];
  return {
    items: records.map((r) => r.message),
    next: more && last !== undefined ? encodeCursor(last.key) : null,
  };
}

/**
 * Up to `query.limit` rows meeting the filters, strictly past `query.cursor` in `order`, and
 * whether more rows follow. The building block of search pages, export batches and conversation
 * pages; callers bound `limit` for their own purpose (at most MAX_READ_LIMIT here).
 */
export async function readArchive(sql: Sql, query: ArchiveSearchQuery, opts: ArchiveReadOptions): Promise<{ records: ArchiveRecord[]; more: boolean }> {
  const { limit } = query;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_READ_LIMIT) throw new ArchiveSearchError(`limit must be 1..${MAX_READ_LIMIT}`);
  if (query.peer !== undefined && query.user === undefined) throw new ArchiveSearchError('peer needs user');
  if (query.since !== undefined && query.until !== undefined && query.since >= query.until) throw new ArchiveSearchError('since must be before until');

  // postgres.js prepares every statement, and after five runs PostgreSQL may switch a prepared
  // statement to a generic plan, chosen without the values. Here the values decide the plan (a
  // rare trigram → the GIN index; a common one or a narrow window → the (ts, id) index): measured
  // on 200k rows, the generic plan made a windowed Chinese search 10–20× slower from the sixth
  // run on. SET LOCAL keeps custom plans for this transaction only.
  const rows = await sql.begin(async (tx) => {
    await tx`SET LOCAL plan_cache_mode = force_custom_plan`;
    return tx<Row[]>`${searchStatement(tx, query, opts)}`;
  });

  const page = rows.length > limit ? rows.slice(0, limit) : rows;
  return { records: page.map((r) => toRecord(r, opts.withChain === true)), more: rows.length > limit };
}

/** The SELECT for a query; built with the transaction's own sql (PGlite: never the pool inside a transaction). */
function searchStatement(sql: postgres.TransactionSql, query: ArchiveSearchQuery, opts: ArchiveReadOptions): postgres.Fragment {
  const newest = opts.order === 'newest-first';
  // Fragments, not strings: the direction is one of two fixed texts, never a value.
  const order = newest ? sql`ORDER BY ts DESC, id DESC` : sql`ORDER BY ts ASC, id ASC`;
  const conds: postgres.Fragment[] = [];
  if (query.since !== undefined) conds.push(sql`ts >= ${query.since.toISOString()}::text::timestamptz`);
  if (query.until !== undefined) conds.push(sql`ts < ${query.until.toISOString()}::text::timestamptz`);
  if (query.cursor !== undefined) {
    const c = sql`(${query.cursor.ts}::text::timestamptz, ${query.cursor.id}::bigint)`;
    conds.push(newest ? sql`(ts, id) < ${c}` : sql`(ts, id) > ${c}`);
  }
  if (query.verdict !== undefined) conds.push(sql`verdict = ${query.verdict}`);
  // A query with a trigram reads rows through archive_search (see `select` below); a shorter one
  // is a plain substring test, which no index serves (see the top of this file); lower() on both
  // sides is what ILIKE does.
  const indexed = query.q !== undefined && query.q.length > 0 && trigramSearchable(query.q);
  if (query.q !== undefined && query.q.length > 0 && !indexed) conds.push(sql`strpos(lower(body), lower(${query.q})) > 0`);
  const pattern = indexed ? likePattern(query.q!) : '';

  const fetch = query.limit + 1; // one more row says whether there is a next page
  const chainCols = opts.withChain === true ? sql`, chain, chain_seq, encode(hash, 'hex') AS hash_hex` : sql``;
  const cols = sql`stanza_id, ts, id, from_jid, to_jid, type, body, verdict, matches, direction, policy_version, thread,
    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_key${chainCols}`;
  const where = (first: postgres.Fragment[]): postgres.Fragment =>
    [...first, ...conds].reduce((acc, c) => sql`${acc} AND ${c}`, sql`TRUE`);
  // One page of rows (in `order`) meeting `first` and the shared conditions. With a trigram
  // query: the rows the search indexer copied into archive_search (the planner drives from its
  // trigram index for a rare term, or walks it in order for a common one), plus the few
  // seconds of rows past the indexer's watermark, read from the archive itself.
  const select = (first: postgres.Fragment[]) =>
    indexed
      ? sql`(SELECT ${cols} FROM archive JOIN archive_search USING (ts, id) WHERE content ILIKE ${pattern} AND ${where(first)} ${order} LIMIT ${fetch})
            UNION ALL
            (SELECT ${cols} FROM archive WHERE (ts, id) > (SELECT p.ts, p.id FROM archive_search_progress p) AND body ILIKE ${pattern} AND ${where(first)} ${order} LIMIT ${fetch})`
      : sql`(SELECT ${cols} FROM archive WHERE ${where(first)} ${order} LIMIT ${fetch})`;
  const branch = (first: postgres.Fragment[]) => (indexed ? sql`(${select(first)})` : select(first));

  const { user, peer } = query;
  if (indexed && user === undefined && query.verdict === undefined) {
    // Every remaining condition is on (ts, id), which archive_search has too: find the page's
    // rows there alone — where PostgreSQL estimates well and walks (ts, id) in order for a common
    // term or uses the trigram index for a rare one — then fetch just those from the archive.
    const onTsId = where([]);
    return sql`SELECT ${cols} FROM (
        (SELECT ts, id FROM archive_search WHERE content ILIKE ${pattern} AND ${onTsId} ${order} LIMIT ${fetch})
        UNION ALL
        (SELECT ts, id FROM archive WHERE (ts, id) > (SELECT p.ts, p.id FROM archive_search_progress p) AND body ILIKE ${pattern} AND ${onTsId}
         ${order} LIMIT ${fetch})
      ) AS hit JOIN archive USING (ts, id) ${order} LIMIT ${fetch}`;
  }
  if (user === undefined) return sql`SELECT * FROM (${select([])}) AS a ${order} LIMIT ${fetch}`;
  // "sent by" ∪ "received by", each in order on its own index; a message to oneself is only
  // in the first branch.
  const sent = branch(peer === undefined ? [sql`from_bare = ${user}`] : [sql`from_bare = ${user}`, sql`to_bare = ${peer}`]);
  const received =
    peer === undefined ? branch([sql`to_bare = ${user}`, sql`from_bare <> ${user}`])
    : peer === user ? undefined
    : branch([sql`from_bare = ${peer}`, sql`to_bare = ${user}`]);
  return received === undefined
    ? sql`SELECT * FROM ${sent} AS s ${order} LIMIT ${fetch}`
    : sql`SELECT * FROM (${sent} UNION ALL ${received}) AS u ${order} LIMIT ${fetch}`;
}

function toRecord(r: Row, withChain: boolean): ArchiveRecord {
  const key = { ts: r.ts_key, id: String(r.id) };
  const message = toMessage(r);
  return withChain && r.chain !== undefined
    ? { message, key, chain: { chain: r.chain, chainSeq: Number(r.chain_seq), hash: r.hash_hex ?? '' } }
    : { message, key };
}

function toMessage(r: Row): ArchivedMessage {
  return {
    id: r.stanza_id,
    ts: r.ts,
    from: r.from_jid,
    to: r.to_jid,
    type: r.type,
    body: r.body,
    verdict: r.verdict,
    matches: Array.isArray(r.matches) ? (r.matches as RuleMatch[]) : [],
    direction: r.direction,
    policyVersion: Number(r.policy_version),
    thread: r.thread,
  };
}
