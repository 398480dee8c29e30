// GET /api/v1/messages through the real app (admin token, schemas, problem+json) on a real database.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessLogUnavailable, RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import type { ArchiveEntry } from '../audit/archive-record.ts';
import { buildApiApp } from './app.ts';
import { resolveBareJid } from './jid-param.ts';
import { messagesRoutes } from './routes/messages.ts';

const TOKEN = 'test-admin-token_0123456789';
const AUDITOR_TOKEN = 'test-auditor-token_0123456789';
const accessLog = new RecordingAccessLog();
const logged = accessLog.entries;
const auth = { authorization: `Bearer ${TOKEN}` };

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const entry = (i: number, fromBare: string, toBare: string, body: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, fromBare, toBare, body, fromJid: `${fromBare}/laptop`, policyVersion: 2, ...extra });

let db: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  db = await openArchiveDatabase({
    chain: 'api',
    partitionsFrom: at(0),
    entries: [
      entry(1, 'alice@example.org', 'bob@example.org', 'Hello Bob'),
      entry(2, 'bob@example.org', 'alice@example.org', '你好 Alice，项目进度如何？'),
      entry(3, 'carol@example.org', 'alice@example.org', '明天的炸弹演习取消了', {
        verdict: 'hold',
        thread: 't1',
        matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'hold', severity: 'critical', start: 3, end: 5, match: '炸弹' }],
      }),
      entry(4, 'alice@other.example', 'bob@example.org', 'hello from elsewhere'),
    ],
  });
  app = await buildApiApp(fakeApiDeps('example.org', { [TOKEN]: 'officer', [AUDITOR_TOKEN]: 'auditor' }), { resources: [{ prefix: '/v1/messages', plugin: messagesRoutes({ sql: db.sql, domain: 'example.org', accessLog }) }] });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});

const get = (query: string) => app.inject({ method: 'GET', url: `/api/v1/messages${query}`, headers: auth });

describe('GET /api/v1/messages', () => {
  it('needs the admin token', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/messages' });
    expect(res.statusCode).toBe(401);
  });

  it('is refused to an auditor, who may not read message bodies', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/messages?q=hello', headers: { authorization: `Bearer ${AUDITOR_TOKEN}` } });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().type).toBe('urn:warden:problem:forbidden');
  });

  it('records each search in the access log with the query and the ids shown', async () => {
    logged.length = 0;
    const res = await get('?q=%E7%82%B8%E5%BC%B9');
    expect(res.statusCode).toBe(200);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ action: 'search', query: { q: '炸弹' }, messageIds: ['m-3'] });
    expect(logged[0]?.principal.role).toBe('officer');
  });

  it('answers newest first with the documented fields', async () => {
    const res = await get('?q=%E7%82%B8%E5%BC%B9'); // 炸弹
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: [
        {
          id: 'm-3',
          ts: '2024-03-01T00:00:03.000Z',
          from: 'carol@example.org/laptop',
          to: 'alice@example.org',
          type: 'chat',
          body: '明天的炸弹演习取消了',
          verdict: 'hold',
          matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'hold', severity: 'critical', start: 3, end: 5, match: '炸弹' }],
          direction: 'internal',
          policyVersion: 2,
          thread: 't1',
        },
      ],
      next: null,
    });
  });

  it('takes a localpart on the server\'s domain or a bare JID for user and peer', async () => {
    const ids = async (q: string) => ((await get(q)).json() as { items: { id: string }[] }).items.map((m) => m.id);
    expect(await ids('?user=alice')).toEqual(['m-3', 'm-2', 'm-1']);
    expect(await ids('?user=alice@other.example')).toEqual(['m-4']);
    expect(await ids('?user=Alice&peer=bob')).toEqual(['m-2', 'm-1']);
    expect(await ids('?user=alice&q=HELLO')).toEqual(['m-1']);
    expect(await ids('?verdict=hold')).toEqual(['m-3']);
    expect(await ids(`?since=${encodeURIComponent(at(2).toISOString())}&until=${encodeURIComponent(at(4).toISOString())}`)).toEqual(['m-3', 'm-2']);
  });

  it('pages with next', async () => {
    const first = (await get('?limit=3')).json() as { items: { id: string }[]; next: string };
    expect(first.items.map((m) => m.id)).toEqual(['m-4', 'm-3', 'm-2']);
    const second = (await get(`?limit=3&cursor=${first.next}`)).json() as { items: { id: string }[]; next: string | null };
    expect(second).toEqual({ items: [expect.objectContaining({ id: 'm-1' })], next: null });
  });

  it('answers nothing when the search cannot be recorded: 503 access-log-unavailable with Retry-After', async () => {
    const res = await accessLog.whileDown(() => get('?q=Bob'));
    expectAccessLogUnavailable(res);
    expect(res.body).not.toContain('Hello Bob');
  });

  it('names a bad cursor as invalid-cursor', async () => {
    expect((await get('?cursor=bogus')).json()).toMatchObject({ type: 'urn:warden:problem:invalid-cursor' });
  });

  it.each([
    ['?limit=0', /limit/],
    ['?limit=501', /limit/],
    ['?verdict=maybe', /verdict/],
    ['?since=yesterday', /since/],
    ['?peer=bob', /peer: needs user/],
    ['?cursor=bogus', /cursor/],
    ['?user=a%20b', /user/],
    ['?since=2024-03-02T00:00:00Z&until=2024-03-01T00:00:00Z', /since must be before until/],
  ])('refuses %s with a 400 problem', async (query, detail) => {
    const res = await get(query);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.json() as { detail: string }).detail).toMatch(detail);
  });
});

describe('resolveBareJid', () => {
  it.each([
    ['alice', 'alice@example.org'],
    ['Alice', 'alice@example.org'],
    ['bob@Example.ORG', 'bob@example.org'],
    ['bob@example.org/phone', 'bob@example.org'],
    ['a b', undefined],
    ['@example.org', undefined],
  ])('%s → %s', (raw, bare) => {
    expect(resolveBareJid(raw, 'example.org')).toBe(bare);
  });
});
