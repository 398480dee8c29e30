// Retention under live traffic (audit/retention.ts):
//   DATABASE_URL=postgres://… node --import tsx bench/retention-bench.ts [oldRows] [batchSize] [pauseMs]
// (without DATABASE_URL: the embedded PGlite store). Fills a fresh database with `oldRows`
// (default 100,000) messages from three months ago, indexed for search, 1% of them with a
// resolved incident and 1% under a legal hold; then archives live messages at a steady rate
// (one every 5 ms, as the ArchiveWriter batches them) for 5 s alone and again during a retention
// run, and prints deletions per second and the live messages' commit latency in both phases.
// Ends with an archive verification (tombstones must link every chain).
import { silentLogger } from '../src/log.ts';
import type { AccessEntry } from '../src/audit/access-log.types.ts';
import type { ArchiveEntry } from '../src/audit/archive-record.ts';
import { ensureArchivePartitions } from '../src/audit/archive-partitions.ts';
import { verifyArchive } from '../src/audit/archive-verify.ts';
import { ArchiveWriter } from '../src/audit/archive-writer.ts';
import { createLegalHoldStore } from '../src/audit/legal-holds.ts';
import { RetentionJob } from '../src/audit/retention.ts';
import { SearchIndexer } from '../src/audit/search-indexer.ts';
import { openTestDatabase } from '../test/support/database.ts';

const OLD_ROWS = Number(process.argv[2] ?? 100_000);
const BATCH = Number(process.argv[3] ?? 1000);
const PAUSE_MS = Number(process.argv[4] ?? 20);
const DAY = 86_400_000;
const now = Date.now();
const oldStart = now - 95 * DAY;

let n = 0;
function entry(ts: number, i: number): ArchiveEntry {
  n++;
  const user = `user${i % 500}@example.org`;
  const peer = `user${(i * 7 + 1) % 500}@example.org`;
  const flagged = i % 100 === 0;
  return {
    ts: new Date(ts),
    stanzaId: `b-${n}`,
    originId: null,
    clientId: `c-${n}`,
    fromJid: `${user}/phone`,
    toJid: peer,
    fromBare: user,
    toBare: peer,
    type: 'chat',
    thread: null,
    body: `message ${n}: 项目进度如何？ the quarterly report is attached, please review before Friday`,
    redactedBody: null,
    raw: `<message type='chat' id='c-${n}'><body>message ${n}</body></message>`,
    direction: 'internal',
    verdict: flagged ? 'flag' : 'allow',
    reason: null,
    matches: flagged ? [{ ruleId: 'r1', ruleName: 'report', action: 'flag', severity: 'low', start: 30, end: 36, match: 'report' }] : [],
    policyVersion: 1,
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN);
};
const summary = (xs: number[]) => `n=${xs.length} p50=${pct(xs, 50).toFixed(1)} ms p99=${pct(xs, 99).toFixed(1)} ms max=${Math.max(...xs).toFixed(1)} ms`;

const db = await openTestDatabase({ poolSize: 10 });
try {
  console.log(`store: ${db.embedded ? 'embedded PGlite' : 'PostgreSQL'}; ${OLD_ROWS} old rows; batch ${BATCH}, pause ${PAUSE_MS} ms`);
  for (let m = 0; m <= 4; m++) await ensureArchivePartitions(db.sql, new Date(oldStart + m * 30 * DAY));

  let t0 = performance.now();
  const filler = new ArchiveWriter(db.sql, 'history', silentLogger, { maxBatch: 1000 });
  for (let i = 0; i < OLD_ROWS; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, OLD_ROWS - i) }, (_, k) => filler.append(entry(oldStart + (i + k) * 50, i + k))));
  }
  await filler.close();
  await db.sql`UPDATE incidents SET status = 'resolved', disposition = 'false_positive'`;
  const indexer = new SearchIndexer(db.sql, silentLogger);
  while ((await indexer.runOnce(0)) > 0);
  const holds = createLegalHoldStore(db.sql);
  // user0 … user4 on either side: about 2% of the messages.
  for (let u = 0; u < 5; u++) await holds.create({ kind: 'user', jid: `user${u}@example.org` }, 'bench', 'bench');
  await db.sql`ANALYZE`;
  console.log(`filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const live = new ArchiveWriter(db.sql, 'live', silentLogger);
  /** Archives a live message every 5 ms until `ms` have passed or, given `during`, it settles. */
  async function traffic(ms: number, during?: Promise<unknown>): Promise<number[]> {
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const end = performance.now() + ms;
    let settled = false;
    void during?.finally(() => (settled = true));
    let i = 0;
    while (during !== undefined ? !settled : performance.now() < end) {
      const start = performance.now();
      pending.push(live.append(entry(Date.now(), i++)).then(() => void latencies.push(performance.now() - start)));
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(pending);
    return latencies;
  }

  const baseline = await traffic(5000);
  console.log(`live inserts, alone:            ${summary(baseline)}`);

  const accessLog = { entries: [] as AccessEntry[], record: async (e: AccessEntry) => void accessLog.entries.push(e) };
  const job = new RetentionJob({ sql: db.sql, log: silentLogger, accessLog, retentionDays: 30, intervalMs: 3_600_000, batchSize: BATCH, pauseMs: PAUSE_MS });
  t0 = performance.now();
  const run = job.runOnce();
  const during = await traffic(0, run);
  const result = await run;
  const seconds = (performance.now() - t0) / 1000;
  console.log(`live inserts, during retention: ${summary(during)}`);
  console.log(
    `retention: deleted ${result.deleted} in ${result.batches} batches, ${seconds.toFixed(1)} s → ${Math.round(result.deleted / seconds)} rows/s ` +
      `(exempt: ${result.exemptByHold} by hold, ${result.exemptByIncident} by incident)`,
  );
  await live.close();

  t0 = performance.now();
  const report = await verifyArchive(db.sql);
  console.log(`verify: ok=${report.ok} ${JSON.stringify(report.chains)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} finally {
  await db.close();
}
