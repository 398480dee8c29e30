// GET /api/v1/conversations through the real app (roles, schemas, problem+json, access log) on a real database.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessLogUnavailable, RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import type { ArchiveEntry } from '../audit/archive-record.ts';
import { buildApiApp } from './app.ts';
import { conversationsRoutes } from './routes/conversations.ts';

const OFFICER = 'test-officer-token_0123456789';
const AUDITOR = 'test-auditor-token_0123456789';
const ADMIN = 'test-admin-token_0123456789';
const accessLog = new RecordingAccessLog();
const logged = accessLog.entries;

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const A = 'alice@example.org';
const B = 'bob@example.org';
const C = 'carol@example.org';
const entry = (i: number, fromBare: string, toBare: string, body: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, fromBare, toBare, body, fromJid: `${fromBare}/laptop`, policyVersion: 2, ...extra });

let db: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  db = await openArchiveDatabase({
    chain: 'api',
    partitionsFrom: at(0),
    entries: [
      entry(1, A, B, 'Hello Bob'),
      entry(2, B, A, '你好 Alice，项目进度如何？'),
      entry(3, C, A, 'unrelated'),
      entry(4, A, B, '明天的炸弹演习取消了', {
        verdict: 'hold', thread: 't1',
        matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'hold', severity: 'critical', start: 3, end: 5, match: '炸弹' }],
      }),
      entry(5, B, A, '好的'),
      entry(6, A, B, 'see you'),
    ],
  });
  app = await buildApiApp(fakeApiDeps('example.org', { [OFFICER]: 'officer', [AUDITOR]: 'auditor', [ADMIN]: 'admin' }), {
    resources: [{ prefix: '/v1/conversations', plugin: conversationsRoutes({ sql: db.sql, domain: 'example.org', accessLog }) }],
  });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});

const get = (query: string, token = OFFICER) =>
  app.inject({ method: 'GET', url: `/api/v1/conversations${query}`, headers: { authorization: `Bearer ${token}` } });

interface Page {
  items: { id: string }[];
  before: string | null;
  after: string | null;
}
const ids = (p: Page) => p.items.map((m) => m.id);

describe('GET /api/v1/conversations', () => {
  it('needs credentials (401) and the officer role (403)', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/conversations?a=alice&b=bob' })).statusCode).toBe(401);
    for (const token of [AUDITOR, ADMIN]) {
      const res = await get('?a=alice&b=bob', token);
      expect(res.statusCode).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('answers the messages around one, oldest first, with the search\'s item shape, and logs the read', async () => {
    logged.length = 0;
    const res = await get('?a=alice&b=bob@example.org&around=m-4&limit=1');
    expect(res.statusCode).toBe(200);
    const page = res.json() as Page;
    expect(ids(page)).toEqual(['m-2', 'm-4', 'm-5']);
    expect(page.items[1]).toEqual({
      id: 'm-4', ts: '2024-03-01T00:00:04.000Z', from: `${A}/laptop`, to: B, type: 'chat', body: '明天的炸弹演习取消了', verdict: 'hold',
      matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'hold', severity: 'critical', start: 3, end: 5, match: '炸弹' }],
      direction: 'internal', policyVersion: 2, thread: 't1',
    });
    expect(page.before).toEqual(expect.any(String));
    expect(page.after).toEqual(expect.any(String));
    expect(logged).toEqual([
      expect.objectContaining({
        action: 'conversation.read',
        principal: expect.objectContaining({ role: 'officer' }),
        query: { a: A, b: B, limit: 1, around: 'm-4' },
        messageIds: ['m-2', 'm-4', 'm-5'],
        messageCount: 3,
      }),
    ]);
  });

  it('pages outward with before and after until both are null', async () => {
    const start = (await get('?a=bob&b=alice&around=m-4&limit=1')).json() as Page;
    const older = (await get(`?a=bob&b=alice&limit=1&before=${start.before}`)).json() as Page;
    expect(ids(older)).toEqual(['m-1']);
    expect(older.before).toBeNull();
    const newer = (await get(`?a=bob&b=alice&limit=1&after=${start.after}`)).json() as Page;
    expect(ids(newer)).toEqual(['m-6']);
    expect(newer.after).toBeNull();
  });

  it('answers the newest `limit` messages without around/before/after (default limit 25)', async () => {
    const page = (await get('?a=alice&b=bob')).json() as Page;
    expect(ids(page)).toEqual(['m-1', 'm-2', 'm-4', 'm-5', 'm-6']);
    expect(page).toEqual(expect.objectContaining({ before: null, after: null }));
    expect(ids((await get('?a=alice&b=bob&limit=2')).json() as Page)).toEqual(['m-5', 'm-6']);
  });

  it('answers 404 for an around message that is not in the conversation, and logs nothing', async () => {
    logged.length = 0;
    for (const around of ['m-3', 'nope']) {
      const res = await get(`?a=alice&b=bob&around=${around}`);
      expect(res.statusCode).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect((res.json() as { detail: string }).detail).toContain(around);
    }
    expect(logged).toEqual([]);
  });

  it('answers nothing when the read cannot be recorded: 503 access-log-unavailable with Retry-After', async () => {
    const res = await accessLog.whileDown(() => get('?a=alice&b=bob'));
    expectAccessLogUnavailable(res);
    expect(res.body).not.toContain('m-1');
  });

  it('names a bad before/after as invalid-cursor', async () => {
    expect((await get('?a=alice&b=bob&after=bogus')).json()).toMatchObject({ type: 'urn:warden:problem:invalid-cursor' });
  });

  it.each([
    ['?a=alice', /b/],
    ['?b=bob', /a/],
    ['?a=alice&b=a%20b', /b: "a b" is not a JID/],
    ['?a=alice&b=bob&limit=0', /limit/],
    ['?a=alice&b=bob&limit=201', /limit/],
    ['?a=alice&b=bob&around=m-1&after=abc', /around and after/],
    ['?a=alice&b=bob&before=bogus', /before: not a cursor/],
  ])('refuses %s with a 400 problem', async (query, detail) => {
    const res = await get(query);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.json() as { detail: string }).detail).toMatch(detail);
  });
});
