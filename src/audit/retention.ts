// Retention (issue #5): archived messages older than RETENTION_DAYS are deleted by a scheduled
// job, in small batches, so traffic is never blocked.
//
// A run walks the archive rows with ts < cutoff in (ts, id) order — the archive's primary key —
// one window of `batchSize` rows at a time. Each window is one short transaction:
//
//   try-lock ─► DELETE the window's deletable rows ─► INSERT their tombstones
//                                                 ├─► DELETE their archive_search rows
//                                                 └─► blank the matched text in their incidents
//
// all in one statement (data-modifying CTEs), so a row and its tombstone commit together. Then a
// short pause, and the next window starts after the last row this one looked at, so rows kept
// back are read once per run, not once per batch.
//
// Kept back (the window moves past them):
// - a legal hold in force covers the message (legal-holds.ts): a held user on either side, or a
//   held conversation between its two sides;
// - an officer still needs it: an incident of it is open, or holds it for a decision
//   (hold_state 'held' — releasing it delivers the archived stanza);
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
// Several nodes: each batch first takes pg_try_advisory_xact_lock; a node that does not get it
// ends its run (the holder is doing the work). On PGlite the lock never excludes (one session),
// which is harmless: there is one process.
//
// What happens to the incidents of deleted messages (only resolved ones with no pending hold can
// be there): the incident row stays — the review record, its disposition and events are not the
// message — and the incident API already answers it with `message: null`. Its `matches` keep the
// rule, severity and offsets (rule statistics still count them) but their `match` text, a piece of
// the message, becomes "".
//
// A hold created while a batch runs applies from the next batch (READ COMMITTED: the batch's
// statement sees the holds committed when it started).
//
// Each run that deleted something is recorded in the access log ('retention.run', by the system),
// after the fact; the tombstones (deleted_at) are the durable per-row record should that fail.
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { SYSTEM_PRINCIPAL, type AccessLog } from './access-log.types.ts';

export const DEFAULT_RETENTION_BATCH = 1000;
export const DEFAULT_RETENTION_PAUSE_MS = 20;
const DAY_MS = 86_400_000;

// Advisory locks share one 64-bit key space per database; an arbitrary constant of retention's own.
const RETENTION_LOCK_KEY = '8319107012398421070';

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
  /** Messages older than this were candidates. */
  readonly cutoff: Date;
  readonly deleted: number;
  /** Old messages kept because a legal hold covers them. */
  readonly exemptByHold: number;
  /** Old messages kept for an open incident or a pending hold decision (and no legal hold). */
  readonly exemptByIncident: number;
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

interface BatchRow {
  deleted: string;
  held: string;
  needed: string;
  scanned: string;
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
    const { sql, log } = this.opts;
    const started = performance.now();
    const cutoff = retentionCutoff(this.now(), this.opts.retentionDays);
    const heads = await chainHeads(sql);
    const chains = heads.map((h) => h.chain);
    const seqs = heads.map((h) => h.seq);
    let deleted = 0;
    let exemptByHold = 0;
    let exemptByIncident = 0;
    let batches = 0;
    let yielded = false;
    let afterTs = '-infinity';
    let afterId = '0';
    while (evenIfStopped || !this.stopped) {
      const r = await sql.begin(async (tx) => {
        // lock_timeout: an incident row an officer is updating right now makes this batch fail
        // fast (retried next run) rather than queue behind, and anything else queue behind it.
        const [lock] = await tx<{ got: boolean }[]>`
          SELECT pg_try_advisory_xact_lock(${RETENTION_LOCK_KEY}::bigint) AS got, set_config('lock_timeout', '2s', true)`;
        if (lock?.got !== true) return undefined;
        const [row] = await tx<BatchRow[]>`
          WITH win AS (
            SELECT ts, id, chain, chain_seq, stanza_id, from_bare COLLATE "C" AS from_bare, to_bare COLLATE "C" AS to_bare
            FROM archive
            WHERE ts < ${cutoff.toISOString()}::text::timestamptz AND (ts, id) > (${afterTs}::text::timestamptz, ${afterId}::bigint)
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
                WHERE i.stanza_id = w.stanza_id AND i.message_ts = w.ts AND (i.status = 'open' OR i.hold_state = 'held')
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
            WHERE a.ts < ${cutoff.toISOString()}::text::timestamptz
              AND a.ts >= (SELECT min(ts) FROM win) AND a.ts <= (SELECT max(ts) FROM win)
              AND a.ts = j.ts AND a.id = j.id AND j.below_head AND NOT j.held AND NOT j.needed
            RETURNING a.ts, a.id, a.chain, a.chain_seq, a.stanza_id, a.prev_hash, a.hash
          ), tombstones AS (
            -- A (chain, chain_seq) already tombstoned can only come from a forged duplicate row;
            -- DO NOTHING keeps the job from failing on it for ever (verify reports the duplicate).
            INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash)
            SELECT chain, chain_seq, ts, stanza_id, prev_hash, hash FROM del
            ON CONFLICT DO NOTHING
          ), unindexed AS (
            DELETE FROM archive_search s USING del WHERE s.ts = del.ts AND s.id = del.id
          ), blanked AS (
            UPDATE incidents i
            SET matches = (
              SELECT coalesce(jsonb_agg(m || '{"match": ""}'::jsonb ORDER BY n), '[]'::jsonb)
              FROM jsonb_array_elements(i.matches) WITH ORDINALITY AS e(m, n)
            )
            FROM del WHERE i.stanza_id = del.stanza_id AND i.message_ts = del.ts
          ), last AS (
            SELECT ts, id FROM win ORDER BY ts DESC, id DESC LIMIT 1
          )
          -- Data-modifying CTEs run to completion whether or not they are referenced (PostgreSQL §7.8.4).
          SELECT (SELECT count(*) FROM del) AS deleted,
                 (SELECT count(*) FROM judged WHERE held) AS held,
                 (SELECT count(*) FROM judged WHERE needed AND NOT held) AS needed,
                 (SELECT count(*) FROM win) AS scanned,
                 (SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM last) AS last_ts,
                 (SELECT id FROM last) AS last_id`;
        return row;
      });
      if (r === undefined) {
        yielded = true;
        break;
      }
      batches++;
      deleted += Number(r.deleted);
      exemptByHold += Number(r.held);
      exemptByIncident += Number(r.needed);
      if (Number(r.scanned) < this.batchSize || r.last_ts === null || r.last_id === null) break;
      afterTs = r.last_ts;
      afterId = String(r.last_id);
      if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
    const result: RetentionRunResult = {
      cutoff,
      deleted,
      exemptByHold,
      exemptByIncident,
      batches,
      durationMs: Math.round(performance.now() - started),
      yielded,
    };
    if (deleted > 0) {
      log.info('retention deleted archived messages', { ...result, cutoff: cutoff.toISOString() });
      try {
        await this.opts.accessLog.record({
          principal: SYSTEM_PRINCIPAL,
          ip: 'server',
          action: 'retention.run',
          query: { retentionDays: this.opts.retentionDays },
          detail: { deleted, cutoff: cutoff.toISOString(), exemptByHold, exemptByIncident, batches, durationMs: result.durationMs },
        });
      } catch (err) {
        // The rows are gone either way; their tombstones (deleted_at) remain the per-row record.
        log.error('retention deleted messages but could not record the run in the access log', { deleted, cutoff: cutoff.toISOString(), error: String(err) });
        throw err;
      }
    }
    return result;
  }
}

/** The last chain_seq of every chain: one index probe per chain (recursive distinct), not a scan. */
async function chainHeads(sql: Sql): Promise<{ chain: string; seq: string }[]> {
  return sql<{ chain: string; seq: string }[]>`
    WITH RECURSIVE c(chain) AS (
      SELECT min(chain) FROM archive
      UNION ALL
      SELECT (SELECT min(a.chain) FROM archive a WHERE a.chain > c.chain) FROM c WHERE c.chain IS NOT NULL
    )
    SELECT chain, (SELECT max(a.chain_seq) FROM archive a WHERE a.chain = c.chain)::text AS seq
    FROM c WHERE chain IS NOT NULL`;
}
