import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { searchArchive } from './archive-search.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { ARCHIVE_COPY_LOCK_KEY } from './retention.ts';
import { SearchIndexer } from './search-indexer.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
});
afterAll(async () => db?.close());

const entry = (i: number, body: string | null) => ({
  stanzaId: `ix-${i}`,
  originId: null,
  clientId: null,
  fromJid: 'alice@localhost/a',
  toJid: 'bob@localhost',
  fromBare: 'alice@localhost',
  toBare: 'bob@localhost',
  type: 'chat',
  thread: null,
  body,
  redactedBody: null,
  raw: '<message/>',
  direction: 'internal' as const,
  verdict: 'allow' as const,
  reason: null,
  matches: [],
  policyVersion: 0,
});

describe('SearchIndexer', () => {
  it('leaves rows younger than the lag, then copies them (bodies only) and moves its watermark', async () => {
    const writer = new ArchiveWriter(db.sql, 'ix', silentLogger);
    await Promise.all([writer.append(entry(1, '机密项目 one')), writer.append(entry(2, null)), writer.append(entry(3, 'plain three'))]);
    const indexer = new SearchIndexer(db.sql, silentLogger);
    expect(await indexer.runOnce(60_000)).toBe(0); // all younger than a minute
    expect(await indexer.runOnce(0)).toBe(3);
    expect(await indexer.runOnce(0)).toBe(0);
    const copied = await db.sql<{ body: string }[]>`SELECT content AS body FROM archive_search ORDER BY id`;
    expect(copied.map((r) => r.body)).toEqual(['机密项目 one', 'plain three']);
  });

  it('lets search find rows on both sides of the watermark', async () => {
    const writer = new ArchiveWriter(db.sql, 'ix2', silentLogger);
    await writer.append(entry(10, '机密项目 indexed'));
    await new SearchIndexer(db.sql, silentLogger).runOnce(0);
    await writer.append(entry(11, '机密项目 not yet indexed'));
    const page = await searchArchive(db.sql, { q: '机密项目', limit: 50 });
    expect(page.items.map((m) => m.body)).toEqual(expect.arrayContaining(['机密项目 indexed', '机密项目 not yet indexed']));
  });

  it('on PostgreSQL, waits for a retention batch in progress and does not copy the rows it deleted', async (ctx) => {
    if (db.embedded) ctx.skip(); // one session: nothing runs concurrently there
    await db.sql`TRUNCATE archive, archive_search`;
    await db.sql`UPDATE archive_search_progress SET ts = '-infinity', id = 0`;
    const writer = new ArchiveWriter(db.sql, 'ix3', silentLogger);
    await Promise.all([writer.append(entry(20, 'old body, deleted')), writer.append(entry(21, 'kept body'))]);
    // A retention batch holds the copy lock exclusively and deletes a row (not yet committed).
    const batch = await db.sql.reserve();
    let copied: number | undefined;
    try {
      await batch`BEGIN`;
      await batch`SELECT pg_advisory_xact_lock(${ARCHIVE_COPY_LOCK_KEY}::bigint)`;
      await batch`DELETE FROM archive WHERE stanza_id = 'ix-20'`;
      const pass = new SearchIndexer(db.sql, silentLogger).runOnce(0).then((n) => (copied = n));
      await new Promise((r) => setTimeout(r, 300));
      expect(copied).toBeUndefined(); // waiting: its snapshot would still have the row
      await batch`COMMIT`;
      await pass;
    } finally {
      batch.release();
    }
    expect(copied).toBe(1);
    expect((await db.sql<{ content: string }[]>`SELECT content FROM archive_search`).map((r) => r.content)).toEqual(['kept body']);
  });
});
