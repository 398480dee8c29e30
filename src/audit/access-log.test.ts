// The access log on a real database: gapless chained appends (also when many come at once, and
// inside a caller's transaction), filters and keyset order, the token behind each entry, the
// database refusing to change or remove entries, and verification that names an edited or a
// deleted entry and, given a head noted earlier, a cut-off end or a rewritten suffix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { principalFor } from '../../test/support/fake-auth.ts';
import { accessEntryHash, ACCESS_GENESIS, createAccessLogStore, isAccessLogSeq, stableJson, type AccessLogStore } from './access-log.ts';

const officer = principalFor('officer', 'olivia');
const auditor = principalFor('auditor', 'audrey');

/** A fresh database and log for each describe block, closed after it. */
function freshLog(): { db: () => TestDatabase; log: () => AccessLogStore } {
  let db: TestDatabase;
  let log: AccessLogStore;
  beforeAll(async () => {
    db = await openTestDatabase();
    log = createAccessLogStore(db.sql);
  });
  afterAll(async () => {
    await db?.close();
  });
  return { db: () => db, log: () => log };
}

/**
 * What someone holding the table owner's rights can do: switch the append-only triggers off
 * (migration 0011), tamper, and switch them on again.
 */
async function asOwner(db: TestDatabase, tamper: () => Promise<unknown>): Promise<void> {
  await db.sql`ALTER TABLE access_log DISABLE TRIGGER USER`;
  try {
    await tamper();
  } finally {
    await db.sql`ALTER TABLE access_log ENABLE TRIGGER USER`;
  }
}

/** Rewrites every entry from `fromSeq` on with fresh hashes, as a forger who knows the (unkeyed) hash would. */
async function rehashFrom(db: TestDatabase, log: AccessLogStore, fromSeq: number): Promise<void> {
  const all = (await log.list({ limit: 10_000 })).reverse();
  let prev: Buffer = fromSeq === 1 ? ACCESS_GENESIS : Buffer.from(all.find((e) => e.seq === String(fromSeq - 1))!.hash, 'hex');
  for (const e of all.filter((x) => Number(x.seq) >= fromSeq)) {
    const hash = accessEntryHash(prev, e);
    await db.sql`UPDATE access_log SET prev_hash = ${prev}, hash = ${hash} WHERE seq = ${e.seq}`;
    prev = hash;
  }
}

describe('stableJson', () => {
  it('gives the same text whatever the key order, at every depth', () => {
    expect(stableJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: '炸弹' } })).toBe(stableJson({ a: { c: '炸弹', d: [1, { x: 1, y: 2 }] }, b: 1 }));
    expect(stableJson({ a: undefined, b: null })).toBe('{"b":null}');
  });
});

describe('isAccessLogSeq', () => {
  it.each([
    ['1', true],
    ['9223372036854775807', true],
    ['9223372036854775808', false],
    ['9999999999999999999', false],
    ['0', false],
    ['01', false],
    ['-1', false],
    ['1.5', false],
  ])('%s → %s', (seq, ok) => {
    expect(isAccessLogSeq(seq)).toBe(ok);
  });
});

describe('access log', () => {
  const t = freshLog();

  it('appends entries with consecutive seq numbers, even when 50 arrive at once', async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.log().record({ principal: officer, ip: '10.0.0.1', action: 'search', query: { q: `term ${i}`, since: new Date('2024-01-01T00:00:00Z') }, messageIds: [`m-${i}`] }),
      ),
    );
    const rows = await t.db().sql<{ seq: string }[]>`SELECT seq FROM access_log ORDER BY seq`;
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await t.log().verify()).ok).toBe(true);
  });

  it('lists newest first with filters by actor, action and message id', async () => {
    await t.log().record({ principal: auditor, ip: '10.0.0.2', action: 'access-log.read', query: {} });
    await t.log().record({ principal: officer, ip: '10.0.0.1', action: 'incident.read', messageIds: ['m-7'], detail: { incident: '3' } });
    const newest = await t.log().list({ limit: 2 });
    expect(newest.map((e) => e.action)).toEqual(['incident.read', 'access-log.read']);
    expect(newest[0]).toMatchObject({ actor: 'olivia', role: 'officer', ip: '10.0.0.1', messageIds: ['m-7'], messageCount: 1, detail: { incident: '3' } });
    expect((await t.log().list({ limit: 100, actor: 'audrey' })).map((e) => e.action)).toEqual(['access-log.read']);
    expect((await t.log().list({ limit: 100, action: 'search' })).length).toBe(50);
    const whoReadM7 = await t.log().list({ limit: 100, messageId: 'm-7' });
    expect(whoReadM7.map((e) => e.action)).toEqual(['incident.read', 'search']);
    const older = await t.log().list({ limit: 1, beforeSeq: newest[1]!.seq });
    expect(Number(older[0]!.seq)).toBe(Number(newest[1]!.seq) - 1);
  });

  it('stores a date in a query as the ISO string the hash was computed over', async () => {
    const [row] = await t.log().list({ limit: 1, action: 'search', messageId: 'm-0' });
    expect(row!.query).toEqual({ q: 'term 0', since: '2024-01-01T00:00:00.000Z' });
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database itself, and the chain stays intact', async () => {
    const sql = t.db().sql;
    await expect(sql`UPDATE access_log SET actor = 'someone else' WHERE seq = 3`).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM access_log WHERE seq > 45`).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM access_log WHERE seq = -1`).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE access_log`).rejects.toThrow(/append-only/);
    const [n] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM access_log`;
    expect(n!.n).toBe(52);
    expect((await t.log().verify()).ok).toBe(true);
  });

  it('names the first entry changed by hand in SQL, then passes again once it is put back', async () => {
    const [before] = await t.db().sql<{ query: unknown }[]>`SELECT query FROM access_log WHERE seq = 10`;
    await asOwner(t.db(), () => t.db().sql`UPDATE access_log SET query = '{"q":"something innocent"}'::jsonb WHERE seq = 10`);
    const broken = await t.log().verify({ batchSize: 7 });
    expect(broken).toMatchObject({ ok: false, firstBroken: { seq: '10', reason: 'the entry was changed after it was written' } });
    await asOwner(t.db(), () => t.db().sql`UPDATE access_log SET query = ${t.db().sql.json(before!.query as never)} WHERE seq = 10`);
    expect((await t.log().verify({ batchSize: 7 })).ok).toBe(true);
  });

  it('names an entry rewritten with its own hash recomputed, not the intact entry after it', async () => {
    const sql = t.db().sql;
    const [row] = await sql<{ actor: string; hash: Buffer }[]>`SELECT actor, hash FROM access_log WHERE seq = 3`;
    const [entry] = await t.log().list({ limit: 1, beforeSeq: '4' });
    const [prev] = await sql<{ hash: Buffer }[]>`SELECT hash FROM access_log WHERE seq = 2`;
    await asOwner(t.db(), () => sql`UPDATE access_log SET actor = 'mallory', hash = ${accessEntryHash(prev!.hash, { ...entry!, actor: 'mallory' })} WHERE seq = 3`);
    const report = await t.log().verify({ batchSize: 7 });
    expect(report.ok).toBe(false);
    expect(report.firstBroken!.seq).toBe('3');
    expect(report.firstBroken!.reason).toMatch(/entry 3 was changed and its hash recomputed/);
    await asOwner(t.db(), () => sql`UPDATE access_log SET actor = ${row!.actor}, hash = ${row!.hash} WHERE seq = 3`);
    expect((await t.log().verify()).ok).toBe(true);
  });

  it('names a deleted entry', async () => {
    await asOwner(t.db(), () => t.db().sql`DELETE FROM access_log WHERE seq = 20`);
    const report = await t.log().verify({ batchSize: 7 });
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toEqual({ seq: '21', reason: 'entry 20 is missing' });
  });
});

describe('the chain head, kept outside the database', () => {
  const t = freshLog();

  beforeAll(async () => {
    for (let i = 0; i < 10; i++) await t.log().record({ principal: officer, ip: '10.0.0.1', action: 'search', query: { q: `q${i}` } });
  });

  it('is the newest entry: seq, hash and time, as the list shows them', async () => {
    const report = await t.log().verify();
    const [newest] = await t.log().list({ limit: 1 });
    expect(report).toEqual({ ok: true, rows: 10, exportMessageIds: 0, head: { seq: '10', hash: newest!.hash, at: newest!.at } });
    expect(report.head!.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is null for an empty log, and a head expected in an empty log is reported gone', async () => {
    const db = await openTestDatabase();
    try {
      const log = createAccessLogStore(db.sql);
      expect(await log.verify()).toEqual({ ok: true, rows: 0, exportMessageIds: 0, head: null });
      expect(await log.verify({ expect: { seq: '4', hash: 'ab'.repeat(32) } })).toMatchObject({ ok: false, firstBroken: { seq: '4', reason: expect.stringMatching(/is gone: the log now ends at 0/) } });
    } finally {
      await db.close();
    }
  });

  it('still holds a head noted earlier after more entries, and the check passes', async () => {
    const noted = (await t.log().verify()).head!;
    await t.log().record({ principal: auditor, ip: '10.0.0.2', action: 'access-log.read' });
    const report = await t.log().verify({ expect: { seq: noted.seq, hash: noted.hash.toUpperCase() } });
    expect(report.ok).toBe(true);
    expect(report.head!.seq).toBe('11');
  });

  it('shows the newest entries cut off, which the chain alone does not', async () => {
    const noted = (await t.log().verify()).head!;
    await asOwner(t.db(), () => t.db().sql`DELETE FROM access_log WHERE seq >= 9`);
    expect((await t.log().verify()).ok).toBe(true);
    const report = await t.log().verify({ expect: noted });
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toEqual({ seq: '11', reason: 'entry 11, noted earlier, is gone: the log now ends at 8 (entries were removed from its end)' });
  });

  it('shows a suffix rewritten with recomputed hashes, which the chain alone does not', async () => {
    const noted = (await t.log().verify()).head!;
    await asOwner(t.db(), async () => {
      await t.db().sql`UPDATE access_log SET actor = 'someone else' WHERE seq = 2`;
      await rehashFrom(t.db(), t.log(), 2);
    });
    expect((await t.log().verify()).ok).toBe(true);
    const report = await t.log().verify({ expect: noted });
    expect(report).toMatchObject({ ok: false, firstBroken: { seq: '8', reason: expect.stringMatching(/not the entry noted earlier/) } });
  });
});

describe('the token behind an entry', () => {
  const t = freshLog();

  it('is recorded, filterable, and covered by the hash; sessions and system jobs have none', async () => {
    await t.log().record({ principal: { ...officer, tokenId: '17' }, ip: '10.0.0.1', action: 'search' });
    await t.log().record({ principal: { ...officer, tokenId: '42' }, ip: '10.0.0.1', action: 'search' });
    await t.log().record({ principal: { actor: 'olivia', role: 'officer', via: 'session', account: 'olivia' }, ip: '10.0.0.1', action: 'search' });
    const entries = await t.log().list({ limit: 10 });
    expect(entries.map((e) => [e.via, e.tokenId])).toEqual([
      ['session', null],
      ['token', '42'],
      ['token', '17'],
    ]);
    expect((await t.log().list({ limit: 10, tokenId: '17' })).map((e) => e.seq)).toEqual(['1']);
    expect((await t.log().verify()).ok).toBe(true);

    await asOwner(t.db(), () => t.db().sql`UPDATE access_log SET token_id = '42' WHERE seq = 1`);
    expect((await t.log().verify()).firstBroken).toEqual({ seq: '1', reason: 'the entry was changed after it was written' });
  });
});

describe('recordIn: an entry in the caller’s transaction', () => {
  const t = freshLog();

  it('commits with the change it records, or not at all, and the chain stays gapless', async () => {
    const sql = t.db().sql;
    await sql`CREATE TABLE things (id int PRIMARY KEY)`;
    await sql.begin(async (tx) => {
      await tx`INSERT INTO things VALUES (1)`;
      await t.log().recordIn(tx, { principal: officer, ip: '10.0.0.1', action: 'incident.resolve', detail: { thing: 1 } });
    });
    await expect(
      sql.begin(async (tx) => {
        await t.log().recordIn(tx, { principal: officer, ip: '10.0.0.1', action: 'incident.resolve', detail: { thing: 1 } });
        await tx`INSERT INTO things VALUES (1)`; // fails: the entry goes with it
      }),
    ).rejects.toThrow();
    await t.log().record({ principal: auditor, ip: '10.0.0.2', action: 'access-log.read' });
    expect((await t.log().list({ limit: 10 })).map((e) => [e.seq, e.action])).toEqual([
      ['2', 'access-log.read'],
      ['1', 'incident.resolve'],
    ]);
    expect((await t.log().verify()).ok).toBe(true);
  });

  it('interleaves with plain appends as one chain', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 === 0
          ? t.log().record({ principal: officer, ip: '10.0.0.1', action: 'search', query: { i } })
          : t.db().sql.begin((tx) => t.log().recordIn(tx, { principal: officer, ip: '10.0.0.1', action: 'incident.comment', query: { i } })),
      ),
    );
    const report = await t.log().verify();
    expect(report).toMatchObject({ ok: true, rows: 22, head: { seq: '22' } });
  });
});
