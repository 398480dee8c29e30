// Retention on a real database: what goes, what stays, what is left behind (tombstones, the
// access log), and that archive verification still holds.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry } from '../../test/support/archive.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import type { ArchiveEntry, RuleMatch } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { verifyArchive } from './archive-verify.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { createLegalHoldStore } from './legal-holds.ts';
import { ARCHIVE_COPY_LOCK_KEY, RetentionJob, retentionCutoff, runDigest, type RetentionOptions } from './retention.ts';
import { SearchIndexer } from './search-indexer.ts';

describe('retentionCutoff', () => {
  it.each([
    ['2024-06-01T00:00:00.000Z', 1, '2024-05-31T00:00:00.000Z'],
    ['2024-06-01T12:34:56.789Z', 30, '2024-05-02T12:34:56.789Z'],
    // Whole days of 24 h, whatever the calendar (2024 is a leap year).
    ['2025-03-01T00:00:00.000Z', 365, '2024-03-01T00:00:00.000Z'],
  ])('%s minus %i days is %s', (now, days, cutoff) => {
    expect(retentionCutoff(new Date(now), days).toISOString()).toBe(cutoff);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses %s days (0 means "keep for ever": no job)', (days) => {
    expect(() => retentionCutoff(new Date(), days)).toThrow(RangeError);
  });
});

const NOW = new Date('2024-06-01T00:00:00Z');
const DAYS = 30; // cutoff 2024-05-02
const OLD = Date.parse('2024-03-10T00:00:00Z');
const NEW = Date.parse('2024-05-20T00:00:00Z');

const flagMatch: RuleMatch = { ruleId: 'r1', ruleName: 'secret', action: 'flag', severity: 'high', start: 0, end: 6, match: 'secret' };

let seq = 0;
function entry(ts: number, from: string, to: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry {
  const n = ++seq;
  return archiveEntry({
    ts: new Date(ts + n),
    stanzaId: `m-${n}`,
    fromBare: from,
    toBare: to,
    body: `secret message ${n}`,
    raw: `<message><body>secret message ${n}</body></message>`,
    ...extra,
  });
}

let db: TestDatabase;
let accessLog: RecordingAccessLog;
beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date(OLD)); // March, April, May 2024
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.sql`TRUNCATE archive, archive_tombstones, retention_batches, archive_search, incident_events, incidents, legal_holds`;
  await db.sql`UPDATE archive_search_progress SET ts = '-infinity', id = 0`;
  accessLog = new RecordingAccessLog();
});

function job(opts: Partial<RetentionOptions> = {}): RetentionJob {
  return new RetentionJob({ sql: db.sql, log: silentLogger, accessLog, retentionDays: DAYS, intervalMs: 60_000, pauseMs: 0, now: () => NOW, ...opts });
}

async function write(entries: ArchiveEntry[], chain = 'node-1'): Promise<void> {
  const writer = new ArchiveWriter(db.sql, chain, silentLogger, { maxBatch: 500 });
  // In order, so chain_seq follows ts (as live traffic does).
  for (let i = 0; i < entries.length; i += 500) await Promise.all(entries.slice(i, i + 500).map((e) => writer.append(e)));
  await writer.close();
}

const stanzaIds = async (): Promise<string[]> =>
  (await db.sql<{ stanza_id: string }[]>`SELECT stanza_id FROM archive ORDER BY ts, id`).map((r) => r.stanza_id);
const count = async (table: 'archive' | 'archive_tombstones' | 'archive_search'): Promise<number> =>
  Number((await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM ${db.sql(table)}`)[0]?.n);

describe('RetentionJob', () => {
  it('deletes old messages in batches, keeps newer ones, leaves a tombstone for each and records the run', async () => {
    const old = Array.from({ length: 25 }, () => entry(OLD, 'alice@x', 'bob@x'));
    const recent = Array.from({ length: 5 }, () => entry(NEW, 'alice@x', 'bob@x'));
    await write([...old, ...recent]);

    const r = await job({ batchSize: 10 }).runOnce();

    expect(r).toMatchObject({ cutoff: new Date('2024-05-02T00:00:00Z'), deleted: 25, exemptByHold: 0, exemptByIncident: 0, yielded: false });
    // 10 + 10 + 5: three windows, each its own transaction.
    expect(r.batches).toBe(3);
    expect(await stanzaIds()).toEqual(recent.map((e) => e.stanzaId));
    const tombs = await db.sql<{ chain: string; chain_seq: string; stanza_id: string; prev_hash: Buffer; hash: Buffer }[]>`
      SELECT chain, chain_seq, stanza_id, prev_hash, hash FROM archive_tombstones ORDER BY chain_seq`;
    expect(tombs.map((t) => [t.chain, Number(t.chain_seq), t.stanza_id])).toEqual(old.map((e, i) => ['node-1', i + 1, e.stanzaId]));
    expect(tombs.every((t) => t.hash.length === 32 && t.prev_hash.length === 32)).toBe(true);

    expect(accessLog.entries).toHaveLength(1);
    expect(accessLog.entries[0]).toMatchObject({
      principal: { actor: 'system' },
      ip: 'server',
      action: 'retention.run',
      detail: { deleted: 25, cutoff: '2024-05-02T00:00:00.000Z', exemptByHold: 0, batches: 3, durationMs: expect.any(Number) },
    });

    // Nothing left to do: no entry for an empty run.
    expect(await job({ batchSize: 10 }).runOnce()).toMatchObject({ deleted: 0, batches: 1 });
    expect(accessLog.entries).toHaveLength(1);
  });

  it('removes the deleted messages from the search index too', async () => {
    await write([entry(OLD, 'alice@x', 'bob@x'), entry(OLD, 'alice@x', 'bob@x'), entry(NEW, 'alice@x', 'bob@x')]);
    await new SearchIndexer(db.sql, silentLogger).runOnce(0);
    expect(await count('archive_search')).toBe(3);
    await job().runOnce();
    const left = await db.sql<{ content: string }[]>`SELECT content FROM archive_search`;
    expect(left).toHaveLength(1);
    expect(left[0]?.content).toBe((await db.sql<{ body: string }[]>`SELECT body FROM archive`)[0]?.body);
  });

  it('keeps the messages of a held user (either side) and of a held conversation (either direction), until released', async () => {
    const holds = createLegalHoldStore(db.sql);
    const fromCarol = entry(OLD, 'carol@x', 'bob@x');
    const toCarol = entry(OLD, 'alice@x', 'carol@x');
    const daveToErin = entry(OLD, 'dave@x', 'erin@x');
    const erinToDave = entry(OLD, 'erin@x', 'dave@x');
    const daveToBob = entry(OLD, 'dave@x', 'bob@x'); // dave is held only in his conversation with erin
    const other = entry(OLD, 'alice@x', 'bob@x');
    await write([fromCarol, toCarol, daveToErin, erinToDave, daveToBob, other, entry(NEW, 'alice@x', 'bob@x')]);
    const userHold = await holds.create({ kind: 'user', jid: 'carol@x' }, 'case 1', 'officer');
    const convHold = await holds.create({ kind: 'conversation', a: 'erin@x', b: 'dave@x' }, 'case 2', 'officer');
    // A released hold holds nothing.
    const gone = await holds.create({ kind: 'user', jid: 'alice@x' }, 'old case', 'officer');
    await holds.release(gone.id, 'officer', 'case closed');

    const first = await job({ batchSize: 2 }).runOnce();
    expect(first).toMatchObject({ deleted: 2, exemptByHold: 4 });
    expect(accessLog.entries[0]?.detail).toMatchObject({ deleted: 2, exemptByHold: 4 });
    const kept = await stanzaIds();
    for (const e of [fromCarol, toCarol, daveToErin, erinToDave]) expect(kept).toContain(e.stanzaId);
    for (const e of [daveToBob, other]) expect(kept).not.toContain(e.stanzaId);

    await holds.release(userHold.id, 'officer', 'case closed');
    expect(await job().runOnce()).toMatchObject({ deleted: 2, exemptByHold: 2 });
    expect(await stanzaIds()).not.toContain(fromCarol.stanzaId);
    expect(await stanzaIds()).not.toContain(toCarol.stanzaId);

    await holds.release(convHold.id, 'officer', 'case closed');
    expect(await job().runOnce()).toMatchObject({ deleted: 2, exemptByHold: 0 });
    expect(await count('archive')).toBe(1);
    expect((await verifyArchive(db.sql)).ok).toBe(true);
  });

  it('keeps the message of an incident resolved as escalated, and deletes it once reopened and resolved otherwise', async () => {
    const escalated = entry(OLD, 'alice@x', 'bob@x', { verdict: 'flag', matches: [flagMatch] });
    await write([escalated, entry(OLD, 'alice@x', 'bob@x'), entry(NEW, 'alice@x', 'bob@x')]);
    await db.sql`UPDATE incidents SET status = 'resolved', disposition = 'escalated' WHERE stanza_id = ${escalated.stanzaId}`;
    expect(await job().runOnce()).toMatchObject({ deleted: 1, exemptByIncident: 1 });
    expect(await stanzaIds()).toContain(escalated.stanzaId);
    await db.sql`UPDATE incidents SET disposition = 'true_positive' WHERE stanza_id = ${escalated.stanzaId}`;
    expect(await job().runOnce()).toMatchObject({ deleted: 1, exemptByIncident: 0 });
    expect(await stanzaIds()).not.toContain(escalated.stanzaId);
  });

  it('keeps messages an officer still needs (open incident, pending hold) and blanks the matched text of resolved ones it deletes', async () => {
    const open = entry(OLD, 'alice@x', 'bob@x', { verdict: 'flag', matches: [flagMatch] });
    const held = entry(OLD, 'alice@x', 'bob@x', { verdict: 'hold', matches: [{ ...flagMatch, action: 'hold' }] });
    const resolved = entry(OLD, 'alice@x', 'bob@x', { verdict: 'flag', matches: [flagMatch, { ...flagMatch, ruleId: 'r2', start: 7, end: 14, match: 'message' }] });
    const resolvedButHeld = entry(OLD, 'alice@x', 'bob@x', { verdict: 'hold', matches: [{ ...flagMatch, action: 'hold' }] });
    await write([open, held, resolved, resolvedButHeld, entry(NEW, 'alice@x', 'bob@x')]);
    await db.sql`UPDATE incidents SET status = 'resolved', disposition = 'false_positive' WHERE stanza_id IN (${resolved.stanzaId}, ${resolvedButHeld.stanzaId})`;

    expect(await job().runOnce()).toMatchObject({ deleted: 1, exemptByIncident: 3 });
    const kept = await stanzaIds();
    expect(kept).toContain(open.stanzaId);
    expect(kept).toContain(held.stanzaId);
    expect(kept).toContain(resolvedButHeld.stanzaId);
    expect(kept).not.toContain(resolved.stanzaId);
    // The incident stays (the review record); its matches lose only the message's text.
    const [inc] = await db.sql<{ status: string; disposition: string; matches: RuleMatch[] }[]>`
      SELECT status, disposition, matches FROM incidents WHERE stanza_id = ${resolved.stanzaId}`;
    expect(inc).toMatchObject({ status: 'resolved', disposition: 'false_positive' });
    expect(inc?.matches).toEqual([
      { ...flagMatch, match: '' },
      { ...flagMatch, ruleId: 'r2', start: 7, end: 14, match: '' },
    ]);
    // The others keep theirs.
    const [openInc] = await db.sql<{ matches: RuleMatch[] }[]>`SELECT matches FROM incidents WHERE stanza_id = ${open.stanzaId}`;
    expect(openInc?.matches[0]?.match).toBe('secret');

    // Once the hold is decided and the incident resolved, the message can go.
    await db.sql`UPDATE incidents SET status = 'resolved', hold_state = 'released' WHERE stanza_id = ${held.stanzaId}`;
    expect(await job().runOnce()).toMatchObject({ deleted: 1, exemptByIncident: 2 });
    expect(await stanzaIds()).not.toContain(held.stanzaId);
  });

  it('keeps the newest row of a chain even when it is old, so the writer can continue the chain', async () => {
    await write([entry(OLD, 'a@x', 'b@x'), entry(OLD, 'a@x', 'b@x'), entry(OLD, 'a@x', 'b@x')], 'quiet-node');
    expect(await job().runOnce()).toMatchObject({ deleted: 2 });
    expect(await count('archive')).toBe(1);
    // The node restarts and writes on: its chain continues at chain_seq 4, linked through the tombstones.
    await write([entry(NEW, 'a@x', 'b@x')], 'quiet-node');
    expect(await verifyArchive(db.sql, { chain: 'quiet-node' })).toMatchObject({ ok: true, chains: [{ chain: 'quiet-node', rows: 2, tombstoned: 2, ok: true }] });
  });

  it('leaves a chain that verifies, where a row deleted by hand or an edited row still shows', async () => {
    await write([...Array.from({ length: 30 }, () => entry(OLD, 'alice@x', 'bob@x')), ...Array.from({ length: 10 }, () => entry(NEW, 'alice@x', 'bob@x'))]);
    await job({ batchSize: 7 }).runOnce();
    expect(await verifyArchive(db.sql, { batchSize: 4 })).toMatchObject({ ok: true, chains: [{ chain: 'node-1', rows: 10, tombstoned: 30, ok: true }] });

    await db.sql`UPDATE archive SET body = 'edited' WHERE chain_seq = 35`;
    expect((await verifyArchive(db.sql)).chains[0]).toMatchObject({ ok: false, firstBroken: { chainSeq: 35, reason: expect.stringMatching(/edited/) } });
    await db.sql`DELETE FROM archive WHERE chain_seq = 33`;
    expect((await verifyArchive(db.sql)).chains[0]).toMatchObject({
      ok: false,
      firstBroken: { chainSeq: 34, reason: 'chain_seq jumps from 32 to 34 (1 row deleted)' },
    });
  });

  it('commits each batch on its own while inserts go on', async () => {
    await write(Array.from({ length: 2000 }, () => entry(OLD, 'alice@x', 'bob@x')));
    const run = job({ batchSize: 100, pauseMs: 5 }).runOnce();
    let finished = false;
    void run.then(() => (finished = true));
    // While the run is going, another connection sees part of the work committed, and new
    // messages are archived (and committed) alongside it.
    const writer = new ArchiveWriter(db.sql, 'live', silentLogger);
    const partial: number[] = [];
    const latencies: number[] = [];
    while (!finished) {
      const t0 = performance.now();
      await writer.append(entry(Date.now(), 'live@x', 'bob@x'));
      latencies.push(performance.now() - t0);
      partial.push(await count('archive_tombstones'));
    }
    await writer.close();
    const r = await run;
    expect(r).toMatchObject({ deleted: 1999, batches: 21 }); // 20 full windows and an empty one; the chain's newest row stays
    expect(partial.some((n) => n > 0 && n < 1999)).toBe(true);
    expect(latencies.length).toBeGreaterThan(1);
    // Generous for a loaded CI machine; a run holding one long transaction would be far over on PGlite.
    expect(Math.max(...latencies)).toBeLessThan(2000);
  });

  it('records each batch with a digest of its tombstones, and the run with its batches in the access log', async () => {
    await write([...Array.from({ length: 7 }, () => entry(OLD, 'alice@x', 'bob@x')), entry(NEW, 'alice@x', 'bob@x')]);
    await write([entry(OLD, 'a@x', 'b@x'), entry(OLD, 'a@x', 'b@x'), entry(NEW, 'a@x', 'b@x')], 'node-2');
    const r = await job({ batchSize: 4 }).runOnce();
    expect(r).toMatchObject({ deleted: 9 });
    const batches = await db.sql<{ id: string; run_id: string; cutoff: Date; deleted: number; digest: Buffer }[]>`
      SELECT id, run_id, cutoff, deleted, digest FROM retention_batches ORDER BY id`;
    expect(batches.every((b) => b.run_id === r.runId && b.cutoff.getTime() === r.cutoff.getTime())).toBe(true);
    expect(batches.reduce((n, b) => n + b.deleted, 0)).toBe(9);
    // The digest, recomputed here from the tombstones as migrations/0012 defines it.
    for (const b of batches) {
      const tombs = await db.sql<{ chain: string; chain_seq: string; hash: Buffer }[]>`
        SELECT chain, chain_seq, hash FROM archive_tombstones WHERE batch_id = ${b.id}`;
      tombs.sort((x, y) => Buffer.compare(Buffer.from(x.chain), Buffer.from(y.chain)) || Number(x.chain_seq) - Number(y.chain_seq));
      const h = createHash('sha256');
      for (const t of tombs) {
        const seq = Buffer.alloc(8);
        seq.writeBigInt64BE(BigInt(t.chain_seq));
        h.update(Buffer.concat([Buffer.from(t.chain, 'utf8'), Buffer.from([0]), seq, t.hash]));
      }
      expect(tombs).toHaveLength(b.deleted);
      expect(h.digest().equals(b.digest)).toBe(true);
    }
    expect(accessLog.entries).toHaveLength(1);
    expect(accessLog.entries[0]?.detail).toMatchObject({
      runId: r.runId,
      deleted: 9,
      recordedBatches: batches.length,
      firstBatchId: batches[0]?.id,
      lastBatchId: batches[batches.length - 1]?.id,
      batchesDigest: runDigest(batches.map((b) => b.digest)),
    });
    expect(accessLog.entries[0]?.detail).not.toHaveProperty('partial');
    expect((await verifyArchive(db.sql)).ok).toBe(true);
  });

  it('deletes offline copies stored before the cutoff, in batches, and records how many; keeps newer ones', async () => {
    await db.sql`INSERT INTO users (username) VALUES ('offline-bob') ON CONFLICT DO NOTHING`;
    await db.sql`DELETE FROM offline_messages`;
    for (let i = 0; i < 5; i++) {
      await db.sql`INSERT INTO offline_messages (username, stanza, stored_at) VALUES ('offline-bob', ${`<message id="old-${i}"/>`}, ${new Date(OLD).toISOString()}::timestamptz)`;
    }
    await db.sql`INSERT INTO offline_messages (username, stanza, stored_at) VALUES ('offline-bob', '<message id="new"/>', ${new Date(NEW).toISOString()}::timestamptz)`;

    const r = await job({ batchSize: 2 }).runOnce();

    expect(r).toMatchObject({ deleted: 0, offlineDeleted: 5 });
    expect((await db.sql<{ stanza: string }[]>`SELECT stanza FROM offline_messages`).map((m) => m.stanza)).toEqual(['<message id="new"/>']);
    expect(accessLog.entries).toEqual([expect.objectContaining({ action: 'retention.run', detail: expect.objectContaining({ deleted: 0, offlineDeleted: 5 }) })]);
    // The archive's records still verify: a run with no archive batches is no problem.
    expect((await verifyArchive(db.sql, { runLogGraceMs: 0 })).retention.problems).toEqual([]);
  });

  it('removes search copies whose archive row is already gone', async () => {
    await write([entry(OLD, 'alice@x', 'bob@x'), entry(OLD, 'alice@x', 'bob@x'), entry(NEW, 'alice@x', 'bob@x')]);
    // A copy left behind by an earlier race: its archive row no longer exists.
    await db.sql`INSERT INTO archive_search (ts, id, content) VALUES ('2024-03-11T00:00:00Z', 987654321, 'a deleted body')`;
    // A recent copy without its row is not retention's business (the cutoff bounds the sweep).
    await db.sql`INSERT INTO archive_search (ts, id, content) VALUES ('2024-05-25T00:00:00Z', 987654322, 'recent')`;
    expect(await job({ batchSize: 1 }).runOnce()).toMatchObject({ deleted: 2, orphansRemoved: 1 });
    expect((await db.sql<{ content: string }[]>`SELECT content FROM archive_search`).map((r) => r.content)).toEqual(['recent']);
  });

  it('on PostgreSQL, a hold placed while a batch is waiting protects every message it covers from the moment it is placed', async (ctx) => {
    if (db.embedded) ctx.skip(); // one session: nothing runs concurrently there
    const resolved = entry(OLD, 'alice@x', 'bob@x', { verdict: 'flag', matches: [flagMatch] });
    const alice = [resolved, ...Array.from({ length: 5 }, () => entry(OLD, 'alice@x', 'bob@x'))];
    await write([...alice, entry(NEW, 'z@x', 'y@x')]);
    await db.sql`UPDATE incidents SET status = 'resolved', disposition = 'true_positive'`;
    // An officer is editing the (resolved) incident: the first batch (3 rows) waits on its row lock.
    const officer = await db.sql.reserve();
    let rowsWhenPlaced = -1;
    let placedAt: Date | undefined;
    try {
      await officer`BEGIN`;
      await officer`SELECT id FROM incidents FOR UPDATE`;
      const run = job({ batchSize: 3 }).runOnce();
      await new Promise((r) => setTimeout(r, 300));
      const placing = createLegalHoldStore(db.sql)
        .create({ kind: 'user', jid: 'alice@x' }, 'litigation', 'officer')
        .then(async (hold) => {
          // The moment POST /legal-holds would answer 201.
          rowsWhenPlaced = Number((await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM archive WHERE from_bare = 'alice@x'`)[0]?.n);
          placedAt = hold.createdAt;
          return hold;
        });
      await new Promise((r) => setTimeout(r, 300));
      // The hold waits for the batch in progress rather than being "placed" under it.
      expect(rowsWhenPlaced).toBe(-1);
      await officer`COMMIT`;
      const [r] = await Promise.all([run, placing]);
      // The first batch deleted its three rows before the hold existed; everything after it is kept.
      expect(r).toMatchObject({ deleted: 3, exemptByHold: 3 });
      expect(rowsWhenPlaced).toBe(3);
      const left = Number((await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM archive WHERE from_bare = 'alice@x'`)[0]?.n);
      expect(left).toBe(rowsWhenPlaced);
      const tombs = await db.sql<{ deleted_at: Date }[]>`SELECT deleted_at FROM archive_tombstones`;
      expect(tombs).toHaveLength(3);
      for (const t of tombs) expect(t.deleted_at.getTime()).toBeLessThan(placedAt!.getTime());
    } finally {
      officer.release();
    }
  });

  it('on PostgreSQL, records a run that failed part-way with what its committed batches deleted', async (ctx) => {
    if (db.embedded) ctx.skip();
    const first = Array.from({ length: 10 }, () => entry(OLD, 'alice@x', 'bob@x'));
    const flagged = entry(OLD + 86_400_000, 'alice@x', 'bob@x', { verdict: 'flag', matches: [flagMatch] });
    await write([...first, flagged, ...Array.from({ length: 9 }, () => entry(OLD + 86_400_000, 'alice@x', 'bob@x')), entry(NEW, 'z@x', 'y@x')]);
    await db.sql`UPDATE incidents SET status = 'resolved', disposition = 'false_positive'`;
    const officer = await db.sql.reserve();
    let failure: unknown;
    try {
      await officer`BEGIN`;
      await officer`SELECT id FROM incidents FOR UPDATE`;
      // The second batch waits on the officer's row lock past lock_timeout and fails.
      await job({ batchSize: 10 }).runOnce().catch((err: unknown) => (failure = err));
      await officer`ROLLBACK`;
    } finally {
      officer.release();
    }
    expect(String(failure)).toMatch(/lock timeout/);
    expect(await count('archive_tombstones')).toBe(10);
    expect(accessLog.entries).toHaveLength(1);
    expect(accessLog.entries[0]).toMatchObject({
      action: 'retention.run',
      detail: { deleted: 10, batches: 1, recordedBatches: 1, partial: true, error: expect.stringMatching(/lock timeout/) },
    });
    expect((await verifyArchive(db.sql)).ok).toBe(true);
  }, 20_000);

  it('on PostgreSQL, deletes the search copy a concurrent copier was making of a row it deletes', async (ctx) => {
    if (db.embedded) ctx.skip();
    await write([entry(OLD, 'alice@x', 'bob@x'), entry(OLD, 'alice@x', 'bob@x'), entry(NEW, 'alice@x', 'bob@x')]);
    // A copier (the search indexer's transaction) has read the old rows and is writing their copies.
    const copier = await db.sql.reserve();
    let finished = false;
    try {
      await copier`BEGIN`;
      await copier`SELECT pg_advisory_xact_lock_shared(${ARCHIVE_COPY_LOCK_KEY}::bigint)`;
      await copier`INSERT INTO archive_search (ts, id, content) SELECT ts, id, body FROM archive WHERE ts < '2024-05-01'`;
      const run = job().runOnce().then((r) => ((finished = true), r));
      await new Promise((r) => setTimeout(r, 300));
      expect(finished).toBe(false); // the batch waits for the copy to commit…
      await copier`COMMIT`;
      expect(await run).toMatchObject({ deleted: 2 });
    } finally {
      copier.release();
    }
    // …and then sees it and deletes it with its row.
    expect(await count('archive_search')).toBe(0);
  });

  it('on PostgreSQL, yields to a node holding the retention lock', async (ctx) => {
    if (db.embedded) ctx.skip(); // PGlite has one session: its advisory locks never exclude
    await write([entry(OLD, 'a@x', 'b@x'), entry(OLD, 'a@x', 'b@x'), entry(NEW, 'a@x', 'b@x')]);
    const other = await db.sql.reserve();
    try {
      await other`BEGIN`;
      await other`SELECT pg_advisory_xact_lock(8319107012398421070)`;
      expect(await job().runOnce()).toMatchObject({ deleted: 0, batches: 0, yielded: true });
      await other`COMMIT`;
    } finally {
      other.release();
    }
    expect(await job().runOnce()).toMatchObject({ deleted: 2, yielded: false });
  });

  it('start() runs at once and then every interval; stop() waits for the run in progress', async () => {
    await write([entry(OLD, 'a@x', 'b@x'), entry(OLD, 'a@x', 'b@x'), entry(NEW, 'a@x', 'b@x')]);
    const j = job({ intervalMs: 1000 });
    j.start();
    for (let i = 0; i < 100 && accessLog.entries.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(accessLog.entries).toHaveLength(1);
    await write([entry(OLD - 1000, 'a@x', 'b@x')], 'other');
    await write([entry(NEW, 'a@x', 'b@x')], 'other');
    for (let i = 0; i < 150 && accessLog.entries.length === 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(accessLog.entries).toHaveLength(2);
    await j.stop();
    expect(await count('archive')).toBe(2);
  });
});
