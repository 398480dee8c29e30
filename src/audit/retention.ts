// Retention (issue #5): archived messages older than RETENTION_DAYS are deleted by a scheduled
// job, in small batches, so traffic is never blocked.
//
// A run walks the archive rows with ts < cutoff in (ts, id) order — the archive's primary key —
// one window of `batchSize` rows at a time. Each window is one short transaction:
//
//   locks ─► DELETE the window's deletable rows ─► INSERT their tombstones and the batch record
//                                               ├─► DELETE their archive_search rows (and any
//                                               │   archive_search row of the window left without
//                                               │   its archive row)
//                                               └─► blank the matched text in their incidents
//
// all in one statement (data-modifying CTEs), so a row and its tombstone commit together. Then a
// short pause, and the next window starts after the last row this one looked at, so rows kept
// back are read once per run, not once per batch.
//
// Kept back (the window moves past them):
// - a legal hold in force covers the message (legal-holds.ts): a held user on either side, or a
//   held conversation between its two sides;
// - an officer still needs it: an incident of it is open, holds it for a decision (hold_state
//   'held' — releasing it delivers the archived stanza), or was resolved as escalated (the
//   matters likeliest to reach litigation keep their evidence until an officer reopens and
//   resolves them otherwise);
// - it is the newest row of its chain (as of the run's start): the archive writer finds where a
//   chain stopped by reading its last row (archive-writer.ts readHead), so a chain emptied by
//   retention would restart at chain_seq 1 after a restart and collide with its own tombstones.
//   One old row per quiet node is the price.
//
// Why this never blocks traffic: the cutoff is a parameter in the DELETE's own WHERE, so the
// hot (current-month) partition the writer inserts into is pruned from the statement and never
// locked; rows older than the cutoff are never updated by anyone else, so the row locks a batch
// takes meet no one; each transaction holds at most `batchSize` row locks for milliseconds, and
// lock_timeout bounds any wait on an incident row an officer is updating at that moment.
// On the embedded store (one backend) each batch holds the whole database for its duration,
// which the pause between batches makes room around.
//
// Locks each batch takes, in this order, and why:
// 1. pg_try_advisory_xact_lock(RETENTION_LOCK_KEY): several nodes — one that does not get it
//    ends its run (the holder is doing the work). On PGlite the lock never excludes (one
//    session), which is harmless: there is one process.
// 2. pg_advisory_xact_lock(ARCHIVE_COPY_LOCK_KEY), exclusive: whoever copies message text out of
//    archive rows into another table (the search indexer; see lockAgainstRetention) holds it
//    shared for its copying transaction. So a copy either commits before the batch's statement
//    takes its snapshot (the batch sees the copy and deletes it with the row) or starts after the
//    batch committed (its snapshot no longer has the row): no interleaving leaves a body behind.
// 3. LOCK legal_holds IN SHARE MODE: placing (or releasing) a hold waits for the batch in
//    progress, and the batch's statement sees every hold committed before it. A hold is in
//    force once POST /legal-holds has answered, and nothing it covers is deleted from then on;
//    tombstones' deleted_at is clock_timestamp() inside the batch, and a hold's created_at is
//    taken after its insert got the table lock, so a tombstone always predates any hold that
//    covers it.
//
// What happens to the incidents of deleted messages (only resolved ones with no pending hold can
// be there): the incident row stays — the review record, its disposition and events are not the
// message — and the incident API already answers it with `message: null`. Its `matches` keep the
// rule, severity and offsets (rule statistics still count them) but their `match` text, a piece of
// the message, becomes "".
//
// Records: each batch writes, in its own transaction, a retention_batches row (migrations/0012:
// run id, cutoff, count and a digest of the tombstones it made), which archive verification
// checks every tombstone against (archive-verify.ts). Each run that deleted something is recorded
// in the access log ('retention.run', by the system) with its run id, its batches and a digest of
// their digests — also a run that failed part-way (`partial: true`, the error), since its
// earlier batches stay committed.
import { createHash, randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Logger } from '../log.ts';
import { SYSTEM_PRINCIPAL, type AccessLog } from './access-log.types.ts';

export const DEFAULT_RETENTION_BATCH = 1000;
export const DEFAULT_RETENTION_PAUSE_MS = 20;
const DAY_MS = 86_400_000;

// Advisory locks share one 64-bit key space per database; arbitrary constants of retention's own.
const RETENTION_LOCK_KEY = '8319107012398421070';
/** Held exclusively by a retention batch, shared by anyone copying message text out of archive rows. */
export const ARCHIVE_COPY_LOCK_KEY = '8319107012398421071';

/**
 * For a transaction that copies message text out of archive rows into another table (the search
 * indexer; a retro-scan's incidents): call first, then read the rows and write the copy in the
 * same transaction. Retention cannot delete a row while the copy is in progress, and the copy's
 * next statement no longer sees rows a batch deleted before it — so no copy outlives its row.
 */
export async function lockAgainstRetention(tx: TransactionSql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock_shared(${ARCHIVE_COPY_LOCK_KEY}::bigint)`;
}

export interface RetentionOptions {
  readonly sql: Sql;
  readonly log: Logger;
  readonly accessLog: AccessLog;
  /** Messages older than this are deleted; must be ≥ 1 (0 means "keep for ever": do not start the job). */
  readonly retentionDays: number;
  /** Between runs (RETENTION_INTERVAL_MS). */
  readonly intervalMs: number;
  /** Rows per window, each one transaction (default 1000). */
  readonly batchSize?: number;
  /** Pause between windows (default 20 ms). */
  readonly pauseMs?: number;
  /** The clock the cutoff is computed from (tests). */
  readonly now?: () => Date;
}

export interface RetentionRunResult {
  /** This run's id, in its retention_batches rows and its access-log entry. */
  readonly runId: string;
  /** Messages older than this were candidates. */
  readonly cutoff: Date;
  readonly deleted: number;
  /** Old messages kept because a legal hold covers them. */
  readonly exemptByHold: number;
  /** Old messages kept for an open or escalated incident or a pending hold decision (and no legal hold). */
  readonly exemptByIncident: number;
  /** archive_search rows whose archive row was already gone (a copy that outlived its row), removed. */
  readonly orphansRemoved: number;
  /**
   * Undelivered offline copies (XEP-0160) stored before the cutoff, deleted: the archive holds
   * the record (its own rules above decide when that goes), and a queued copy of a message must
   * not outlive the retention period — a legal hold keeps the archived message, not the queue.
   */
  readonly offlineDeleted: number;
  /** Transactions committed. */
  readonly batches: number;
  readonly durationMs: number;
  /** Another node held the retention lock: this run stopped there and left the work to it. */
  readonly yielded: boolean;
}

/** Pure: the instant before which messages are deleted. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new RangeError(`retentionDays must be a positive integer, got ${retentionDays}`);
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * Pure: the digest of a run's batches for its access-log entry — SHA-256 over the batches'
 * digests in batch id order. Archive verification recomputes it from retention_batches.
 */
export function runDigest(batchDigests: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const d of batchDigests) h.update(d);
  return h.digest('hex');
}

interface BatchRow {
  deleted: string;
  held: string;
  needed: string;
  scanned: string;
  orphans: string;
  batch_id: string | null;
  digest: Buffer | null;
  last_ts: string | null;
  last_id: string | null;
}

export class RetentionJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;
  private readonly batchSize: number;
  private readonly pauseMs: number;
  private readonly now: () => Date;

  constructor(private readonly opts: RetentionOptions) {
    retentionCutoff(new Date(0), opts.retentionDays); // validates retentionDays
    this.batchSize = opts.batchSize ?? DEFAULT_RETENTION_BATCH;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${this.batchSize}`);
    this.pauseMs = opts.pauseMs ?? DEFAULT_RETENTION_PAUSE_MS;
    this.now = opts.now ?? (() => new Date());
  }

  /** Runs once now, then every intervalMs until stop(). */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops after the batch in progress (its transaction commits); resolves when it has. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.run()
        .catch((err: unknown) => this.opts.log.warn('retention run failed; retrying at the next interval', { error: String(err) }))
        .finally(() => this.schedule(this.opts.intervalMs));
    }, ms);
    this.timer.unref();
  }

  /** One run: deletes every deletable message older than the cutoff, batch by batch. */
  async runOnce(): Promise<RetentionRunResult> {
    return this.run(true);
  }

  private async run(evenIfStopped = false): Promise<RetentionRunResult> {
    const { sql } = this.opts;
    const started = performance.now();
    const runId = randomUUID();
    const cutoff = retentionCutoff(this.now(), this.opts.retentionDays);
    let deleted = 0;
    let exemptByHold = 0;
    let exemptByIncident = 0;
    let orphansRemoved = 0;
    let offlineDeleted = 0;
    let batches = 0;
    let yielded = false;
    const batchIds: string[] = [];
    const digests: Buffer[] = [];
    const result = (): RetentionRunResult => ({
      runId,
      cutoff,
      deleted,
      exemptByHold,
      exemptByIncident,
      orphansRemoved,
      offlineDeleted,
      batches,
      durationMs: Math.round(performance.now() - started),
      yielded,
    });
    try {
      const heads = await chainHeads(sql);
      let afterTs = '-infinity';
      let afterId = '0';
      while (evenIfStopped || !this.stopped) {
        const r = await this.batch(runId, cutoff, heads, afterTs, afterId);
        if (r === undefined) {
          yielded = true;
          break;
        }
        batches++;
        deleted += Number(r.deleted);
        exemptByHold += Number(r.held);
        exemptByIncident += Number(r.needed);
        orphansRemoved += Number(r.orphans);
        if (r.batch_id !== null && r.digest !== null) {
          batchIds.push(String(r.batch_id));
          digests.push(r.digest);
        }
        if (Number(r.scanned) < this.batchSize || r.last_ts === null || r.last_id === null) break;
        afterTs = r.last_ts;
        afterId = String(r.last_id);
        if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
      }
      // The node that did the archive's batches does the offline queue's too.
      while (!yielded && (evenIfStopped || !this.stopped)) {
        const n = await this.offlineBatch(cutoff);
        offlineDeleted += n;
        if (n < this.batchSize) break;
        if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
      }
    } catch (err) {
      // The batches before the failure are committed: their deletions are recorded all the same.
      if (deleted > 0 || offlineDeleted > 0) await this.record(result(), batchIds, digests, err);
      throw err;
    }
    const done = result();
    if (deleted > 0 || offlineDeleted > 0) await this.record(done, batchIds, digests);
    return done;
  }

  /** Deletes up to batchSize offline copies stored before `cutoff`; how many. */
  private async offlineBatch(cutoff: Date): Promise<number> {
    const rows = await this.opts.sql`
      DELETE FROM offline_messages WHERE id IN (
        SELECT id FROM offline_messages WHERE stored_at < ${cutoff.toISOString()}::timestamptz ORDER BY stored_at LIMIT ${this.batchSize}
      ) RETURNING 1`;
    return rows.length;
  }

  /** One window in one transaction; undefined when another node holds the retention lock. */
  private batch(runId: string, cutoff: Date, heads: ChainHead[], afterTs: string, afterId: string): Promise<BatchRow | undefined> {
    const chains = heads.map((h) => h.chain);
    const seqs = heads.map((h) => h.seq);
    const cutoffText = cutoff.toISOString();
    return this.opts.sql.begin(async (tx) => {
      const [lock] = await tx<{ got: boolean }[]>`SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK_KEY}::bigint) AS got`;
      if (lock?.got !== true) return undefined;
      // A copier's transaction (the search indexer's, of up to a few thousand rows) is short; 10 s
      // bounds the wait should one hang.
      await tx`SELECT set_config('lock_timeout', '10s', true)`;
      await tx`SELECT pg_advisory_xact_lock(${ARCHIVE_COPY_LOCK_KEY}::bigint)`;
      // lock_timeout: an incident row an officer is updating right now makes this batch fail
      // fast (retried next run) rather than queue behind, and anything else queue behind it.
      await tx`SELECT set_config('lock_timeout', '2s', true)`;
      await tx`LOCK TABLE legal_holds IN SHARE MODE`;
      const [row] = await tx<BatchRow[]>`
        WITH win AS (
          SELECT ts, id, chain, chain_seq, stanza_id, from_bare COLLATE "C" AS from_bare, to_bare COLLATE "C" AS to_bare
          FROM archive
          WHERE ts < ${cutoffText}::text::timestamptz AND (ts, id) > (${afterTs}::text::timestamptz, ${afterId}::bigint)
          ORDER BY ts, id
          LIMIT ${this.batchSize}
        ), judged AS (
          SELECT w.ts, w.id, w.stanza_id,
            EXISTS (
              SELECT 1 FROM legal_holds h
              WHERE h.released_at IS NULL AND (
                (h.kind = 'user' AND h.jid_a IN (w.from_bare, w.to_bare))
                OR (h.kind = 'conversation' AND h.jid_a = LEAST(w.from_bare, w.to_bare) AND h.jid_b = GREATEST(w.from_bare, w.to_bare))
              )
            ) AS held,
            EXISTS (
              SELECT 1 FROM incidents i
              WHERE i.stanza_id = w.stanza_id AND i.message_ts = w.ts
                AND (i.status = 'open' OR i.hold_state = 'held' OR i.disposition = 'escalated')
            ) AS needed,
            EXISTS (
              SELECT 1 FROM unnest(${chains}::text[], ${seqs}::bigint[]) AS head(chain, seq)
              WHERE head.chain = w.chain AND head.seq > w.chain_seq
            ) AS below_head
          FROM win w
        ), del AS (
          DELETE FROM archive a
          USING judged j
          -- The cutoff prunes the hot partitions; the window's own ts range bounds the index
          -- scan, so the join reads about batchSize rows rather than every old row (measured:
          -- 100 ms → 2 ms per batch of 1000 over 300k old rows).
          WHERE a.ts < ${cutoffText}::text::timestamptz
            AND a.ts >= (SELECT min(ts) FROM win) AND a.ts <= (SELECT max(ts) FROM win)
            AND a.ts = j.ts AND a.id = j.id AND j.below_head AND NOT j.held AND NOT j.needed
          RETURNING a.ts, a.id, a.chain, a.chain_seq, a.stanza_id, a.prev_hash, a.hash
        ), clock AS (
          -- Evaluated once, while this transaction holds every lock above.
          SELECT clock_timestamp() AS t
        ), rec AS (
          -- The batch's record (migrations/0012): the digest covers each tombstone's place and hash.
          INSERT INTO retention_batches (run_id, cutoff, deleted_at, deleted, digest)
          SELECT ${runId}, ${cutoffText}::text::timestamptz, (SELECT t FROM clock), count(*),
                 sha256(string_agg(convert_to(chain, 'UTF8') || decode('00', 'hex') || int8send(chain_seq) || hash, ''::bytea
                                   ORDER BY chain COLLATE "C", chain_seq))
          FROM del
          HAVING count(*) > 0
          RETURNING id, deleted_at, digest
        ), tombstones AS (
          -- A (chain, chain_seq) already tombstoned can only come from a forged duplicate row;
          -- DO NOTHING keeps the job from failing on it for ever (verify reports the duplicate,
          -- and the batch's count then disagrees with its tombstones).
          INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash, deleted_at, batch_id)
          SELECT chain, chain_seq, ts, stanza_id, prev_hash, hash, (SELECT deleted_at FROM rec), (SELECT id FROM rec) FROM del
          ON CONFLICT DO NOTHING
        ), unindexed AS (
          DELETE FROM archive_search s USING del WHERE s.ts = del.ts AND s.id = del.id
        ), last AS (
          SELECT ts, id FROM win ORDER BY ts DESC, id DESC LIMIT 1
        ), orphans AS (
          -- Search copies in this window's (ts, id) range whose archive row is gone (deleted by an
          -- earlier version of this job while the indexer copied it, or by hand): the range of a
          -- window that is not full runs up to the cutoff, so one run sweeps every old copy.
          DELETE FROM archive_search s
          WHERE s.ts < ${cutoffText}::text::timestamptz
            AND (s.ts, s.id) > (${afterTs}::text::timestamptz, ${afterId}::bigint)
            AND ((SELECT count(*) FROM win) < ${this.batchSize} OR (s.ts, s.id) <= (SELECT ts, id FROM last))
            AND NOT EXISTS (SELECT 1 FROM archive a WHERE a.ts = s.ts AND a.id = s.id)
          RETURNING 1
        ), blanked AS (
          UPDATE incidents i
          SET matches = (
            SELECT coalesce(jsonb_agg(m || '{"match": ""}'::jsonb ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(i.matches) WITH ORDINALITY AS e(m, n)
          )
          FROM del WHERE i.stanza_id = del.stanza_id AND i.message_ts = del.ts
        )
        -- Data-modifying CTEs run to completion whether or not they are referenced (PostgreSQL §7.8.4).
        SELECT (SELECT count(*) FROM del) AS deleted,
               (SELECT count(*) FROM judged WHERE held) AS held,
               (SELECT count(*) FROM judged WHERE needed AND NOT held) AS needed,
               (SELECT count(*) FROM win) AS scanned,
               (SELECT count(*) FROM orphans) AS orphans,
               (SELECT id FROM rec) AS batch_id,
               (SELECT digest FROM rec) AS digest,
               (SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM last) AS last_ts,
               (SELECT id FROM last) AS last_id`;
      return row;
    });
  }

  /** The run's access-log entry: what it deleted, and which batches (so verification can match them). */
  private async record(r: RetentionRunResult, batchIds: readonly string[], digests: readonly Buffer[], error?: unknown): Promise<void> {
    const { log } = this.opts;
    const cutoff = r.cutoff.toISOString();
    const summary = {
      runId: r.runId,
      deleted: r.deleted,
      cutoff,
      exemptByHold: r.exemptByHold,
      exemptByIncident: r.exemptByIncident,
      batches: r.batches,
      durationMs: r.durationMs,
      // Batches that deleted something, each a retention_batches row (ids ascending).
      recordedBatches: batchIds.length,
      firstBatchId: batchIds[0] ?? null,
      lastBatchId: batchIds[batchIds.length - 1] ?? null,
      batchesDigest: runDigest(digests),
      ...(r.orphansRemoved > 0 && { orphansRemoved: r.orphansRemoved }),
      ...(r.offlineDeleted > 0 && { offlineDeleted: r.offlineDeleted }),
      ...(error !== undefined && { partial: true, error: String(error) }),
    };
    if (error === undefined) log.info('retention deleted archived messages', summary);
    else log.error('retention failed part-way; the batches before the failure are committed', summary);
    try {
      await this.opts.accessLog.record({
        principal: SYSTEM_PRINCIPAL,
        ip: 'server',
        action: 'retention.run',
        query: { retentionDays: this.opts.retentionDays },
        detail: summary,
      });
    } catch (err) {
      // The rows are gone either way; retention_batches and the tombstones remain the record, and
      // archive verification reports a run missing from the access log.
      log.error('retention deleted messages but could not record the run in the access log', { runId: r.runId, deleted: r.deleted, cutoff, error: String(err) });
      if (error === undefined) throw err;
    }
  }
}

interface ChainHead {
  chain: string;
  seq: string;
}

/** The last chain_seq of every chain: one index probe per chain (recursive distinct), not a scan. */
async function chainHeads(sql: Sql): Promise<ChainHead[]> {
  return sql<ChainHead[]>`
    WITH RECURSIVE c(chain) AS (
      SELECT min(chain) FROM archive
      UNION ALL
      SELECT (SELECT min(a.chain) FROM archive a WHERE a.chain > c.chain) FROM c WHERE c.chain IS NOT NULL
    )
    SELECT chain, (SELECT max(a.chain_seq) FROM archive a WHERE a.chain = c.chain)::text AS seq
    FROM c WHERE chain IS NOT NULL`;
}
