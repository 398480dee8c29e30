// Copies archived bodies into archive_search (the trigram-indexed table behind archive search)
// in large batches, a few seconds behind the archive, so the archive writer — which every
// message waits on — never maintains the trigram index itself.
//
// Retention (retention.ts) deletes old archive rows and their copies here. A copy made from a
// snapshot that still had the row, committed after retention deleted it, would keep a deleted
// body for ever (search joins the archive, so it would never show, and nothing would remove it).
// So each pass copies inside a transaction holding the archive copy lock shared
// (lockAgainstRetention), which a retention batch holds exclusively: either the batch sees this
// pass's copies and deletes them with their rows, or this pass's statement, taking its snapshot
// after the batch committed, no longer sees the rows.
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { lockAgainstRetention } from './retention.ts';

/**
 * Rows younger than this are left for the next pass: the writer stamps ts when it forms a batch,
 * so a row older than this has committed (or failed) already and cannot appear behind the
 * watermark later. Search scans the archive directly beyond the watermark.
 */
export const INDEX_LAG_MS = 3000;
const BATCH = 5000;

export class SearchIndexer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly sql: Sql,
    private readonly log: Logger,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce()
        .then((copied) => this.schedule(copied >= BATCH ? 0 : this.intervalMs))
        .catch((err: unknown) => {
          this.log.warn('search indexer pass failed; retrying', { error: String(err) });
          this.schedule(this.intervalMs * 4);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass: copies up to BATCH rows past the watermark and moves it; returns how many. */
  async runOnce(lagMs = INDEX_LAG_MS): Promise<number> {
    const [row] = await this.sql.begin(async (tx) => {
      await lockAgainstRetention(tx);
      return tx<{ copied: string }[]>`
        WITH p AS (SELECT ts, id FROM archive_search_progress),
        batch AS (
          SELECT a.ts, a.id, a.body FROM archive a, p
          WHERE (a.ts, a.id) > (p.ts, p.id) AND a.ts < now() - ${lagMs} * interval '1 millisecond'
          ORDER BY a.ts, a.id LIMIT ${BATCH}
        ),
        copied AS (
          INSERT INTO archive_search (ts, id, content)
          SELECT ts, id, body FROM batch WHERE body IS NOT NULL
          ON CONFLICT DO NOTHING
        ),
        last AS (SELECT ts, id FROM batch ORDER BY ts DESC, id DESC LIMIT 1),
        moved AS (
          UPDATE archive_search_progress SET ts = last.ts, id = last.id FROM last RETURNING 1
        )
        SELECT (SELECT count(*) FROM batch) AS copied`;
    });
    return Number(row?.copied ?? 0);
  }
}
