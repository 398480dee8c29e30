// /api/v1/access-log and /verify over the real app and the real, hash-chained store: what an
// auditor sees (with the token behind each entry), that reading and verifying are on the record
// themselves, and that a head noted earlier exposes a log cut short.
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { fakeApiDeps, principalFor } from '../../../test/support/fake-auth.ts';
import { createAccessLogStore, type AccessLogStore } from '../../audit/access-log.ts';
import { buildApiApp } from '../app.ts';
import { accessLogRoutes } from './access-log.ts';

const AUDITOR = { authorization: 'Bearer auditor-token_0123456789' };
const OFFICER = { authorization: 'Bearer officer-token_0123456789' };
const deps = fakeApiDeps('example.org', {
  'auditor-token_0123456789': { ...principalFor('auditor', 'audrey'), tokenId: '7' },
  'officer-token_0123456789': principalFor('officer', 'olivia'),
});

let db: TestDatabase;
let store: AccessLogStore;
let app: FastifyInstance;

beforeAll(async () => {
  db = await openTestDatabase();
  await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'access log down (test)'; END $$`);
  store = createAccessLogStore(db.sql);
  // An officer's reads: one with her own token (id 3), one with a token an admin minted for her (id 9).
  await store.record({ principal: { ...principalFor('officer', 'olivia'), tokenId: '3' }, ip: '10.0.0.1', action: 'search', query: { q: 'a' }, messageIds: ['m-1'] });
  await store.record({ principal: { ...principalFor('officer', 'olivia'), tokenId: '9' }, ip: '10.0.0.9', action: 'search', query: { q: 'b' }, messageIds: ['m-2'] });
  app = await buildApiApp(deps, { resources: [{ prefix: '/v1/access-log', plugin: accessLogRoutes({ store }) }] });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});

const get = (url: string, headers = AUDITOR) => app.inject({ method: 'GET', url, headers });

async function withAccessLogDown<T>(fn: () => Promise<T>): Promise<T> {
  await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
  try {
    return await fn();
  } finally {
    await db.sql`DROP TRIGGER access_log_down ON access_log`;
  }
}

type Entry = { seq: string; actor: string; action: string; tokenId: string | null; via: string; query: Record<string, unknown>; detail: Record<string, unknown> };
type Head = { seq: string; hash: string; at: string };
type Verify = { ok: boolean; rows: number; head: Head | null; firstBroken?: { seq: string; reason: string } };

describe('who may read the access log', () => {
  it.each(['/api/v1/access-log', '/api/v1/access-log/verify'])('%s: 401 without credentials, 403 for an officer', async (url) => {
    expect((await app.inject({ method: 'GET', url })).statusCode).toBe(401);
    expect((await get(url, OFFICER)).statusCode).toBe(403);
  });
});

describe('GET /api/v1/access-log', () => {
  it('shows the token behind each entry, and filters by it', async () => {
    const all = (await get('/api/v1/access-log?action=search')).json() as { items: Entry[] };
    expect(all.items.map((e) => [e.actor, e.via, e.tokenId, e.query.q])).toEqual([
      ['olivia', 'token', '9', 'b'],
      ['olivia', 'token', '3', 'a'],
    ]);
    const byToken = (await get('/api/v1/access-log?tokenId=9')).json() as { items: Entry[] };
    expect(byToken.items.map((e) => e.query.q)).toEqual(['b']);
  });

  it('records the read (first page only), with the auditor and the token used', async () => {
    const first = (await get('/api/v1/access-log?limit=1')).json() as { items: Entry[]; next: string };
    const [newest] = await store.list({ limit: 1 });
    expect(newest).toMatchObject({ actor: 'audrey', action: 'access-log.read', tokenId: '7', query: { limit: 1 } });
    await get(`/api/v1/access-log?limit=1&cursor=${first.next}`);
    expect((await store.list({ limit: 1 }))[0]!.seq).toBe(newest!.seq);
  });

  it.each([
    ['not base64 of a seq', 'zzz'],
    ['seq 0', Buffer.from('0').toString('base64url')],
    ['a seq beyond bigint', Buffer.from('9999999999999999999').toString('base64url')],
  ])('answers a cursor that is %s with the invalid-cursor problem', async (_name, cursor) => {
    const res = await get(`/api/v1/access-log?cursor=${cursor}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:invalid-cursor' });
  });

  it('does not answer when its own read cannot be recorded: 503 with Retry-After', async () => {
    const res = await withAccessLogDown(() => get('/api/v1/access-log'));
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable', detail: expect.stringMatching(/access log is unavailable/) });
    expect(res.body).not.toContain('olivia');
  });
});

describe('GET /api/v1/access-log/verify', () => {
  it('reports the head to keep, and records the verification', async () => {
    const res = await get('/api/v1/access-log/verify');
    expect(res.statusCode).toBe(200);
    const report = res.json() as Verify;
    const [newest] = await store.list({ limit: 1 });
    // The verification's own entry comes right after the head it reported.
    expect(newest).toMatchObject({ action: 'access-log.verify', actor: 'audrey', detail: { ok: true, headSeq: report.head!.seq } });
    expect(report).toEqual({ ok: true, rows: Number(report.head!.seq), exportMessageIds: 0, head: { seq: String(Number(newest!.seq) - 1), hash: expect.stringMatching(/^[0-9a-f]{64}$/), at: expect.any(String) } });
    const [headEntry] = await store.list({ limit: 1, beforeSeq: newest!.seq });
    expect(report.head).toEqual({ seq: headEntry!.seq, hash: headEntry!.hash, at: headEntry!.at.toISOString() });
  });

  it('passes with a head noted earlier, and shows the log cut back past it', async () => {
    const noted = ((await get('/api/v1/access-log/verify')).json() as Verify).head!;
    const still = (await get(`/api/v1/access-log/verify?expectSeq=${noted.seq}&expectHash=${noted.hash}`)).json() as Verify;
    expect(still.ok).toBe(true);

    // Someone with the owner's rights removes the newest entries, the noted head among them.
    await db.sql`ALTER TABLE access_log DISABLE TRIGGER USER`;
    try {
      await db.sql`DELETE FROM access_log WHERE seq >= ${noted.seq}`;
    } finally {
      await db.sql`ALTER TABLE access_log ENABLE TRIGGER USER`;
    }
    const cut = (await get(`/api/v1/access-log/verify?expectSeq=${noted.seq}&expectHash=${noted.hash}`)).json() as Verify;
    expect(cut.ok).toBe(false);
    expect(cut.firstBroken).toEqual({ seq: noted.seq, reason: expect.stringMatching(new RegExp(`^entry ${noted.seq}, noted earlier, is gone`)) });
    // The chain alone looks intact — and new entries now reuse the seq numbers cut off, which the noted hash tells apart.
    expect(((await get('/api/v1/access-log/verify')).json() as Verify).ok).toBe(true);
    const reused = (await get(`/api/v1/access-log/verify?expectSeq=${noted.seq}&expectHash=${noted.hash}`)).json() as Verify;
    expect(reused).toMatchObject({ ok: false, firstBroken: { seq: noted.seq, reason: expect.stringMatching(/is not the entry noted earlier/) } });
  });

  it.each([
    ['expectSeq without expectHash', 'expectSeq=3'],
    ['expectHash without expectSeq', `expectHash=${'a'.repeat(64)}`],
    ['a short hash', 'expectSeq=3&expectHash=abc'],
    ['seq 0', `expectSeq=0&expectHash=${'a'.repeat(64)}`],
    ['a seq beyond bigint', `expectSeq=9999999999999999999&expectHash=${'a'.repeat(64)}`],
    ['an unknown parameter', 'head=3'],
  ])('answers 400 problem+json for %s', async (_name, query) => {
    const res = await get(`/api/v1/access-log/verify?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('does not answer when the verification cannot be recorded', async () => {
    const res = await withAccessLogDown(() => get('/api/v1/access-log/verify'));
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
  });
});

describe('an export of more messages than an entry lists', () => {
  const ids = Array.from({ length: 1500 }, (_, i) => `x-${i + 1}`);
  let end: string;
  beforeAll(async () => {
    // What an export of 1500 messages leaves (audit/archive-export.ts): its ids in export_messages,
    // a start entry, and an end entry listing the first 1000 and sealing all of them.
    await db.sql`INSERT INTO export_messages SELECT 77, t.ord, t.id FROM unnest(${ids}::text[]) WITH ORDINALITY AS t(id, ord)`;
    const officer = principalFor('officer', 'olivia');
    await store.record({ principal: officer, ip: '10.0.0.1', action: 'export', query: { format: 'jsonl' }, detail: { exportId: '77', phase: 'start' } });
    await store.record({
      principal: officer, ip: '10.0.0.1', action: 'export', query: { format: 'jsonl' }, messageIds: ids.slice(0, 1000), messageCount: 1500,
      detail: { exportId: '77', phase: 'complete', count: 1500, idsRecorded: 1500, idsSha256: createHash('sha256').update(ids.map((id) => `${id}\0`).join('')).digest('hex') },
    });
    end = (await store.list({ limit: 1 }))[0]!.seq;
  });

  it('is found by ?messageId= of its 1400th message', async () => {
    const res = await get('/api/v1/access-log?messageId=x-1400');
    expect(res.statusCode).toBe(200);
    const { items } = res.json() as { items: (Entry & { seq: string; messageIds: string[]; messageCount: number })[] };
    expect(items.map((e) => [e.seq, e.action, e.detail.phase, e.messageCount])).toEqual([[end, 'export', 'complete', 1500]]);
    expect(items[0]!.messageIds).not.toContain('x-1400');
    expect(((await get('/api/v1/access-log?messageId=x-1501')).json() as { items: unknown[] }).items).toEqual([]);
  });

  it('is checked by verify, which names its end entry when an id is removed', async () => {
    const ok = (await get('/api/v1/access-log/verify')).json() as Verify & { exportMessageIds: number };
    expect(ok).toMatchObject({ ok: true, exportMessageIds: 1500 });
    await db.sql`ALTER TABLE export_messages DISABLE TRIGGER USER`;
    try {
      await db.sql`DELETE FROM export_messages WHERE export_id = 77 AND ord = 1400`;
    } finally {
      await db.sql`ALTER TABLE export_messages ENABLE TRIGGER USER`;
    }
    const broken = (await get('/api/v1/access-log/verify')).json() as Verify;
    expect(broken).toMatchObject({ ok: false, firstBroken: { seq: end, reason: expect.stringMatching(/export 77's message ids were changed/) } });
    // …and the message it hid is no longer found: which is why verify must say so.
    expect(((await get('/api/v1/access-log?messageId=x-1400')).json() as { items: unknown[] }).items).toEqual([]);
  });
});
