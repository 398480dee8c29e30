// The access log on a real database: gapless chained appends (also when many come at once),
// filters and keyset order, and verification that names an edited or a deleted entry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { principalFor } from '../../test/support/fake-auth.ts';
import { createAccessLogStore, stableJson, type AccessLogStore } from './access-log.ts';

let db: TestDatabase;
let log: AccessLogStore;
beforeAll(async () => {
  db = await openTestDatabase();
  log = createAccessLogStore(db.sql);
});
afterAll(async () => {
  await db?.close();
});

const officer = principalFor('officer', 'olivia');
const auditor = principalFor('auditor', 'audrey');

describe('stableJson', () => {
  it('gives the same text whatever the key order, at every depth', () => {
    expect(stableJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: '炸弹' } })).toBe(stableJson({ a: { c: '炸弹', d: [1, { x: 1, y: 2 }] }, b: 1 }));
    expect(stableJson({ a: undefined, b: null })).toBe('{"b":null}');
  });
});

describe('access log', () => {
  it('appends entries with consecutive seq numbers, even when 50 arrive at once', async () => {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.record({ principal: officer, ip: '10.0.0.1', action: 'search', query: { q: `term ${i}`, since: new Date('2024-01-01T00:00:00Z') }, messageIds: [`m-${i}`] }),
      ),
    );
    const rows = await db.sql<{ seq: string }[]>`SELECT seq FROM access_log ORDER BY seq`;
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect((await log.verify()).ok).toBe(true);
  });

  it('lists newest first with filters by actor, action and message id', async () => {
    await log.record({ principal: auditor, ip: '10.0.0.2', action: 'access-log.read', query: {} });
    await log.record({ principal: officer, ip: '10.0.0.1', action: 'incident.read', messageIds: ['m-7'], detail: { incident: '3' } });
    const newest = await log.list({ limit: 2 });
    expect(newest.map((e) => e.action)).toEqual(['incident.read', 'access-log.read']);
    expect(newest[0]).toMatchObject({ actor: 'olivia', role: 'officer', ip: '10.0.0.1', messageIds: ['m-7'], messageCount: 1, detail: { incident: '3' } });
    expect((await log.list({ limit: 100, actor: 'audrey' })).map((e) => e.action)).toEqual(['access-log.read']);
    expect((await log.list({ limit: 100, action: 'search' })).length).toBe(50);
    const whoReadM7 = await log.list({ limit: 100, messageId: 'm-7' });
    expect(whoReadM7.map((e) => e.action)).toEqual(['incident.read', 'search']);
    const older = await log.list({ limit: 1, beforeSeq: newest[1]!.seq });
    expect(Number(older[0]!.seq)).toBe(Number(newest[1]!.seq) - 1);
  });

  it('stores a date in a query as the ISO string the hash was computed over', async () => {
    const [row] = await log.list({ limit: 1, action: 'search', messageId: 'm-0' });
    expect(row!.query).toEqual({ q: 'term 0', since: '2024-01-01T00:00:00.000Z' });
  });

  it('names the first entry changed by hand in SQL, then passes again once it is put back', async () => {
    const [before] = await db.sql<{ query: unknown }[]>`SELECT query FROM access_log WHERE seq = 10`;
    await db.sql`UPDATE access_log SET query = '{"q":"something innocent"}'::jsonb WHERE seq = 10`;
    const broken = await log.verify(7);
    expect(broken).toMatchObject({ ok: false, firstBroken: { seq: '10', reason: 'the entry was changed after it was written' } });
    await db.sql`UPDATE access_log SET query = ${db.sql.json(before!.query as never)} WHERE seq = 10`;
    expect((await log.verify(7)).ok).toBe(true);
  });

  it('names a deleted entry', async () => {
    await db.sql`DELETE FROM access_log WHERE seq = 20`;
    const report = await log.verify(7);
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toEqual({ seq: '21', reason: 'entry 20 is missing' });
  });
});
