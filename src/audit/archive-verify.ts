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
// row was removed with its hashes recorded, not cut out: a gap with no tombstone still breaks
// the chain, and so does a tombstone whose prev_hash does not follow.
//
// A tombstone carries the deleted row's own hashes, so anyone able to write to the database could
// delete any row and write its tombstone by hand. So a tombstone counts only when retention's own
// records account for it (migrations/0012):
// - it belongs to a retention batch (batch_id), written in the same transaction as the tombstone;
// - that batch's count and digest (SHA-256 over its tombstones' chain, chain_seq and hash) match
//   the tombstones that name it, every one of them is of a message older than the batch's cutoff,
//   and the cutoff is at least a day before the batch ran (RETENTION_DAYS ≥ 1);
// - the batch's run is in the access log: a 'retention.run' entry (hash-chained itself) whose
//   batch count and digest of batch digests match. A run ends by writing that entry, so a run
//   whose last batch is recent (runLogGraceMs) is reported as pending, not as a break.
// A forger would have to write a batch record and a matching entry at the end of the access log,
// where auditors read it; a tombstone alone, or added to a real batch, breaks the chain.
//
// What this cannot see: rows deleted from a chain's end (nothing follows them). Compare a chain's
// length with an outside record (a published head hash) for that. Nor whether a deleted message
// was under a legal hold at the time: tombstones keep no parties (retention removes who spoke as
// well as what was said); the lock between holds and retention batches (retention.ts) is what
// prevents it.
import type { Sql } from 'postgres';
import { GENESIS_HASH, canonicalForm, chainHash, type RuleMatch, type Verdict } from './archive-record.ts';

export const DEFAULT_VERIFY_BATCH = 1000;

export interface VerifyOptions {
  /** Only this chain (default: every chain in the archive). */
  readonly chain?: string;
  /** Rows per query (default 1000). */
  readonly batchSize?: number;
  /**
   * A retention run whose last batch is younger than this and that is not in the access log yet
   * may still be running (its entry is written at its end): pending, not a break. Default 1 hour.
   */
  readonly runLogGraceMs?: number;
  /**
   * A head of `chain` noted earlier (outside Warden: a ticket, a printout): the element at that
   * chain_seq must still be there with that hash. A chain rewritten from some row on, hashes
   * recomputed, walks as intact; this is what shows it — and a chain cut short before the head.
   */
  readonly expectHead?: { readonly seq: number; readonly hash: Buffer };
}

export const DEFAULT_RUN_LOG_GRACE_MS = 3_600_000;

/** What retention's records say, checked against the tombstones and the access log. */
export interface RetentionRecordReport {
  /** retention_batches rows. */
  readonly batches: number;
  readonly runs: number;
  /** Runs not (yet) in the access log whose last batch is within runLogGraceMs. */
  readonly pendingRuns: string[];
  /** Batches whose record does not hold (at most MAX_REPORTED_PROBLEMS). */
  readonly problems: { readonly batchId: string; readonly reason: string }[];
}

const MAX_REPORTED_PROBLEMS = 20;

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
  /** The newest element (row or tombstone): note it somewhere Warden cannot write, check it later. */
  readonly head?: ChainHead;
  /** The outcome of VerifyOptions.expectHead; `ok` false makes the chain not ok. */
  readonly noted?: { readonly seq: number; readonly ok: boolean; readonly reason?: string };
}

export interface ChainHead {
  readonly seq: number;
  /** Hex SHA-256. */
  readonly hash: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly chains: ChainReport[];
  readonly retention: RetentionRecordReport;
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
  const records = await checkRetentionRecords(sql, opts.runLogGraceMs ?? DEFAULT_RUN_LOG_GRACE_MS);
  const names = opts.chain !== undefined ? [opts.chain] : await listChains(sql);
  const chains: ChainReport[] = [];
  if (opts.expectHead !== undefined && opts.chain === undefined) throw new RangeError('expectHead needs the chain it was noted on');
  for (const chain of names) chains.push(await verifyChain(sql, chain, batchSize, records.verdicts, opts.expectHead));
  const retention = records.report;
  // A batch's problem shows in every chain it deleted from; for one chain, only that chain counts.
  const recordsOk = opts.chain !== undefined || retention.problems.length === 0;
  return { ok: chains.every((c) => c.ok) && recordsOk, chains, retention };
}

/** Per batch id: why its record does not hold, or null when it does. */
type BatchVerdicts = ReadonlyMap<string, string | null>;

interface RunRow {
  run_id: string;
  batches: string;
  digest: Buffer;
  recent: boolean;
}

interface BatchCheckRow {
  id: string;
  run_id: string;
  deleted: number;
  digest: Buffer;
  n: string;
  actual: Buffer;
  newer: boolean;
  early: boolean;
}

/**
 * Checks every retention batch against its tombstones and every run against the access log.
 * One entry per batch is kept (a batch deletes up to 1000 rows, so a million deletions are a
 * thousand entries); tombstones are aggregated by the database, batch by batch.
 */
async function checkRetentionRecords(sql: Sql, graceMs: number): Promise<{ verdicts: BatchVerdicts; report: RetentionRecordReport }> {
  // The runs as the access log recorded them (one entry per run; retention runs hourly at most).
  const logged = new Map<string, { batches: unknown; digest: unknown }>();
  const entries = await sql<{ detail: Record<string, unknown> }[]>`SELECT detail FROM access_log WHERE action = 'retention.run'`;
  for (const { detail } of entries) {
    if (typeof detail.runId === 'string') logged.set(detail.runId, { batches: detail.recordedBatches, digest: detail.batchesDigest });
  }
  const runs = await sql<RunRow[]>`
    SELECT run_id, count(*) AS batches, sha256(string_agg(digest, ''::bytea ORDER BY id)) AS digest,
           max(deleted_at) > clock_timestamp() - ${graceMs} * interval '1 millisecond' AS recent
    FROM retention_batches GROUP BY run_id`;
  const runProblem = new Map<string, string>();
  const pendingRuns: string[] = [];
  for (const r of runs) {
    const entry = logged.get(r.run_id);
    if (entry === undefined) {
      if (r.recent) pendingRuns.push(r.run_id);
      else runProblem.set(r.run_id, `retention run ${r.run_id} is not in the access log`);
    } else if (entry.batches !== Number(r.batches) || entry.digest !== r.digest.toString('hex')) {
      runProblem.set(r.run_id, `retention run ${r.run_id} does not match its access-log entry (batches or their digest differ)`);
    }
  }

  const verdicts = new Map<string, string | null>();
  const problems: { batchId: string; reason: string }[] = [];
  let problemCount = 0;
  let after = '0';
  for (;;) {
    const page = await sql<BatchCheckRow[]>`
      SELECT b.id, b.run_id, b.deleted, b.digest, t.n, t.actual,
             t.newest >= b.cutoff AS newer,
             b.cutoff > b.deleted_at - interval '1 day' AS early
      FROM retention_batches b
      CROSS JOIN LATERAL (
        SELECT count(*) AS n, max(x.ts) AS newest,
               sha256(coalesce(string_agg(convert_to(x.chain, 'UTF8') || decode('00', 'hex') || int8send(x.chain_seq) || x.hash, ''::bytea
                                          ORDER BY x.chain COLLATE "C", x.chain_seq), ''::bytea)) AS actual
        FROM archive_tombstones x WHERE x.batch_id = b.id
      ) t
      WHERE b.id > ${after}::bigint
      ORDER BY b.id
      LIMIT 500`;
    for (const b of page) {
      const id = String(b.id);
      const reason =
        Number(b.n) !== b.deleted ? `retention batch ${id} recorded ${b.deleted} deletions but ${b.n} tombstones name it`
        : !b.actual.equals(b.digest) ? `the tombstones of retention batch ${id} do not match its digest (one was edited or replaced)`
        : b.newer ? `retention batch ${id} names a tombstone of a message newer than its cutoff`
        : b.early ? `retention batch ${id} has a cutoff less than a day before it ran`
        : runProblem.get(b.run_id) ?? null;
      verdicts.set(id, reason);
      if (reason !== null && problemCount++ < MAX_REPORTED_PROBLEMS) problems.push({ batchId: id, reason });
    }
    const last = page[page.length - 1];
    if (last === undefined || page.length < 500) break;
    after = String(last.id);
  }
  return { verdicts, report: { batches: verdicts.size, runs: runs.length, pendingRuns, problems } };
}

/** Why a tombstone is not accounted for by retention's records, or undefined when it is. */
function tombstoneRecord(batchId: string | null, verdicts: BatchVerdicts): string | undefined {
  if (batchId === null) return 'the tombstone belongs to no retention batch (written by hand, or before migration 0012)';
  const verdict = verdicts.get(String(batchId));
  if (verdict === undefined) return `the tombstone names retention batch ${batchId}, which does not exist`;
  return verdict ?? undefined;
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
  batch_id: string | null;
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
      SELECT chain_seq, batch_id, ts, stanza_id, prev_hash, hash FROM archive_tombstones
      WHERE chain = ${chain} AND chain_seq > ${afterSeq}::bigint
      ORDER BY chain_seq
      LIMIT ${batchSize}`;
    yield* batch;
    const last = batch[batch.length - 1];
    if (last === undefined || batch.length < batchSize) return;
    afterSeq = String(last.chain_seq);
  }
}

async function verifyChain(
  sql: Sql,
  chain: string,
  batchSize: number,
  verdicts: BatchVerdicts,
  expectHead?: VerifyOptions['expectHead'],
): Promise<ChainReport> {
  let noted: { seq: number; ok: boolean; reason?: string } | undefined;
  /** Checks the noted head against the element at `seq` with stored `hash`. */
  const note = (seq: number, hash: Buffer) => {
    if (expectHead === undefined || seq !== expectHead.seq || noted !== undefined) return;
    noted = hash.equals(expectHead.hash)
      ? { seq, ok: true }
      : { seq, ok: false, reason: `chain_seq ${seq} no longer has the hash noted for it: the chain was rewritten from there or before` };
  };
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
      note(seq, r.hash);
      prevSeq = seq;
      prevHash = r.hash;
      row = await rowIt.next();
    } else if (!tomb.done) {
      const t = tomb.value;
      tombstoned++;
      const seq = Number(t.chain_seq);
      if (firstBroken === undefined) {
        const reason = checkLink(seq, prevSeq, t.prev_hash, prevHash, 'tombstone') ?? tombstoneRecord(t.batch_id, verdicts);
        if (reason !== undefined) {
          firstBroken = { id: 'tombstone', tombstone: true, chainSeq: seq, stanzaId: t.stanza_id, ts: t.ts.toISOString(), reason };
        }
      }
      note(seq, t.hash);
      prevSeq = seq;
      prevHash = t.hash;
      tomb = await tombIt.next();
    }
  }
  if (expectHead !== undefined && noted === undefined) {
    noted = { seq: expectHead.seq, ok: false, reason: `the chain ends at chain_seq ${prevSeq}, before the noted head ${expectHead.seq}: rows were cut from its end` };
  }
  const head = prevSeq === 0 ? {} : { head: { seq: prevSeq, hash: prevHash.toString('hex') } };
  const ok = firstBroken === undefined && noted?.ok !== false;
  return { chain, rows, tombstoned, ok, ...(firstBroken !== undefined && { firstBroken }), ...head, ...(noted !== undefined && { noted }) };
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
