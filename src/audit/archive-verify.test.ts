import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { EXIT_ARCHIVE_BROKEN, EXIT_ERROR, EXIT_OK, runCli } from '../cli/main.ts';
import { silentLogger } from '../log.ts';
import type { ArchiveEntry } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { verifyArchive } from './archive-verify.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { createAccessLogStore } from './access-log.ts';
import type { AccessLog } from './access-log.types.ts';
import { RetentionJob } from './retention.ts';
import { RecordingAccessLog } from '../../test/support/access-log.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
});
afterAll(async () => db?.close());

const entry = (chain: string, i: number): ArchiveEntry => ({
  ts: new Date(Date.now() - 100_000 + i),
  stanzaId: `${chain}-${i}`,
  originId: i % 2 ? `o-${i}` : null,
  clientId: `c-${i}`,
  fromJid: 'alice@example.org/a',
  toJid: 'bob@example.org',
  fromBare: 'alice@example.org',
  toBare: 'bob@example.org',
  type: 'chat',
  thread: i % 5 === 0 ? `t-${i}` : null,
  body: i % 7 === 0 ? null : `你好 "quoted" \\ ${i} 🌍`,
  redactedBody: i % 4 === 0 ? '██ redacted' : null,
  raw: `<message id='c-${i}'><body>你好 ${i}</body></message>`,
  direction: 'internal',
  verdict: i % 3 === 0 ? 'flag' : 'allow',
  reason: i % 3 === 0 ? 'rule "x" (flag, high)' : null,
  // Keys in an order jsonb will not keep, and a large policy version (bigint comes back as a string).
  matches:
    i % 3 === 0
      ? [{ match: '你好', end: 2, start: 0, severity: 'high', action: 'flag', ruleName: 'rule, "one"', ruleId: 'r1' } as ArchiveEntry['matches'][number]]
      : [],
  policyVersion: 9_000_000_000 + i,
});

async function writeChain(chain: string, n: number): Promise<void> {
  const writer = new ArchiveWriter(db.sql, chain, silentLogger, { maxBatch: 37 });
  await Promise.all(Array.from({ length: n }, (_, i) => writer.append(entry(chain, i + 1))));
  await writer.close();
}

describe('verifyArchive', () => {
  it('passes chains written by the ArchiveWriter, walking them in small batches', async () => {
    await writeChain('node-a', 250);
    await writeChain('node-b', 40);
    const report = await verifyArchive(db.sql, { batchSize: 16 });
    expect(report).toEqual({
      ok: true,
      chains: [
        { chain: 'node-a', rows: 250, tombstoned: 0, ok: true, head: { seq: 250, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } },
        { chain: 'node-b', rows: 40, tombstoned: 0, ok: true, head: { seq: 40, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } },
      ],
      retention: { batches: 0, runs: 0, pendingRuns: [], problems: [] },
    });
    expect(await verifyArchive(db.sql, { chain: 'node-b' })).toMatchObject({ ok: true, chains: [{ chain: 'node-b', rows: 40, tombstoned: 0, ok: true }] });
  });

  it('names the row whose body was edited by hand', async () => {
    await writeChain('edited', 60);
    const [row] = await db.sql<{ id: string }[]>`UPDATE archive SET body = 'edited' WHERE chain = 'edited' AND chain_seq = 42 RETURNING id`;
    const report = await verifyArchive(db.sql, { chain: 'edited', batchSize: 10 });
    expect(report.ok).toBe(false);
    expect(report.chains).toEqual([
      {
        chain: 'edited',
        rows: 60,
        tombstoned: 0,
        ok: false,
        firstBroken: { id: String(row?.id), chainSeq: 42, stanzaId: 'edited-42', ts: expect.any(String), reason: expect.stringMatching(/hash does not match/) },
        head: { seq: 60, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      },
    ]);
    // The other chains are still reported intact.
    const all = await verifyArchive(db.sql);
    expect(all.ok).toBe(false);
    expect(all.chains.filter((c) => !c.ok).map((c) => c.chain)).toEqual(['edited']);
  });

  it('notices edits of a match, the verdict, or the unsigned from_bare', async () => {
    await writeChain('fields', 30);
    await db.sql`UPDATE archive SET matches = '[]'::jsonb WHERE chain = 'fields' AND chain_seq = 9`;
    expect((await verifyArchive(db.sql, { chain: 'fields' })).chains[0]?.firstBroken?.chainSeq).toBe(9);
    await writeChain('verdict', 30);
    await db.sql`UPDATE archive SET verdict = 'allow' WHERE chain = 'verdict' AND chain_seq = 12`;
    expect((await verifyArchive(db.sql, { chain: 'verdict' })).chains[0]?.firstBroken?.chainSeq).toBe(12);
    await writeChain('bare', 30);
    await db.sql`UPDATE archive SET from_bare = 'mallory@example.org' WHERE chain = 'bare' AND chain_seq = 5`;
    const bare = (await verifyArchive(db.sql, { chain: 'bare' })).chains[0]?.firstBroken;
    expect(bare).toMatchObject({ chainSeq: 5, reason: expect.stringMatching(/from_bare/) });
  });

  it('checks a head noted earlier: still there, rewritten from some row on (hashes recomputed), or cut from the end', async () => {
    await writeChain('noted', 30);
    const before = (await verifyArchive(db.sql, { chain: 'noted' })).chains[0]!;
    expect(before.head?.seq).toBe(30);
    const noted = { seq: 20, hash: (await db.sql<{ hash: Buffer }[]>`SELECT hash FROM archive WHERE chain = 'noted' AND chain_seq = 20`)[0]!.hash };
    expect((await verifyArchive(db.sql, { chain: 'noted', expectHead: noted })).chains[0]).toMatchObject({ ok: true, noted: { seq: 20, ok: true } });
    // The tip noted as it was: still the same element even once the chain grew.
    expect((await verifyArchive(db.sql, { chain: 'noted', expectHead: { seq: 30, hash: Buffer.from(before.head!.hash, 'hex') } })).ok).toBe(true);

    // The element at the noted seq has another hash, as after a rewrite that recomputed every hash
    // from some row on (which the walk alone cannot tell from the original).
    await db.sql`UPDATE archive SET hash = ${Buffer.alloc(32, 7)} WHERE chain = 'noted' AND chain_seq = 20`;
    const rewritten = (await verifyArchive(db.sql, { chain: 'noted', expectHead: noted })).chains[0]!;
    expect(rewritten).toMatchObject({ ok: false, noted: { seq: 20, ok: false, reason: expect.stringMatching(/no longer has the hash noted/) } });
    await db.sql`UPDATE archive SET hash = ${noted.hash} WHERE chain = 'noted' AND chain_seq = 20`;

    // Cut from the end: the noted head is gone.
    await db.sql`DELETE FROM archive WHERE chain = 'noted' AND chain_seq > 18`;
    const cut = await verifyArchive(db.sql, { chain: 'noted', expectHead: noted });
    expect(cut.ok).toBe(false);
    expect(cut.chains[0]).toMatchObject({ head: { seq: 18 }, noted: { seq: 20, ok: false, reason: 'the chain ends at chain_seq 18, before the noted head 20: rows were cut from its end' } });
    await expect(verifyArchive(db.sql, { expectHead: noted })).rejects.toThrow(RangeError);
  });

  it('fails at the gap a deleted row leaves', async () => {
    await writeChain('deleted', 50);
    await db.sql`DELETE FROM archive WHERE chain = 'deleted' AND chain_seq = 20`;
    const report = await verifyArchive(db.sql, { chain: 'deleted', batchSize: 7 });
    expect(report.ok).toBe(false);
    expect(report.chains[0]).toMatchObject({
      chain: 'deleted',
      rows: 49,
      ok: false,
      firstBroken: { chainSeq: 21, stanzaId: 'deleted-21', reason: 'chain_seq jumps from 19 to 21 (1 row deleted)' },
    });
  });

  it('fails when the first rows of a chain were deleted', async () => {
    await writeChain('head', 10);
    await db.sql`DELETE FROM archive WHERE chain = 'head' AND chain_seq <= 2`;
    const broken = (await verifyArchive(db.sql, { chain: 'head' })).chains[0]?.firstBroken;
    expect(broken).toMatchObject({ chainSeq: 3, reason: expect.stringMatching(/starts at chain_seq 3/) });
  });

  it('fails when a row was deleted and the next one re-linked by hand', async () => {
    await writeChain('relinked', 10);
    await db.sql`DELETE FROM archive WHERE chain = 'relinked' AND chain_seq = 5`;
    await db.sql`UPDATE archive SET chain_seq = chain_seq - 1 WHERE chain = 'relinked' AND chain_seq > 5`;
    const broken = (await verifyArchive(db.sql, { chain: 'relinked' })).chains[0]?.firstBroken;
    expect(broken).toMatchObject({ chainSeq: 5, stanzaId: 'relinked-6', reason: 'prev_hash is not the hash of chain_seq 4' });
  });
});

/**
 * Moves rows of a chain to archive_tombstones as retention does: one statement, the same columns,
 * and the batch's record (migrations/0012) with its digest — of a run still in progress (not in the
 * access log yet, deleted_at within the grace), so verification counts it as pending.
 */
async function tombstone(chain: string, from: number, to: number): Promise<void> {
  await db.sql`
    WITH del AS (
      DELETE FROM archive WHERE chain = ${chain} AND chain_seq BETWEEN ${from} AND ${to}
      RETURNING chain, chain_seq, ts, stanza_id, prev_hash, hash
    ), rec AS (
      INSERT INTO retention_batches (run_id, cutoff, deleted_at, deleted, digest)
      SELECT 'test-run', clock_timestamp(), clock_timestamp() + interval '1 day', count(*),
             sha256(string_agg(convert_to(chain, 'UTF8') || decode('00', 'hex') || int8send(chain_seq) || hash, ''::bytea ORDER BY chain COLLATE "C", chain_seq))
      FROM del HAVING count(*) > 0
      RETURNING id
    )
    INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash, batch_id) SELECT *, (SELECT id FROM rec) FROM del`;
}

describe('verifyArchive with tombstones', () => {
  it('links a chain across the rows retention deleted, first rows and middle ones, in small batches', async () => {
    await writeChain('tomb', 40);
    await tombstone('tomb', 1, 12);
    await tombstone('tomb', 20, 26);
    await tombstone('tomb', 30, 30);
    expect(await verifyArchive(db.sql, { chain: 'tomb', batchSize: 5 })).toEqual({
      ok: true,
      chains: [{ chain: 'tomb', rows: 40 - 12 - 7 - 1, tombstoned: 20, ok: true, head: { seq: 40, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } }],
      retention: { batches: 3, runs: 1, pendingRuns: ['test-run'], problems: [] },
    });
  });

  it('still reports a chain whose every row is tombstoned', async () => {
    await writeChain('gone', 6);
    await tombstone('gone', 1, 6);
    const all = await verifyArchive(db.sql);
    expect(all.chains.find((c) => c.chain === 'gone')).toEqual({ chain: 'gone', rows: 0, tombstoned: 6, ok: true, head: { seq: 6, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  });

  it('still fails at a gap with no tombstone next to tombstoned rows', async () => {
    await writeChain('tomb-gap', 30);
    await tombstone('tomb-gap', 1, 10);
    await db.sql`DELETE FROM archive WHERE chain = 'tomb-gap' AND chain_seq = 11`;
    expect((await verifyArchive(db.sql, { chain: 'tomb-gap', batchSize: 4 })).chains[0]).toMatchObject({
      rows: 19,
      tombstoned: 10,
      ok: false,
      firstBroken: { chainSeq: 12, stanzaId: 'tomb-gap-12', reason: 'chain_seq jumps from 10 to 12 (1 row deleted)' },
    });
  });

  it('fails at a tombstone that does not link (forged hashes)', async () => {
    await writeChain('tomb-forged', 20);
    await tombstone('tomb-forged', 5, 8);
    await db.sql`UPDATE archive_tombstones SET prev_hash = ${Buffer.alloc(32, 7)} WHERE chain = 'tomb-forged' AND chain_seq = 6`;
    expect((await verifyArchive(db.sql, { chain: 'tomb-forged' })).chains[0]).toMatchObject({
      ok: false,
      firstBroken: { id: 'tombstone', tombstone: true, chainSeq: 6, stanzaId: 'tomb-forged-6', reason: "the tombstone's prev_hash is not the hash of chain_seq 5" },
    });
  });

  it('fails at the row after a tombstone whose hash was changed', async () => {
    await writeChain('tomb-hash', 20);
    await tombstone('tomb-hash', 5, 5);
    await db.sql`UPDATE archive_tombstones SET hash = ${Buffer.alloc(32, 9)} WHERE chain = 'tomb-hash' AND chain_seq = 5`;
    // The batch's digest no longer matches: the tombstone itself is named.
    expect((await verifyArchive(db.sql, { chain: 'tomb-hash' })).chains[0]?.firstBroken).toMatchObject({
      chainSeq: 5,
      tombstone: true,
      reason: expect.stringMatching(/do not match its digest/),
    });
  });

  it('fails when a row and a tombstone claim the same place', async () => {
    await writeChain('tomb-dup', 10);
    await db.sql`
      INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash)
      SELECT chain, chain_seq, ts, stanza_id, prev_hash, hash FROM archive WHERE chain = 'tomb-dup' AND chain_seq = 4`;
    expect((await verifyArchive(db.sql, { chain: 'tomb-dup' })).chains[0]).toMatchObject({
      rows: 10,
      tombstoned: 1,
      ok: false,
      firstBroken: { chainSeq: 4, tombstone: true, reason: 'chain_seq 4 has both a row and a tombstone' },
    });
  });
});

describe('verifyArchive against retention\'s records', () => {
  const OLD = Date.parse('2024-03-10T00:00:00Z');
  const oldEntry = (chain: string, i: number): ArchiveEntry => ({ ...entry(chain, i), ts: new Date(OLD + i * 1000) });
  async function writeOld(chain: string, n: number): Promise<void> {
    await ensureArchivePartitions(db.sql, new Date(OLD));
    const writer = new ArchiveWriter(db.sql, chain, silentLogger);
    for (let i = 1; i <= n; i++) await writer.append(oldEntry(chain, i));
    await writer.close();
  }
  const brokenAt = async (chain: string) => (await verifyArchive(db.sql, { chain })).chains[0]?.firstBroken;

  it('fails at a row deleted by hand whose tombstone was written by hand', async () => {
    await writeChain('forged', 3);
    await db.sql`
      WITH d AS (DELETE FROM archive WHERE chain = 'forged' AND chain_seq = 2 RETURNING chain, chain_seq, ts, stanza_id, prev_hash, hash)
      INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash) SELECT * FROM d`;
    const report = await verifyArchive(db.sql, { chain: 'forged' });
    expect(report.ok).toBe(false);
    expect(report.chains[0]).toMatchObject({
      rows: 2,
      tombstoned: 1,
      ok: false,
      firstBroken: { tombstone: true, chainSeq: 2, stanzaId: 'forged-2', reason: expect.stringMatching(/belongs to no retention batch/) },
    });
  });

  it('fails at a hand-written tombstone added to a real batch, and at tombstones swapped between batches', async () => {
    await writeChain('added', 10);
    await tombstone('added', 2, 3);
    const [batch] = await db.sql<{ id: string }[]>`SELECT batch_id AS id FROM archive_tombstones WHERE chain = 'added' LIMIT 1`;
    await db.sql`
      WITH d AS (DELETE FROM archive WHERE chain = 'added' AND chain_seq = 4 RETURNING chain, chain_seq, ts, stanza_id, prev_hash, hash)
      INSERT INTO archive_tombstones (chain, chain_seq, ts, stanza_id, prev_hash, hash, batch_id) SELECT *, ${batch!.id}::bigint FROM d`;
    expect(await brokenAt('added')).toMatchObject({ chainSeq: 2, reason: `retention batch ${batch!.id} recorded 2 deletions but 3 tombstones name it` });

    // Same counts, different tombstones: the digests tell.
    await writeChain('swapped', 10);
    await tombstone('swapped', 2, 2);
    await tombstone('swapped', 5, 5);
    await db.sql`UPDATE archive_tombstones SET batch_id = (SELECT max(batch_id) + min(batch_id) FROM archive_tombstones WHERE chain = 'swapped') - batch_id WHERE chain = 'swapped'`;
    expect(await brokenAt('swapped')).toMatchObject({ chainSeq: 2, reason: expect.stringMatching(/do not match its digest/) });
  });

  it('fails at a batch that deleted a message newer than its cutoff', async () => {
    await writeChain('too-new', 5);
    await tombstone('too-new', 2, 2);
    await db.sql`UPDATE retention_batches SET cutoff = '2000-01-01', deleted_at = '2000-01-02' WHERE id = (SELECT batch_id FROM archive_tombstones WHERE chain = 'too-new')`;
    expect(await brokenAt('too-new')).toMatchObject({ chainSeq: 2, reason: expect.stringMatching(/newer than its cutoff/) });
  });

  it('holds a run recorded in the access log, and fails a run missing from it once it cannot still be running', async () => {
    const accessLog = createAccessLogStore(db.sql);
    await writeOld('logged', 6);
    const job = (log: AccessLog) => new RetentionJob({ sql: db.sql, log: silentLogger, accessLog: log, retentionDays: 30, intervalMs: 60_000, pauseMs: 0, batchSize: 2 });
    const logged = await job(accessLog).runOnce();
    // Rows 3 and 6 are flagged (an open incident each) and 6 is the chain's newest: 1, 2, 4, 5 go.
    expect(logged.deleted).toBe(4);
    const ok = await verifyArchive(db.sql, { chain: 'logged', runLogGraceMs: 0 });
    expect(ok.chains[0]).toMatchObject({ rows: 2, tombstoned: 4, ok: true });
    expect(ok.retention.problems.filter((p) => p.reason.includes(logged.runId))).toEqual([]);

    // A run whose entry never reached the access log (the process died; or the records were forged).
    await writeOld('unlogged', 4);
    const unlogged = await job(new RecordingAccessLog()).runOnce();
    expect(unlogged.deleted).toBe(2);
    const pending = await verifyArchive(db.sql, { chain: 'unlogged' });
    expect(pending.retention.pendingRuns).toContain(unlogged.runId);
    expect(pending.chains[0]).toMatchObject({ ok: true });
    const late = await verifyArchive(db.sql, { chain: 'unlogged', runLogGraceMs: 0 });
    expect(late.ok).toBe(false);
    expect(late.chains[0]).toMatchObject({ ok: false, firstBroken: { tombstone: true, reason: `retention run ${unlogged.runId} is not in the access log` } });
    expect(late.retention.problems.map((p) => p.reason)).toContain(`retention run ${unlogged.runId} is not in the access log`);
  });
});

describe('warden archive verify', () => {
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    // The CLI reaches this test's database by its URL, or through the embedded store's socket.
    const env = db.url !== undefined ? { DATABASE_URL: db.url } : { DATA_DIR: db.dataDir };
    let stdout = '';
    let stderr = '';
    const sink = (onText: (t: string) => void) => new Writable({ write: (chunk: Buffer, _e, cb) => (onText(chunk.toString()), cb()) });
    const code = await runCli(args, { stdin: Readable.from(['']), stdout: sink((t) => (stdout += t)), stderr: sink((t) => (stderr += t)), env });
    return { code, stdout, stderr };
  }

  it('exits 0 with a summary when the chain is intact', async () => {
    await writeChain('cli', 12);
    const intact = await cli(['archive', 'verify', '--chain', 'cli']);
    expect(intact.code).toBe(EXIT_OK);
    expect(intact.stdout).toMatch(/^chain cli: 12 rows, intact\n  head 12:[0-9a-f]{64}\nthe archive is intact\n$/);
    // The printed head, passed back later, is checked.
    const head = /head (\d+:[0-9a-f]{64})/.exec(intact.stdout)![1]!;
    expect(await cli(['archive', 'verify', '--chain', 'cli', '--expect', head])).toMatchObject({ code: EXIT_OK, stdout: expect.stringContaining('noted head 12: still there') });
    const forged = await cli(['archive', 'verify', '--chain', 'cli', '--expect', `12:${'0'.repeat(64)}`]);
    expect(forged.code).toBe(EXIT_ARCHIVE_BROKEN);
    expect(forged.stdout).toContain('noted head 12: chain_seq 12 no longer has the hash noted for it');
    expect((await cli(['archive', 'verify', '--expect', head])).code).toBe(2);
    expect(await cli(['archive', 'verify', '--chain', 'clj'])).toMatchObject({ code: EXIT_ERROR, stderr: 'warden: the archive has no chain clj\n' });
  });

  it('reports retention\'s records when it verifies the whole archive: pending runs, and batches that do not hold (exit 3)', async () => {
    await writeChain('cli-retention', 5);
    await tombstone('cli-retention', 1, 2);
    const pending = await cli(['archive', 'verify']);
    expect(pending.stdout).toMatch(/^retention: \d+ batches in \d+ runs$/m);
    expect(pending.stdout).toMatch(/^retention run test-run: not in the access log yet/m);
    // A batch record with no tombstones (one deleted with its message, say).
    const [forged] = await db.sql<{ id: string }[]>`
      INSERT INTO retention_batches (run_id, cutoff, deleted_at, deleted, digest)
      VALUES ('cli-forged', clock_timestamp() - interval '2 days', clock_timestamp(), 1, sha256(''::bytea)) RETURNING id::text`;
    try {
      const broken = await cli(['archive', 'verify']);
      expect(broken.code).toBe(EXIT_ARCHIVE_BROKEN);
      expect(broken.stdout).toContain(`retention batch ${forged!.id}: retention batch ${forged!.id} recorded 1 deletions but 0 tombstones name it`);
    } finally {
      await db.sql`DELETE FROM retention_batches WHERE run_id = 'cli-forged'`;
    }
  });

  it('exits 3 naming the broken row when it is not', async () => {
    await db.sql`UPDATE archive SET raw = '<message/>' WHERE chain = 'cli' AND chain_seq = 4`;
    const r = await cli(['archive', 'verify', '--chain', 'cli']);
    expect(r.code).toBe(EXIT_ARCHIVE_BROKEN);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^chain cli: 12 rows, BROKEN at chain_seq 4 \(id \d+, stanza cli-4, .*\): hash does not match/);
    expect(r.stdout).toMatch(/the archive has been tampered with\n$/);
  });
});
