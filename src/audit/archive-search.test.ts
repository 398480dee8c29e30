import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import type { ArchiveEntry } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import {
  decodeCursor,
  encodeCursor,
  likePattern,
  searchArchive,
  trigramSearchable,
  type ArchiveSearchQuery,
  type ArchivedMessage,
} from './archive-search.ts';
import { SearchIndexer } from './search-indexer.ts';

describe('search helpers', () => {
  it.each([
    ['plain', '%plain%'],
    ['100%', '%100\\%%'],
    ['a_b', '%a\\_b%'],
    ['back\\slash', '%back\\\\slash%'],
    ['你好', '%你好%'],
  ])('escapes %s for ILIKE', (q, pattern) => {
    expect(likePattern(q)).toBe(pattern);
  });

  it.each([
    ['你好', false],
    ['a b', false],
    ['%_%', false],
    ['你好吗', true],
    ['bomb', true],
    ['a 123', true],
  ])('knows whether %j yields a trigram', (q, yes) => {
    expect(trigramSearchable(q)).toBe(yes);
  });

  it('round-trips a cursor and refuses anything else', () => {
    const c = { ts: '2024-03-01T12:00:00.123456Z', id: '42' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    for (const bad of ['', 'not base64!', Buffer.from('[1,2]').toString('base64url'), Buffer.from('["2024-03-01", "1"]').toString('base64url'),
      Buffer.from('["2024-03-01T12:00:00.123456Z", "-1"]').toString('base64url'),
      // 30 February, and an id past bigint: not ours, whatever their shape.
      encodeCursor({ ts: '2026-02-30T12:00:00.000000Z', id: '1' }),
      encodeCursor({ ts: '2024-03-01T12:00:00.123456Z', id: '9223372036854775808' })]) {
      expect(decodeCursor(bad)).toBeUndefined();
    }
  });
});

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);

const entry = (i: number, e: Partial<ArchiveEntry> & Pick<ArchiveEntry, 'fromBare' | 'toBare' | 'body'>): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, policyVersion: 3, ...e });

describe('searchArchive', () => {
  let db: TestDatabase;
  const A = 'alice@example.org';
  const B = 'bob@example.org';
  const C = 'carol@example.org';
  beforeAll(async () => {
    const entries: ArchiveEntry[] = [
      entry(1, { fromBare: A, toBare: B, body: 'Hello Bob, the QUARTERLY report is ready' }),
      entry(2, { fromBare: B, toBare: A, body: '你好，收到季度报告了' }),
      entry(3, { fromBare: A, toBare: C, body: 'discount 100% off_today \\o/' }),
      entry(4, { fromBare: C, toBare: A, body: '明天开会讨论炸弹问题', verdict: 'flag',
        matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'flag', severity: 'high', start: 6, end: 8, match: '炸弹' }] }),
      entry(5, { fromBare: B, toBare: C, body: 'hello carol, 你好' }),
      entry(6, { fromBare: A, toBare: A, body: 'note to self: hello' }),
      entry(7, { fromBare: A, toBare: B, body: null }),
      entry(8, { fromBare: B, toBare: A, body: 'discount 1000 today' }),
    ];
    db = await openArchiveDatabase({ chain: 'search', partitionsFrom: at(0), entries });
  });
  afterAll(async () => db?.close());

  const ids = (items: ArchivedMessage[]) => items.map((m) => m.id);
  const search = (q: Partial<ArchiveSearchQuery>) => searchArchive(db.sql, { limit: 50, ...q });

  it('lists everything newest first with every field', async () => {
    const page = await search({});
    expect(ids(page.items)).toEqual(['m-8', 'm-7', 'm-6', 'm-5', 'm-4', 'm-3', 'm-2', 'm-1']);
    expect(page.next).toBeNull();
    expect(page.items.find((m) => m.id === 'm-4')).toEqual({
      id: 'm-4',
      ts: at(4),
      from: `${C}/phone`,
      to: A,
      type: 'chat',
      body: '明天开会讨论炸弹问题',
      verdict: 'flag',
      matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'flag', severity: 'high', start: 6, end: 8, match: '炸弹' }],
      direction: 'internal',
      policyVersion: 3,
      thread: null,
    });
  });

  it('finds English substrings case-insensitively', async () => {
    expect(ids((await search({ q: 'quarterly' })).items)).toEqual(['m-1']);
    expect(ids((await search({ q: 'HELLO' })).items)).toEqual(['m-6', 'm-5', 'm-1']);
  });

  it('finds Chinese substrings of two characters (no trigram) and of more', async () => {
    expect(ids((await search({ q: '你好' })).items)).toEqual(['m-5', 'm-2']);
    expect(ids((await search({ q: '炸弹' })).items)).toEqual(['m-4']);
    expect(ids((await search({ q: '季度报告' })).items)).toEqual(['m-2']);
    expect(ids((await search({ q: '季度报表' })).items)).toEqual([]);
  });

  it('takes % _ and \\ in the query literally', async () => {
    expect(ids((await search({ q: '100%' })).items)).toEqual(['m-3']);
    expect(ids((await search({ q: 'off_today' })).items)).toEqual(['m-3']);
    // Unescaped, '%0%%' would also find m-8's "1000" and '%0_t%' its "0 t".
    expect(ids((await search({ q: '0%' })).items)).toEqual(['m-3']);
    expect(ids((await search({ q: '0_t' })).items)).toEqual([]);
    expect(ids((await search({ q: 'f_t' })).items)).toEqual(['m-3']);
    expect(ids((await search({ q: '\\o/' })).items)).toEqual(['m-3']);
  });

  it('filters by user on either side, by peer, and counts a note to self once', async () => {
    expect(ids((await search({ user: A })).items)).toEqual(['m-8', 'm-7', 'm-6', 'm-4', 'm-3', 'm-2', 'm-1']);
    expect(ids((await search({ user: C })).items)).toEqual(['m-5', 'm-4', 'm-3']);
    expect(ids((await search({ user: A, peer: B })).items)).toEqual(['m-8', 'm-7', 'm-2', 'm-1']);
    expect(ids((await search({ user: B, peer: A })).items)).toEqual(['m-8', 'm-7', 'm-2', 'm-1']);
    expect(ids((await search({ user: A, peer: A })).items)).toEqual(['m-6']);
    expect(ids((await search({ user: A, q: 'hello' })).items)).toEqual(['m-6', 'm-1']);
  });

  it('filters by verdict and by a [since, until) window', async () => {
    expect(ids((await search({ verdict: 'flag' })).items)).toEqual(['m-4']);
    expect(ids((await search({ since: at(3), until: at(6) })).items)).toEqual(['m-5', 'm-4', 'm-3']);
    expect(ids((await search({ since: at(3), until: at(6), user: B })).items)).toEqual(['m-5']);
  });

  it('pages with the cursor: every message once, in order, with the filters kept', async () => {
    const seen: string[] = [];
    let cursor: ArchiveSearchQuery['cursor'];
    for (let i = 0; i < 10; i++) {
      const page = await search({ limit: 3, user: A, ...(cursor ? { cursor } : {}) });
      seen.push(...ids(page.items));
      if (page.next === null) break;
      cursor = decodeCursor(page.next);
      expect(cursor).toBeDefined();
    }
    expect(seen).toEqual(['m-8', 'm-7', 'm-6', 'm-4', 'm-3', 'm-2', 'm-1']);
  });

  it('pages exactly through rows that differ only in microseconds, or not at all', async () => {
    // Not written by the ArchiveWriter (whose timestamps have milliseconds): a cursor must not
    // round the stored value, or a page would repeat or skip rows.
    await db.sql`
      INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, prev_hash, hash)
      SELECT '2024-03-02T00:00:00.000001Z'::timestamptz + (i / 2) * interval '1 microsecond', 'micro', i, 'micro-' || i,
             'micro@example.org', 'bob@example.org', 'micro@example.org', 'bob@example.org', 'chat', 'tick', '<message/>',
             'internal', 'allow', '\\x00'::bytea, '\\x00'::bytea
      FROM generate_series(1, 7) AS i`;
    const seen: string[] = [];
    let cursor: ArchiveSearchQuery['cursor'];
    for (let i = 0; i < 10; i++) {
      const page = await search({ limit: 2, user: 'micro@example.org', ...(cursor ? { cursor } : {}) });
      seen.push(...ids(page.items));
      if (page.next === null) break;
      cursor = decodeCursor(page.next);
    }
    expect(seen).toEqual(['micro-7', 'micro-6', 'micro-5', 'micro-4', 'micro-3', 'micro-2', 'micro-1']);
  });

  it('refuses peer without user and an empty window', async () => {
    await expect(search({ peer: A })).rejects.toThrow(/peer needs user/);
    await expect(search({ since: at(5), until: at(5) })).rejects.toThrow(/since must be before until/);
  });
});

describe('searchArchive on 200k messages', () => {
  let db: TestDatabase;
  const N = 200_000;
  const BULK = Date.parse('2024-05-01T00:00:00Z');
  beforeAll(async () => {
    db = await openTestDatabase();
    await ensureArchivePartitions(db.sql, new Date(BULK));
    const started = performance.now();
    // One statement generates the rows (chain hashes are placeholders: verify is not the point here).
    // Every 997th message mentions 关于机密项目; the others cycle through ordinary chatter.
    await db.sql`
      INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, prev_hash, hash)
      SELECT ${new Date(BULK).toISOString()}::timestamptz + i * interval '1 second', 'bulk', i, 'bulk-' || i,
             'u' || (i % 100) || '@bulk.test/r', 'u' || ((i + 1) % 100) || '@bulk.test',
             'u' || (i % 100) || '@bulk.test', 'u' || ((i + 1) % 100) || '@bulk.test', 'chat',
             CASE WHEN i % 997 = 0 THEN '明天下午三点关于机密项目的会议，请准时参加 #' || i
                  ELSE (ARRAY['今天天气很好，我们去公园散步吧', 'Meeting at 3pm about the quarterly report',
                              '你好，请把上周的文件发给我', 'Lunch? 午饭吃什么', '这个项目的进度怎么样了'])[1 + i % 5] || ' #' || i END,
             '<message/>', 'internal', 'allow', '\\x00'::bytea, '\\x00'::bytea
      FROM generate_series(1, ${N}::int) AS i`;
    // The search indexer copies bodies into the trigram-indexed archive_search table.
    const indexer = new SearchIndexer(db.sql, silentLogger);
    while ((await indexer.runOnce(0)) > 0);
    await db.sql`ANALYZE archive`;
    await db.sql`ANALYZE archive_search`;
    console.log(`[archive-search] inserted ${N} rows in ${Math.round(performance.now() - started)} ms (${db.embedded ? 'PGlite' : 'PostgreSQL'})`);
  }, 120_000);
  afterAll(async () => db?.close());

  // [since, until) covers messages 50 000 .. 149 999.
  const since = new Date(BULK + 50_000_000);
  const until = new Date(BULK + 150_000_000);
  const expected: string[] = [];
  for (let i = 149_999; i >= 50_000; i--) if (i % 997 === 0) expected.push(`bulk-${i}`);

  it.each([
    ['a Chinese substring served by the trigram index', '机密项目'],
    ['a two-character Chinese substring (no trigram: bounded scan)', '机密'],
  ])('finds %s within a since/until window', async (_what, q) => {
    const started = performance.now();
    const page = await searchArchive(db.sql, { q, since, until, limit: 500 });
    const ms = performance.now() - started;
    console.log(`[archive-search] q=${q} since/until over ${N} rows: ${page.items.length} hits in ${ms.toFixed(1)} ms`);
    expect(page.items.map((m) => m.id)).toEqual(expected);
    expect(page.next).toBeNull();
  });

  it('pages an English query over the whole archive', async () => {
    const started = performance.now();
    const first = await searchArchive(db.sql, { q: 'QUARTERLY report', limit: 50 });
    const second = await searchArchive(db.sql, { q: 'QUARTERLY report', limit: 50, cursor: decodeCursor(first.next ?? '') });
    console.log(`[archive-search] two pages of 'QUARTERLY report' over ${N} rows in ${(performance.now() - started).toFixed(1)} ms`);
    // i % 5 === 1 and i % 997 !== 0, newest first.
    const want: string[] = [];
    for (let i = N; want.length < 100; i--) if (i % 5 === 1 && i % 997 !== 0) want.push(`bulk-${i}`);
    expect([...first.items, ...second.items].map((m) => m.id)).toEqual(want);
  });

  it('finds one user\'s conversation with a peer in a window', async () => {
    const started = performance.now();
    const page = await searchArchive(db.sql, { user: 'u7@bulk.test', peer: 'u8@bulk.test', q: '机密', since, until, limit: 500 });
    console.log(`[archive-search] user+peer+q over ${N} rows in ${(performance.now() - started).toFixed(1)} ms`);
    expect(page.items.map((m) => m.id)).toEqual(expected.filter((id) => Number(id.slice(5)) % 100 === 7));
  });
});
