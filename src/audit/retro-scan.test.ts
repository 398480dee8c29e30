import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry } from '../../test/support/archive.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import type { ArchiveEntry } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { ARCHIVE_COPY_LOCK_KEY } from './retention.ts';
import { cancelRetroScan, getRetroScan, queueRetroScan, RetroScanner, ruleFromRow, type RetroScanJob } from './retro-scan.ts';

let db: TestDatabase;
const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const N = 230;

// Every 10th message mentions a bomb (in English or Chinese); messages from mallory to bob are
// outbound, the rest internal; every 7th has no body (encrypted).
function entry(i: number): ArchiveEntry {
  const from = i % 2 ? 'alice@example.org' : 'mallory@example.org';
  const body = i % 7 === 0 ? null : i % 20 === 0 ? `the BOMB is ready ${i}` : i % 10 === 0 ? `炸弹准备好了 ${i}` : `hello ${i}`;
  return archiveEntry({
    ts: at(i),
    stanzaId: `m-${i}`,
    fromJid: `${from}/r`,
    fromBare: from,
    toBare: 'bob@example.org',
    body,
    direction: from.startsWith('mallory') ? 'outbound' : 'internal',
  });
}
const hitIds = (pred: (i: number) => boolean = () => true) =>
  Array.from({ length: N }, (_, k) => k + 1).filter((i) => i % 10 === 0 && i % 7 !== 0 && pred(i)).map((i) => `m-${i}`);
const bodies = Array.from({ length: N }, (_, k) => k + 1).filter((i) => i % 7 !== 0).length;

async function addRule(id: string, extra: { keywords?: string[]; scope?: object; type?: string; pattern?: string; enabled?: boolean } = {}) {
  await db.sql`
    INSERT INTO rules (id, name, type, keywords, pattern, action, severity, enabled, scope)
    VALUES (${id}, ${`rule ${id}`}, ${extra.type ?? 'keywords'}, ${extra.keywords ?? null}, ${extra.pattern ?? null}, 'hold', 'high',
            ${extra.enabled ?? true}, ${JSON.stringify(extra.scope ?? {})}::text::jsonb)`;
}

async function retroIncidents(ruleId: string) {
  return db.sql<{ stanza_id: string; verdict: string; severity: string; rule_ids: string[]; hold_state: string | null; matches: unknown }[]>`
    SELECT stanza_id, verdict, severity, rule_ids, hold_state, matches FROM incidents
    WHERE source = 'retro-scan' AND ${ruleId} = ANY(rule_ids) ORDER BY message_ts DESC`;
}

async function runToEnd(scanner: RetroScanner): Promise<void> {
  while (await scanner.runOnce());
}

beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, at(0));
  const writer = new ArchiveWriter(db.sql, 'retro', silentLogger);
  await Promise.all(Array.from({ length: N }, (_, k) => writer.append(entry(k + 1))));
  // A live incident for one of the future hits: a retro-scan adds its own beside it.
  await db.sql`INSERT INTO incidents (stanza_id, message_ts, verdict, severity, rule_ids, matches, from_bare, to_bare)
               VALUES ('m-20', ${at(20).toISOString()}::timestamptz, 'flag', 'low', '{live}', '[]', 'mallory@example.org', 'bob@example.org')`;
});
afterAll(async () => db?.close());

describe('ruleFromRow', () => {
  it('maps a rules row to the policy engine\'s Rule, leaving out NULL columns', () => {
    expect(
      ruleFromRow({ id: 'r', name: 'n', type: 'regex', keywords: null, pattern: 'a+', flags: '', detector: null, action: 'flag', severity: 'low', enabled: false, scope: { directions: ['outbound'] } }),
    ).toEqual({ id: 'r', name: 'n', type: 'regex', pattern: 'a+', action: 'flag', severity: 'low', enabled: false, scope: { directions: ['outbound'] } });
    expect(() => ruleFromRow({ id: 'r', name: 'n', type: 'magic', keywords: null, pattern: null, flags: null, detector: null, action: 'flag', severity: 'low', enabled: true, scope: {} })).toThrow(/type "magic"/);
  });
});

describe('RetroScanner', () => {
  it('runs one rule over the archive, opening one held-less incident per hit message', async () => {
    await addRule('bomb', { keywords: ['bomb', '炸弹'], enabled: false });
    const job = await queueRetroScan(db.sql, { ruleId: 'bomb' });
    expect(job).toMatchObject({ ruleId: 'bomb', status: 'queued', scanned: 0, hits: 0, total: null });
    const progress: RetroScanJob[] = [];
    const scanner = new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 50, onProgress: (p) => void progress.push(p) });
    await runToEnd(scanner);

    const done = await getRetroScan(db.sql, job!.id);
    const hits = hitIds();
    expect(done).toMatchObject({ status: 'done', total: bodies, scanned: bodies, hits: hits.length, error: null });
    expect(done?.startedAt).toBeInstanceOf(Date);
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(progress.map((p) => p.scanned)).toEqual([50, 100, 150, bodies]);

    const incidents = await retroIncidents('bomb');
    expect(incidents.map((i) => i.stanza_id)).toEqual(hits.reverse());
    expect(incidents[0]).toMatchObject({ verdict: 'hold', severity: 'high', rule_ids: ['bomb'], hold_state: null });
    expect(incidents.find((i) => i.stanza_id === 'm-230')?.matches).toEqual([
      { ruleId: 'bomb', ruleName: 'rule bomb', action: 'hold', severity: 'high', start: 0, end: 2, match: '炸弹' },
    ]);
    // The live incident of m-20 is untouched.
    const [live] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM incidents WHERE stanza_id = 'm-20' AND source = 'live'`;
    expect(Number(live?.n)).toBe(1);
  });

  it('opens nothing twice when the same rule runs again', async () => {
    const before = (await retroIncidents('bomb')).length;
    const job = await queueRetroScan(db.sql, { ruleId: 'bomb' });
    await runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger }));
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done', hits: before });
    expect((await retroIncidents('bomb')).length).toBe(before);
  });

  it('opens nothing for a message that already has an incident for the rule, whatever its status', async () => {
    await addRule('judged', { keywords: ['bomb', '炸弹'] });
    // Live incidents naming the rule: m-40 reviewed as a false positive, m-60 still open (among other rules).
    await db.sql`
      INSERT INTO incidents (stanza_id, message_ts, verdict, severity, rule_ids, matches, from_bare, to_bare, status, disposition, resolved_at)
      VALUES ('m-40', ${at(40).toISOString()}::timestamptz, 'flag', 'high', '{judged}', '[]', 'mallory@example.org', 'bob@example.org', 'resolved', 'false_positive', now()),
             ('m-60', ${at(60).toISOString()}::timestamptz, 'flag', 'high', '{other,judged}', '[]', 'mallory@example.org', 'bob@example.org', 'open', NULL, NULL)`;
    const job = await queueRetroScan(db.sql, { ruleId: 'judged' });
    await runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 25 }));
    // Every hit is counted, and each has an incident for the rule: the live one, or a new one.
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done', hits: hitIds().length });
    const opened = (await retroIncidents('judged')).map((i) => i.stanza_id);
    expect(opened.sort()).toEqual(hitIds((i) => i !== 40 && i !== 60).sort());
    const [m40] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM incidents WHERE stanza_id = 'm-40' AND 'judged' = ANY (rule_ids)`;
    expect(Number(m40!.n)).toBe(1);
  });

  it('honours since/until and the rule\'s scope', async () => {
    await addRule('bomb-outbound', { keywords: ['bomb', '炸弹'], scope: { directions: ['outbound'] } });
    const job = await queueRetroScan(db.sql, { ruleId: 'bomb-outbound', since: at(50), until: at(150) });
    await runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 7 }));
    // Mallory (even i) sends outbound; [50, 150).
    const want = hitIds((i) => i >= 50 && i < 150 && i % 2 === 0);
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done', hits: want.length, since: at(50), until: at(150) });
    expect((await retroIncidents('bomb-outbound')).map((i) => i.stanza_id).sort()).toEqual([...want].sort());
  });

  it('resumes a job from the cursor stored in retro_scans', async () => {
    await addRule('resume', { keywords: ['bomb', '炸弹'] });
    const job = await queueRetroScan(db.sql, { ruleId: 'resume' });
    // As a scanner that died after committing the batches up to m-100 would have left it.
    const [m100] = await db.sql<{ id: string }[]>`SELECT id FROM archive WHERE stanza_id = 'm-100'`;
    await db.sql`
      UPDATE retro_scans SET status = 'running', started_at = now(), until = now(), lease_until = now() - interval '1 second',
             cursor_ts = ${at(100).toISOString()}::timestamptz, cursor_id = ${m100!.id}, scanned = 1000, hits = 500
      WHERE id = ${job!.id}`;
    await runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 30 }));
    const want = hitIds((i) => i > 100);
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done', hits: 500 + want.length });
    expect((await retroIncidents('resume')).map((i) => i.stanza_id).sort()).toEqual([...want].sort());
  });

  it('leaves a running job to a scanner whose lease has not run out', async () => {
    await addRule('leased', { keywords: ['bomb'] });
    const job = await queueRetroScan(db.sql, { ruleId: 'leased' });
    await db.sql`UPDATE retro_scans SET status = 'running', lease_until = now() + interval '1 hour' WHERE id = ${job!.id}`;
    expect(await new RetroScanner({ sql: db.sql, log: silentLogger }).runOnce()).toBe(false);
    await cancelRetroScan(db.sql, job!.id);
  });

  it('stops between batches and a new scanner carries on where it stopped', async () => {
    await addRule('restart', { keywords: ['bomb', '炸弹'] });
    const job = await queueRetroScan(db.sql, { ruleId: 'restart' });
    let scanner: RetroScanner | undefined;
    let stopping: Promise<void> | undefined;
    const first = new Promise<RetroScanJob>((resolve) => {
      scanner = new RetroScanner({
        sql: db.sql,
        log: silentLogger,
        batchSize: 20,
        pollMs: 10,
        onProgress: (p) => {
          if (stopping === undefined) {
            stopping = scanner!.stop();
            resolve(p);
          }
        },
      });
      scanner.start();
    });
    const afterFirst = await first;
    await stopping;
    expect(afterFirst.scanned).toBe(20);
    const paused = await getRetroScan(db.sql, job!.id);
    expect(paused).toMatchObject({ status: 'running', scanned: 20 });

    const second = new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 20, pollMs: 10 });
    second.start();
    second.wake();
    for (let i = 0; i < 200 && (await getRetroScan(db.sql, job!.id))?.status !== 'done'; i++) await new Promise((r) => setTimeout(r, 25));
    await second.stop();
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done', scanned: bodies, hits: hitIds().length });
    expect((await retroIncidents('restart')).length).toBe(hitIds().length);
  });

  it('stops a job an officer cancels, writing nothing of the batch in progress', async () => {
    await addRule('cancel', { keywords: ['bomb', '炸弹'] });
    const job = await queueRetroScan(db.sql, { ruleId: 'cancel' });
    const scanner = new RetroScanner({
      sql: db.sql,
      log: silentLogger,
      batchSize: 40,
      onProgress: async (p) => {
        if (p.scanned === 40) await cancelRetroScan(db.sql, job!.id);
      },
    });
    await runToEnd(scanner);
    const cancelled = await getRetroScan(db.sql, job!.id);
    expect(cancelled?.status).toBe('cancelled');
    expect(cancelled!.scanned).toBe(40);
    expect((await retroIncidents('cancel')).length).toBe(cancelled!.hits);
  });

  it('fails a job whose rule does not compile, or was deleted, with the reason', async () => {
    await addRule('bad-regex', { type: 'regex', pattern: '(unclosed' });
    const bad = await queueRetroScan(db.sql, { ruleId: 'bad-regex' });
    await addRule('gone', { keywords: ['x'] });
    const gone = await queueRetroScan(db.sql, { ruleId: 'gone' });
    await db.sql`UPDATE rules SET deleted_at = now() WHERE id = 'gone'`;
    await runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger }));
    expect(await getRetroScan(db.sql, bad!.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/pattern/) });
    expect(await getRetroScan(db.sql, gone!.id)).toMatchObject({ status: 'failed', error: 'rule gone no longer exists' });
    expect(await queueRetroScan(db.sql, { ruleId: 'gone' })).toBeUndefined();
    expect(await queueRetroScan(db.sql, { ruleId: 'nope' })).toBeUndefined();
  });
});

describe('RetroScanner and retention', () => {
  it('on PostgreSQL, opens no incident for a message a retention batch deleted after the scan read it', async (ctx) => {
    if (db.embedded) ctx.skip(); // one session: nothing runs concurrently there
    await addRule('zebra', { keywords: ['zebra'] });
    const writer = new ArchiveWriter(db.sql, 'retro-race', silentLogger);
    await writer.append(archiveEntry({ ts: at(1000), stanzaId: 'zebra-deleted', fromBare: 'alice@example.org', toBare: 'bob@example.org', body: 'zebra one' }));
    await writer.append(archiveEntry({ ts: at(1001), stanzaId: 'zebra-kept', fromBare: 'alice@example.org', toBare: 'bob@example.org', body: 'zebra two' }));
    await writer.close();
    const job = await queueRetroScan(db.sql, { ruleId: 'zebra', since: at(999) });
    // A retention batch holds the copy lock exclusively and deletes a row (not yet committed);
    // the scan reads both rows meanwhile, then must wait to write its incidents.
    const batch = await db.sql.reserve();
    try {
      await batch`BEGIN`;
      await batch`SELECT pg_advisory_xact_lock(${ARCHIVE_COPY_LOCK_KEY}::bigint)`;
      await batch`DELETE FROM archive WHERE stanza_id = 'zebra-deleted'`;
      const scan = runToEnd(new RetroScanner({ sql: db.sql, log: silentLogger, batchSize: 50 }));
      await new Promise((r) => setTimeout(r, 300));
      await batch`COMMIT`;
      await scan;
    } finally {
      batch.release();
    }
    expect(await getRetroScan(db.sql, job!.id)).toMatchObject({ status: 'done' });
    expect((await retroIncidents('zebra')).map((i) => i.stanza_id)).toEqual(['zebra-kept']);
  });
});
