// Tamper evidence: walks each archive chain in chain_seq order and recomputes every row's hash
// exactly as the writer did (archive-writer.ts: hash = chainHash(prev_hash, canonicalForm(row))).
//
// A chain is broken at the first row where
// - chain_seq is not the previous row's + 1 (a row deleted, or inserted with a reused number),
// - prev_hash is not the previous row's hash (GENESIS_HASH for the first row), or
// - hash is not what the row's content gives (the row was edited), or
// - from_bare/to_bare are not the bare forms of the (signed) from_jid/to_jid.
// Keyset pagination in batches keeps memory constant on any archive size. After a break the walk
// goes on (re-anchored at the stored hash) only to count the chain's rows.
//
// Retention (retention.ts) deletes old rows but leaves a tombstone for each (archive_tombstones:
// chain, chain_seq, prev_hash, hash — no content). The walk merges the chain's rows and its
// tombstones in chain_seq order: a tombstone fills its place in the chain, linked by its
// prev_hash and hash. Its content cannot be rehashed (it is gone), but the linkage shows the
// row was removed by retention with its hashes recorded, not cut out: a gap with no tombstone
// still breaks the chain, and so does a tombstone whose prev_hash does not follow.
//
// What this cannot see: rows deleted from a chain's end (nothing follows them). Compare a chain's
// length with an outside record (a published head hash) for that. Nor can it tell a tombstone
// written by hand (with the deleted row's hashes) from retention's: compare tombstones' ts with
// the cutoffs of the 'retention.run' entries in the access log for that.
import type { Sql } from 'postgres';
import { GENESIS_HASH, canonicalForm, chainHash, type RuleMatch, type Verdict } from './archive-record.ts';

export const DEFAULT_VERIFY_BATCH = 1000;

export interface VerifyOptions {
  /** Only this chain (default: every chain in the archive). */
  readonly chain?: string;
  /** Rows per query (default 1000). */
  readonly batchSize?: number;
}

export interface BrokenRow {
  /** archive.id; 'tombstone' when the break is at a tombstone. */
  readonly id: string;
  /** Present (true) when the break is at a tombstone rather than a row. */
  readonly tombstone?: true;
  readonly chainSeq: number;
  readonly stanzaId: string;
  readonly ts: string;
  readonly reason: string;
}

export interface ChainReport {
  readonly chain: string;
  /** Rows present in the archive. */
  readonly rows: number;
  /** Rows deleted by retention, linked through their tombstones. */
  readonly tombstoned: number;
  readonly ok: boolean;
  readonly firstBroken?: BrokenRow;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly chains: ChainReport[];
}

interface Row {
  id: string;
  ts: Date;
  chain_seq: string;
  stanza_id: string;
  origin_id: string | null;
  client_id: string | null;
  from_jid: string;
  to_jid: string;
  from_bare: string;
  to_bare: string;
  type: string;
  thread: string | null;
  body: string | null;
  redacted_body: string | null;
  raw: string;
  direction: 'internal' | 'outbound' | 'inbound';
  verdict: Verdict;
  reason: string | null;
  matches: unknown;
  policy_version: string;
  prev_hash: Buffer;
  hash: Buffer;
}

export async function verifyArchive(sql: Sql, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const batchSize = opts.batchSize ?? DEFAULT_VERIFY_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const names = opts.chain !== undefined ? [opts.chain] : await listChains(sql);
  const chains: ChainReport[] = [];
  for (const chain of names) chains.push(await verifyChain(sql, chain, batchSize));
  return { ok: chains.every((c) => c.ok), chains };
}

/**
 * Distinct chains of the archive and of the tombstones (a chain may live on only in tombstones),
 * each through its (chain, chain_seq) index: one index probe per chain, not a scan.
 */
async function listChains(sql: Sql): Promise<string[]> {
  const rows = await sql<{ chain: string }[]>`
    WITH RECURSIVE c(chain) AS (
      SELECT min(chain) FROM archive
      UNION ALL
      SELECT (SELECT min(a.chain) FROM archive a WHERE a.chain > c.chain) FROM c WHERE c.chain IS NOT NULL
    ), t(chain) AS (
      SELECT min(chain) FROM archive_tombstones
      UNION ALL
      SELECT (SELECT min(x.chain) FROM archive_tombstones x WHERE x.chain > t.chain) FROM t WHERE t.chain IS NOT NULL
    )
    SELECT chain FROM c WHERE chain IS NOT NULL
    UNION
    SELECT chain FROM t WHERE chain IS NOT NULL
    ORDER BY chain`;
  return rows.map((r) => r.chain);
}

interface TombstoneRow {
  chain_seq: string;
  ts: Date;
  stanza_id: string;
  prev_hash: Buffer;
  hash: Buffer;
}

/** A chain's rows in (chain_seq, id) order, fetched in keyset batches. */
async function* chainRows(sql: Sql, chain: string, batchSize: number): AsyncGenerator<Row> {
  // Keyset on (chain_seq, id): a duplicated chain_seq is still visited, once.
  let afterSeq = '0';
  let afterId = '0';
  for (;;) {
    const batch = await sql<Row[]>`
      SELECT id, ts, chain_seq, stanza_id, origin_id, client_id, from_jid, to_jid, from_bare, to_bare, type, thread, body,
             redacted_body, raw, direction, verdict, reason, matches, policy_version, prev_hash, hash
      FROM archive
      WHERE chain = ${chain} AND chain_seq >= ${afterSeq}::bigint AND (chain_seq, id) > (${afterSeq}::bigint, ${afterId}::bigint)
      ORDER BY chain_seq, id
      LIMIT ${batchSize}`;
    yield* batch;
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < batchSize) return;
    afterSeq = String(last.chain_seq);
    afterId = String(last.id);
  }
}

/** A chain's tombstones in chain_seq order (unique per chain: the primary key), in keyset batches. */
async function* chainTombstones(sql: Sql, chain: string, batchSize: number): AsyncGenerator<TombstoneRow> {
  let afterSeq = '0';
  for (;;) {
    const batch = await sql<TombstoneRow[]>`
      SELECT chain_seq, ts, stanza_id, prev_hash, hash FROM archive_tombstones
      WHERE chain = ${chain} AND chain_seq > ${afterSeq}::bigint
      ORDER BY chain_seq
      LIMIT ${batchSize}`;
    yield* batch;
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < batchSize) return;
    afterSeq = String(last.chain_seq);
  }
}

async function verifyChain(sql: Sql, chain: string, batchSize: number): Promise<ChainReport> {
  let rows = 0;
  let tombstoned = 0;
  let firstBroken: BrokenRow | undefined;
  let prevSeq = 0;
  let prevHash: Buffer = GENESIS_HASH;
  // Two ordered streams merged by chain_seq; each holds one batch at most, so memory is constant.
  // Queries are issued one after the other (never inside a cursor), as the embedded store needs.
  const rowIt = chainRows(sql, chain, batchSize);
  const tombIt = chainTombstones(sql, chain, batchSize);
  let row = await rowIt.next();
  let tomb = await tombIt.next();
  while (!row.done || !tomb.done) {
    // On equal chain_seq the row goes first and the tombstone is then reported as the duplicate.
    if (!row.done && (tomb.done || Number(row.value.chain_seq) <= Number(tomb.value.chain_seq))) {
      const r = row.value;
      rows++;
      const seq = Number(r.chain_seq);
      if (firstBroken === undefined) {
        const reason = checkRow(r, chain, seq, prevSeq, prevHash);
        if (reason !== undefined) firstBroken = { id: String(r.id), chainSeq: seq, stanzaId: r.stanza_id, ts: r.ts.toISOString(), reason };
      }
      prevSeq = seq;
      prevHash = r.hash;
      row = await rowIt.next();
    } else if (!tomb.done) {
      const t = tomb.value;
      tombstoned++;
      const seq = Number(t.chain_seq);
      if (firstBroken === undefined) {
        const reason = checkLink(seq, prevSeq, t.prev_hash, prevHash, 'tombstone');
        if (reason !== undefined) {
          firstBroken = { id: 'tombstone', tombstone: true, chainSeq: seq, stanzaId: t.stanza_id, ts: t.ts.toISOString(), reason };
        }
      }
      prevSeq = seq;
      prevHash = t.hash;
      tomb = await tombIt.next();
    }
  }
  return firstBroken === undefined ? { chain, rows, tombstoned, ok: true } : { chain, rows, tombstoned, ok: false, firstBroken };
}

/** Why an element (row or tombstone) at `seq` with `prevHashOf` does not follow the previous one. */
function checkLink(seq: number, prevSeq: number, prevHashOf: Buffer, prevHash: Buffer, what: 'row' | 'tombstone'): string | undefined {
  if (seq !== prevSeq + 1) {
    if (seq === prevSeq) return what === 'row' ? `chain_seq ${seq} appears twice (a row was inserted)` : `chain_seq ${seq} has both a row and a tombstone`;
    const missing = seq - prevSeq - 1;
    return prevSeq === 0
      ? `the chain starts at chain_seq ${seq}, not 1 (${missing} row${missing === 1 ? '' : 's'} before it deleted)`
      : `chain_seq jumps from ${prevSeq} to ${seq} (${missing} row${missing === 1 ? '' : 's'} deleted)`;
  }
  if (!prevHashOf.equals(prevHash)) {
    const subject = what === 'row' ? 'prev_hash' : 'the tombstone\'s prev_hash';
    return seq === 1 ? `${subject} of the first row is not the genesis hash` : `${subject} is not the hash of chain_seq ${prevSeq}`;
  }
  return undefined;
}

/** Why row `r` breaks the chain, or undefined when it continues it. */
function checkRow(r: Row, chain: string, seq: number, prevSeq: number, prevHash: Buffer): string | undefined {
  const link = checkLink(seq, prevSeq, r.prev_hash, prevHash, 'row');
  if (link !== undefined) return link;
  const matches = toMatches(r.matches);
  if (matches === undefined) return 'matches is not a JSON array of matches (the row was edited)';
  const expected = chainHash(
    r.prev_hash,
    canonicalForm({
      ts: r.ts,
      chain,
      chainSeq: seq,
      stanzaId: r.stanza_id,
      originId: r.origin_id,
      clientId: r.client_id,
      fromJid: r.from_jid,
      toJid: r.to_jid,
      fromBare: r.from_bare,
      toBare: r.to_bare,
      type: r.type,
      thread: r.thread,
      body: r.body,
      redactedBody: r.redacted_body,
      raw: r.raw,
      direction: r.direction,
      verdict: r.verdict,
      reason: r.reason,
      matches,
      policyVersion: Number(r.policy_version),
    }),
  );
  if (!expected.equals(r.hash)) return 'hash does not match the row content (the row was edited)';
  // from_bare/to_bare are not signed (they derive from the full JIDs, which are), but search and
  // MAM select on them: an edit there would hide a message from its user's history.
  if (r.from_bare !== bareOf(r.from_jid) || r.to_bare !== bareOf(r.to_jid)) return 'from_bare/to_bare do not match from_jid/to_jid (the row was edited)';
  return undefined;
}

/** RFC 7622 §3.1: neither localpart nor domainpart holds '/', so the bare JID ends at the first one. */
function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/**
 * jsonb gives back objects with their keys reordered; canonicalForm reads the fields by name in
 * a fixed order, so only the values matter. Anything that is not an array of objects was edited.
 */
function toMatches(v: unknown): RuleMatch[] | undefined {
  if (!Array.isArray(v)) return undefined;
  for (const m of v) if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  return v as RuleMatch[];
}
