// GET /api/v1/archive/verify through the real app on a real database, recorded in the real access log.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import { createAccessLogStore, type AccessLogStore } from '../audit/access-log.ts';
import type { ArchiveEntry } from '../audit/archive-record.ts';
import { buildApiApp } from './app.ts';
import { archiveRoutes } from './routes/archive.ts';

const TOKEN = 'test-admin-token_0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const deps = fakeApiDeps('example.org', { [TOKEN]: 'auditor' });

const entry = (i: number): ArchiveEntry =>
  archiveEntry({
    ts: new Date(Date.now() - 10_000 + i),
    stanzaId: `v-${i}`,
    fromJid: 'alice@example.org/a',
    fromBare: 'alice@example.org',
    toBare: 'bob@example.org',
    body: `message ${i}`,
  });

let db: TestDatabase;
let app: FastifyInstance;
let accessLog: AccessLogStore;
beforeAll(async () => {
  db = await openArchiveDatabase({ chain: 'node-1', partitionsFrom: new Date(), entries: Array.from({ length: 20 }, (_, i) => entry(i + 1)) });
  accessLog = createAccessLogStore(db.sql);
  app = await buildApiApp(deps, { resources: [{ prefix: '/v1/archive', plugin: archiveRoutes({ sql: db.sql, accessLog }) }] });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});

describe('GET /api/v1/archive/verify', () => {
  it('needs the admin token', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/archive/verify' })).statusCode).toBe(401);
  });

  it('reports an intact archive', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/archive/verify', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ok: true,
      chains: [{ chain: 'node-1', rows: 20, tombstoned: 0, ok: true, head: { seq: 20, hash: expect.stringMatching(/^[0-9a-f]{64}$/) } }],
      retention: { batches: 0, runs: 0, pendingRuns: [], problems: [] },
    });
    const [entry] = await accessLog.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'archive.verify', role: 'auditor', query: {}, detail: { ok: true, chains: 1 } });
  });

  it('does not answer when the verification cannot be recorded: 503 with Retry-After', async () => {
    await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down (test)'; END $$`);
    await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v1/archive/verify', headers: auth });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
    } finally {
      await db.sql`DROP TRIGGER access_log_down ON access_log`;
    }
  });

  it('checks a head noted earlier, and records the outcome', async () => {
    const first = (await app.inject({ method: 'GET', url: '/api/v1/archive/verify?chain=node-1', headers: auth })).json();
    const { seq, hash } = first.chains[0].head as { seq: number; hash: string };
    const same = await app.inject({ method: 'GET', url: `/api/v1/archive/verify?chain=node-1&expectSeq=${seq}&expectHash=${hash}`, headers: auth });
    expect(same.json()).toMatchObject({ ok: true, chains: [{ ok: true, noted: { seq, ok: true } }] });
    const other = await app.inject({ method: 'GET', url: `/api/v1/archive/verify?chain=node-1&expectSeq=${seq}&expectHash=${'0'.repeat(64)}`, headers: auth });
    expect(other.json()).toMatchObject({ ok: false, chains: [{ ok: false, noted: { seq, ok: false, reason: expect.stringMatching(/no longer has the hash/) } }] });
    const [entry] = await accessLog.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'archive.verify', detail: { ok: false, notedHeadOk: false } });
  });

  it.each([
    ['expectSeq=3', /give both/],
    [`expectHash=${'a'.repeat(64)}`, /give both/],
    [`expectSeq=3&expectHash=${'a'.repeat(64)}`, /chain/],
    ['chain=node-1&expectSeq=3&expectHash=xyz', /expectHash/],
  ])('answers 400 to a half or unplaced noted head: %s', async (query, detail) => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/archive/verify?${query}`, headers: auth });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(detail);
  });

  it('answers 404 for a chain with no rows rather than "intact"', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/archive/verify?chain=node-2', headers: auth });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('answers 200 with ok false and the first broken row after an edit', async () => {
    const [row] = await db.sql<{ id: string; ts: Date }[]>`UPDATE archive SET body = 'edited' WHERE stanza_id = 'v-7' RETURNING id, ts`;
    const res = await app.inject({ method: 'GET', url: '/api/v1/archive/verify?chain=node-1', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      ok: false,
      chains: [
        {
          chain: 'node-1',
          rows: 20,
          tombstoned: 0,
          ok: false,
          firstBroken: { id: String(row?.id), chainSeq: 7, stanzaId: 'v-7', ts: row?.ts.toISOString(), reason: 'hash does not match the row content (the row was edited)' },
          head: { seq: 20, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        },
      ],
      retention: { batches: 0, runs: 0, pendingRuns: [], problems: [] },
    });
    const [entry] = await accessLog.list({ limit: 1 });
    expect(entry).toMatchObject({ action: 'archive.verify', query: { chain: 'node-1' }, detail: { ok: false, chains: 1, broken: ['node-1'] } });
  });
});
