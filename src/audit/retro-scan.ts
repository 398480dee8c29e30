// Retro-scans: one rule, run over messages already archived (a new keyword list, a regex an
// officer wants to try on last month). Jobs live in retro_scans (migration 0005, lease 0007);
// RetroScanner works them one at a time:
//
//   queued ──claim──► running ──walk (ts, id) in batches──► done
//                        │   └── cursor, scanned, hits stored after every batch
//                        └── failed (rule gone or invalid, query error) / cancelled (by an officer)
//
// - Resumable: the cursor (ts, id of the last row scanned) is written in the same statement as
//   the batch's incidents and counters, so a restart resumes exactly where the last committed
//   batch ended; nothing is counted or opened twice.
// - Several nodes: a job is claimed with a lease (FOR UPDATE SKIP LOCKED) that every batch renews;
//   a job whose scanner died is taken over once its lease runs out.
// - Live traffic first: each batch is one small indexed query plus one write, and the scanner
//   yields to the event loop (setImmediate) between batches. On the embedded store, which runs
//   one statement at a time for everyone, that keeps archive commits from queueing behind a scan.
// - One incident per hit message (source 'retro-scan', its verdict the rule's action), unless the
//   message already has an incident naming the rule — live or from an earlier scan, open or
//   judged: an officer's verdict on a message stands, and rule statistics count it once. (The
//   unique index of migration 0007 also keeps two scans running at once from both opening one.)
//   A 'hold' found in retrospect holds nothing (the message was delivered or decided long
//   ago): its incident has no hold_state.
// - Starting and cancelling a job take an optional step run in the same transaction (the
//   officer's access-log entry, from the API), committed with the job row or not at all.
import type { Sql, TransactionSql } from 'postgres';
import type { Logger } from '../log.ts';
import { lockAgainstRetention } from './retention.ts';
import {
  compilePolicy,
  DETECTOR_NAMES,
  RULE_ACTIONS,
  RULE_TYPES,
  SEVERITIES,
  type CompiledPolicy,
  type DetectorName,
  type Direction,
  type Rule,
  type RuleScope,
} from './policy/policy.ts';

export type RetroScanStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface RetroScanJob {
  readonly id: string;
  readonly ruleId: string;
  readonly status: RetroScanStatus;
  readonly since: Date | null;
  /** Set to the start time when the job was queued without one, so the walk has an end. */
  readonly until: Date | null;
  /** Messages with a body in [since, until); null until counted. */
  readonly total: number | null;
  /** Messages scanned so far. */
  readonly scanned: number;
  /** Messages the rule matched; each has an incident for the rule (this job's, an earlier run's, or a live one). */
  readonly hits: number;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly error: string | null;
}

interface JobRow {
  id: string;
  rule_id: string;
  status: RetroScanStatus;
  since: Date | null;
  until: Date | null;
  total: string | null;
  scanned: string;
  hits: string;
  cursor_ts_key: string | null;
  cursor_id: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  error: string | null;
}

const JOB_COLUMNS = `id, rule_id, status, since, until, total, scanned, hits, cursor_id, started_at, finished_at, error,
  to_char(cursor_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts_key`;

function toJob(r: JobRow): RetroScanJob {
  return {
    id: String(r.id),
    ruleId: r.rule_id,
    status: r.status,
    since: r.since,
    until: r.until,
    total: r.total === null ? null : Number(r.total),
    scanned: Number(r.scanned),
    hits: Number(r.hits),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
  };
}

// ---------------------------------------------------------------------------------------------
// Jobs (what the admin API does)

/**
 * Runs `change` (undefined when it changed nothing), and `also` after it in the same
 * transaction when it changed something; without `also`, no transaction is opened.
 */
async function changing<R>(sql: Sql, also: ((tx: TransactionSql, result: R) => Promise<void>) | undefined, change: (q: Sql | TransactionSql) => Promise<R | undefined>) {
  if (also === undefined) return change(sql);
  let result: R | undefined;
  await sql.begin(async (tx) => {
    result = await change(tx);
    if (result !== undefined) await also(tx, result);
  });
  return result;
}

/**
 * Queues a job; undefined when there is no such rule (or it was deleted). `also` runs in the same
 * transaction once the job exists (it is handed the job, e.g. for its id).
 */
export async function queueRetroScan(
  sql: Sql,
  req: { ruleId: string; since?: Date; until?: Date },
  also?: (tx: TransactionSql, job: RetroScanJob) => Promise<void>,
): Promise<RetroScanJob | undefined> {
  return changing(sql, also, async (q) => {
    const [row] = await q<JobRow[]>`
      INSERT INTO retro_scans (rule_id, since, until)
      SELECT id, ${req.since?.toISOString() ?? null}::text::timestamptz, ${req.until?.toISOString() ?? null}::text::timestamptz
      FROM rules WHERE id = ${req.ruleId} AND deleted_at IS NULL
      RETURNING ${q.unsafe(JOB_COLUMNS)}`;
    return row === undefined ? undefined : toJob(row);
  });
}

export async function getRetroScan(sql: Sql, id: string): Promise<RetroScanJob | undefined> {
  const [row] = await sql<JobRow[]>`SELECT ${sql.unsafe(JOB_COLUMNS)} FROM retro_scans WHERE id = ${id}::bigint`;
  return row === undefined ? undefined : toJob(row);
}

/**
 * Cancels a queued or running job (a running one stops after its current batch); returns the
 * job, undefined when none. `also` runs in the cancellation's transaction (handed the cancelled
 * job), only when the job was still queued or running (cancelling a finished job changes nothing).
 */
export async function cancelRetroScan(sql: Sql, id: string, also?: (tx: TransactionSql, job: RetroScanJob) => Promise<void>): Promise<RetroScanJob | undefined> {
  const cancelled = await changing(sql, also, async (q) => {
    const [row] = await q<JobRow[]>`
      UPDATE retro_scans SET status = 'cancelled', finished_at = now(), lease_until = NULL
      WHERE id = ${id}::bigint AND status IN ('queued', 'running')
      RETURNING ${q.unsafe(JOB_COLUMNS)}`;
    return row === undefined ? undefined : toJob(row);
  });
  return cancelled ?? getRetroScan(sql, id);
}

// ---------------------------------------------------------------------------------------------
// Rules: a row of the rules table as the policy engine's Rule

export interface RuleRow {
  id: string;
  name: string;
  type: string;
  keywords: string[] | null;
  pattern: string | null;
  flags: string | null;
  detector: string | null;
  action: string;
  severity: string;
  enabled: boolean;
  scope: unknown;
}

const oneOf = <T extends string>(allowed: readonly T[], v: string, field: string, id: string): T => {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`rule ${id}: ${field} ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
};

/** Maps a rules row to a Rule; compilePolicy validates the rest (keywords, pattern, scope). */
export function ruleFromRow(row: RuleRow): Rule {
  const scope = row.scope;
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) throw new Error(`rule ${row.id}: scope is not a JSON object`);
  const rule: Rule = {
    id: row.id,
    name: row.name,
    type: oneOf(RULE_TYPES, row.type, 'type', row.id),
    action: oneOf(RULE_ACTIONS, row.action, 'action', row.id),
    severity: oneOf(SEVERITIES, row.severity, 'severity', row.id),
    enabled: row.enabled,
    scope: scope as RuleScope,
  };
  if (row.keywords !== null) rule.keywords = row.keywords;
  if (row.pattern !== null) rule.pattern = row.pattern;
  if (row.flags !== null && row.flags !== '') rule.flags = row.flags;
  if (row.detector !== null) rule.detector = oneOf<DetectorName>(DETECTOR_NAMES, row.detector, 'detector', row.id);
  return rule;
}

// ---------------------------------------------------------------------------------------------
// The scanner

export interface RetroScannerOptions {
  readonly sql: Sql;
  readonly log: Logger;
  /** How often to look for queued jobs when idle (default 2000 ms); wake() looks at once. */
  readonly pollMs?: number;
  /** Archive rows per batch (default 1000). */
  readonly batchSize?: number;
  /** A claimed job is this scanner's for this long after each batch (default 60 s). */
  readonly leaseMs?: number;
  /** A pause between batches on top of the event-loop yield (default 0). */
  readonly pauseMs?: number;
  /** Called (and awaited) after every committed batch: progress display, metrics, tests. */
  readonly onProgress?: (job: RetroScanJob) => void | Promise<void>;
}

interface ArchiveRow {
  id: string;
  ts: Date;
  ts_key: string;
  stanza_id: string;
  from_bare: string;
  to_bare: string;
  direction: Direction;
  type: string;
  body: string;
}

class JobStopped extends Error {
  override readonly name = 'JobStopped';
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
const US_ISO = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

export class RetroScanner {
  private readonly sql: Sql;
  private readonly log: Logger;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly pauseMs: number;
  private readonly onProgress: ((job: RetroScanJob) => void | Promise<void>) | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: RetroScannerOptions) {
    this.sql = opts.sql;
    this.log = opts.log.child({ part: 'retro-scan' });
    this.pollMs = opts.pollMs ?? 2000;
    this.batchSize = opts.batchSize ?? 1000;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.pauseMs = opts.pauseMs ?? 0;
    this.onProgress = opts.onProgress;
  }

  /** Starts polling for jobs (idempotent). */
  start(): void {
    if (this.loop !== undefined) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Looks for a queued job now instead of at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Stops after the current batch; a running job keeps its cursor and is resumed by the next start(). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Claims one job and works it to its end (or until stop()); false when no job was waiting. */
  async runOnce(): Promise<boolean> {
    const job = await this.claim();
    if (job === undefined) return false;
    const log = this.log.child({ job: job.id, rule: job.rule_id });
    try {
      await this.work(job, log);
    } catch (err) {
      if (err instanceof JobStopped) return true;
      const message = err instanceof Error ? err.message : String(err);
      log.error('retro-scan failed', { error: message });
      await this.sql`
        UPDATE retro_scans SET status = 'failed', error = ${message}, finished_at = now(), lease_until = NULL
        WHERE id = ${job.id}::bigint AND status = 'running'`.catch((e: unknown) =>
        log.error('could not record the retro-scan failure', { error: String(e) }),
      );
    }
    return true;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let worked = false;
      try {
        worked = await this.runOnce();
      } catch (err) {
        // The database is unreachable: try again at the next poll.
        this.log.warn('retro-scan poll failed', { error: err instanceof Error ? err.message : String(err) });
      }
      if (!worked && !this.stopping) await this.sleep(this.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.wakeUp = undefined;
        resolve();
      };
      this.wakeUp = done;
      this.timer = setTimeout(done, ms);
      this.timer.unref();
    });
  }

  private leaseSql() {
    return this.sql`now() + ${this.leaseMs} * interval '1 millisecond'`;
  }

  /** The oldest queued job, or a running one whose scanner's lease ran out. */
  private async claim(): Promise<JobRow | undefined> {
    const [row] = await this.sql<JobRow[]>`
      UPDATE retro_scans
      SET status = 'running', started_at = coalesce(started_at, now()), until = coalesce(until, now()), lease_until = ${this.leaseSql()}
      WHERE id = (
        SELECT id FROM retro_scans
        WHERE status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < now()))
        ORDER BY id LIMIT 1
        FOR UPDATE SKIP LOCKED)
      RETURNING ${this.sql.unsafe(JOB_COLUMNS)}`;
    return row;
  }

  private async work(job: JobRow, log: Logger): Promise<void> {
    const [ruleRow] = await this.sql<(RuleRow & { deleted_at: Date | null })[]>`
      SELECT id, name, type, keywords, pattern, flags, detector, action, severity, enabled, scope, deleted_at
      FROM rules WHERE id = ${job.rule_id}`;
    if (ruleRow === undefined || ruleRow.deleted_at !== null) throw new Error(`rule ${job.rule_id} no longer exists`);
    const rule = ruleFromRow(ruleRow);
    // Compiled alone, and enabled: trying a rule on the archive before switching it on is the
    // point. Version 0: this policy decides nothing live.
    const policy = compilePolicy([{ ...rule, enabled: true }], 0);
    const since = job.since?.toISOString() ?? '-infinity';
    const until = job.until?.toISOString() ?? 'infinity';
    const resumed = job.cursor_ts_key !== null;
    log.info(resumed ? 'retro-scan resumed' : 'retro-scan started', { since, until, scanned: Number(job.scanned) });

    if (job.total === null) await this.count(job.id, since, until);

    let cursor = job.cursor_ts_key !== null && job.cursor_id !== null ? { ts: job.cursor_ts_key, id: String(job.cursor_id) } : { ts: since, id: '0' };
    for (;;) {
      if (this.stopping) {
        await this.release(job.id);
        throw new JobStopped();
      }
      const rows = await this.sql<ArchiveRow[]>`
        SELECT id, ts, to_char(ts AT TIME ZONE 'UTC', ${this.sql.unsafe(US_ISO)}) AS ts_key, stanza_id, from_bare, to_bare, direction, type, body
        FROM archive
        WHERE body IS NOT NULL AND ts < ${until}::text::timestamptz
          AND ts >= ${cursor.ts}::text::timestamptz AND (ts, id) > (${cursor.ts}::text::timestamptz, ${cursor.id}::bigint)
        ORDER BY ts, id
        LIMIT ${this.batchSize}`;
      const last = rows[rows.length - 1];
      if (last === undefined) break;
      cursor = { ts: last.ts_key, id: String(last.id) };
      const progress = await this.commitBatch(job.id, rule, policy, rows, cursor);
      if (progress === undefined) {
        log.info('retro-scan cancelled');
        throw new JobStopped();
      }
      await this.onProgress?.(progress);
      if (rows.length < this.batchSize) break;
      await yieldToEventLoop();
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }

    const [done] = await this.sql<JobRow[]>`
      UPDATE retro_scans SET status = 'done', finished_at = now(), lease_until = NULL
      WHERE id = ${job.id}::bigint AND status = 'running'
      RETURNING ${this.sql.unsafe(JOB_COLUMNS)}`;
    if (done !== undefined) log.info('retro-scan done', { scanned: Number(done.scanned), hits: Number(done.hits) });
  }

  /**
   * Counts the job's messages in chunks along the (ts, id) index, yielding between chunks: one
   * count(*) over months of archive would hold the embedded store's only backend for seconds.
   */
  private async count(jobId: string, since: string, until: string): Promise<void> {
    const chunk = this.batchSize * 10;
    let total = 0;
    let at = { ts: since, id: '0' };
    for (;;) {
      if (this.stopping) return; // counted again on resume
      const [r] = await this.sql<{ n: string; ts_key: string | null; id: string | null }[]>`
        WITH c AS (
          SELECT ts, id FROM archive
          WHERE body IS NOT NULL AND ts < ${until}::text::timestamptz
            AND ts >= ${at.ts}::text::timestamptz AND (ts, id) > (${at.ts}::text::timestamptz, ${at.id}::bigint)
          ORDER BY ts, id LIMIT ${chunk})
        SELECT count(*) AS n,
               (array_agg(to_char(ts AT TIME ZONE 'UTC', ${this.sql.unsafe(US_ISO)}) ORDER BY ts DESC, id DESC))[1] AS ts_key,
               (array_agg(id ORDER BY ts DESC, id DESC))[1] AS id
        FROM c`;
      const n = Number(r?.n ?? 0);
      total += n;
      if (n < chunk || r?.ts_key == null || r.id == null) break;
      at = { ts: r.ts_key, id: String(r.id) };
      // Counting months of archive can outlast the lease: renew it, and notice a cancel.
      const [still] = await this.sql`
        UPDATE retro_scans SET lease_until = ${this.leaseSql()} WHERE id = ${jobId}::bigint AND status = 'running' RETURNING id`;
      if (still === undefined) throw new JobStopped();
      await yieldToEventLoop();
    }
    await this.sql`UPDATE retro_scans SET total = ${total} WHERE id = ${jobId}::bigint AND status = 'running'`;
  }

  /**
   * Scans a batch, then in one statement (one transaction): opens its incidents, advances the
   * cursor and counters, renews the lease. Undefined when the job is no longer running here
   * (cancelled): then nothing of the batch is written.
   */
  private async commitBatch(
    jobId: string,
    rule: Rule,
    policy: CompiledPolicy,
    rows: readonly ArchiveRow[],
    cursor: { ts: string; id: string },
  ): Promise<RetroScanJob | undefined> {
    const stanzaIds: string[] = [];
    const tss: string[] = [];
    const matches: string[] = [];
    const froms: string[] = [];
    const tos: string[] = [];
    for (const r of rows) {
      const result = policy.scan(r.body, { from: r.from_bare, to: r.to_bare, direction: r.direction, type: r.type });
      if (result.verdict === 'allow') continue;
      stanzaIds.push(r.stanza_id);
      tss.push(r.ts_key);
      matches.push(JSON.stringify(result.matches));
      froms.push(r.from_bare);
      tos.push(r.to_bare);
    }
    // Retention may have deleted a scanned row since it was read: the copy lock (shared, as the
    // search indexer takes it) keeps retention out while the incidents are written, and only
    // messages still in the archive get one — an incident for a deleted message has nothing to show.
    const [row] = await this.sql.begin(async (tx) => {
      await lockAgainstRetention(tx);
      return tx<JobRow[]>`
      WITH job AS (
        UPDATE retro_scans
        SET scanned = scanned + ${rows.length}, hits = hits + ${stanzaIds.length},
            cursor_ts = ${cursor.ts}::text::timestamptz, cursor_id = ${cursor.id}::bigint, lease_until = ${this.leaseSql()}
        WHERE id = ${jobId}::bigint AND status = 'running'
        RETURNING ${this.sql.unsafe(JOB_COLUMNS)}
      ), opened AS (
        INSERT INTO incidents (stanza_id, message_ts, verdict, severity, rule_ids, matches, from_bare, to_bare, source)
        SELECT h.stanza_id, h.ts::timestamptz, ${rule.action}, ${rule.severity}, ARRAY[${rule.id}::text], h.matches::jsonb, h.from_bare, h.to_bare, 'retro-scan'
        FROM unnest(${stanzaIds}::text[], ${tss}::text[], ${matches}::text[], ${froms}::text[], ${tos}::text[])
             AS h(stanza_id, ts, matches, from_bare, to_bare)
        -- A data-modifying CTE runs whether referenced or not: gate it on the job update.
        WHERE EXISTS (SELECT 1 FROM job)
          -- Not a second incident for a message that has one naming this rule (live or earlier
          -- scan, open or judged); incidents_stanza_id makes this one probe per hit.
          AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.stanza_id = h.stanza_id AND i.rule_ids @> ARRAY[${rule.id}::text])
          AND EXISTS (SELECT 1 FROM archive a WHERE a.stanza_id = h.stanza_id AND a.ts = h.ts::timestamptz)
        ON CONFLICT (stanza_id, rule_ids) WHERE source = 'retro-scan' DO NOTHING
      )
      SELECT * FROM job`;
    });
    return row === undefined ? undefined : toJob(row);
  }

  /** Gives up the lease after a stop(), so the next start() (here or elsewhere) resumes at once. */
  private async release(jobId: string): Promise<void> {
    await this.sql`UPDATE retro_scans SET lease_until = NULL WHERE id = ${jobId}::bigint AND status = 'running'`;
  }
}
