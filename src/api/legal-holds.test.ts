// /api/v1/legal-holds through the real app on a real database, with an access log that collects
// what the routes record.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectAccessLogUnavailable, RecordingAccessLog } from '../../test/support/access-log.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import { createLegalHoldStore } from '../audit/legal-holds.ts';
import { buildApiApp } from './app.ts';
import { legalHoldsRoutes } from './routes/legal-holds.ts';

const OFFICER = { authorization: 'Bearer officer-token_0123456789' };
const AUDITOR = { authorization: 'Bearer auditor-token_0123456789' };
const ADMIN = { authorization: 'Bearer admin-token_0123456789' };
const deps = fakeApiDeps('example.org', { 'officer-token_0123456789': 'officer', 'auditor-token_0123456789': 'auditor', 'admin-token_0123456789': 'admin' });

let db: TestDatabase;
let app: FastifyInstance;
const accessLog = new RecordingAccessLog();
const logged = accessLog.entries;
beforeAll(async () => {
  db = await openTestDatabase();
  app = await buildApiApp(deps, {
    resources: [{ prefix: '/v1/legal-holds', plugin: legalHoldsRoutes({ holds: createLegalHoldStore(db.sql), domain: 'example.org', accessLog }) }],
  });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});
beforeEach(async () => {
  await db.sql`TRUNCATE legal_holds`;
  logged.length = 0;
});

const post = (body: unknown, headers: Record<string, string> = OFFICER) =>
  app.inject({ method: 'POST', url: '/api/v1/legal-holds', headers, payload: body as Record<string, unknown> });
const list = (query = '', headers: Record<string, string> = OFFICER) => app.inject({ method: 'GET', url: `/api/v1/legal-holds${query}`, headers });
/** `body` null: a DELETE with no body at all. */
const release = (id: string, headers: Record<string, string> = OFFICER, body: unknown = { reason: 'Matter settled' }) =>
  app.inject({ method: 'DELETE', url: `/api/v1/legal-holds/${id}`, headers, ...(body !== null && { payload: body as Record<string, unknown> }) });

describe('/api/v1/legal-holds', () => {
  it('answers 401 without credentials and 403 to auditors and admins, on every route', async () => {
    for (const res of [
      await app.inject({ method: 'POST', url: '/api/v1/legal-holds', payload: { kind: 'user', jid: 'a', reason: 'r' } }),
      await app.inject({ method: 'GET', url: '/api/v1/legal-holds' }),
      await app.inject({ method: 'DELETE', url: '/api/v1/legal-holds/1' }),
    ]) {
      expect(res.statusCode).toBe(401);
    }
    for (const headers of [AUDITOR, ADMIN]) {
      expect((await post({ kind: 'user', jid: 'alice', reason: 'r' }, headers)).statusCode).toBe(403);
      expect((await list('', headers)).statusCode).toBe(403);
      expect((await release('1', headers)).statusCode).toBe(403);
    }
    expect(await db.sql`SELECT 1 FROM legal_holds`).toHaveLength(0);
    expect(logged).toEqual([]);
  });

  it('creates a user hold from a localpart or a full JID, as a bare JID, and logs it', async () => {
    const res = await post({ kind: 'user', jid: 'Alice', reason: 'Case 2024-17: litigation' });
    expect(res.statusCode).toBe(201);
    const hold = res.json<Record<string, unknown>>();
    expect(hold).toEqual({
      id: expect.stringMatching(/^\d+$/),
      kind: 'user',
      jid: 'alice@example.org',
      reason: 'Case 2024-17: litigation',
      createdBy: 'officer-tester',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      releasedBy: null,
      releasedAt: null,
      releaseReason: null,
    });
    expect(logged).toEqual([
      {
        principal: expect.objectContaining({ actor: 'officer-tester', role: 'officer' }),
        ip: '127.0.0.1',
        action: 'legal-hold.create',
        query: { kind: 'user', jid: 'alice@example.org', reason: 'Case 2024-17: litigation' },
        detail: { holdId: hold.id },
      },
    ]);
    expect((await post({ kind: 'user', jid: 'bob@other.example/laptop', reason: 'r' })).json()).toMatchObject({ jid: 'bob@other.example' });
  });

  it('creates a conversation hold in byte order, whichever way round it is given', async () => {
    const res = await post({ kind: 'conversation', a: 'zoe', b: 'adam@example.org', reason: 'case 5' });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ kind: 'conversation', a: 'adam@example.org', b: 'zoe@example.org' });
    expect(res.json()).not.toHaveProperty('jid');
    expect(logged[0]?.query).toEqual({ kind: 'conversation', a: 'adam@example.org', b: 'zoe@example.org', reason: 'case 5' });
  });

  it.each([
    [{ kind: 'user', reason: 'r' }, /jid: required/],
    [{ kind: 'user', jid: 'alice', a: 'x', reason: 'r' }, /a and b are for kind "conversation"/],
    [{ kind: 'conversation', a: 'alice', reason: 'r' }, /both required/],
    [{ kind: 'conversation', a: 'alice', b: 'bob', jid: 'carol', reason: 'r' }, /jid is for kind "user"/],
    [{ kind: 'conversation', a: 'alice', b: 'Alice@example.org', reason: 'r' }, /same JID/],
    [{ kind: 'user', jid: 'not a jid@', reason: 'r' }, /jid: "not a jid@" is not a JID or a username/],
    [{ kind: 'conversation', a: 'alice', b: '@bad', reason: 'r' }, /b: .* is not a JID/],
    [{ kind: 'user', jid: 'alice' }, /reason/],
    [{ kind: 'user', jid: 'alice', reason: '   ' }, /reason/],
    [{ kind: 'user', jid: 'alice', reason: 'x'.repeat(2001) }, /reason must NOT have more than 2000/],
    [{ kind: 'group', jid: 'alice', reason: 'r' }, /kind/],
  ])('answers 400 to %s', async (body, detail) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json<{ detail: string }>().detail).toMatch(detail);
    expect(await db.sql`SELECT 1 FROM legal_holds`).toHaveLength(0);
    expect(logged).toEqual([]);
  });

  it('releases a hold once: 200, then 409; 404 for an unknown one; each release logged', async () => {
    const { id } = (await post({ kind: 'user', jid: 'alice', reason: 'r' })).json<{ id: string }>();
    logged.length = 0;
    const res = await release(id);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id,
      kind: 'user',
      jid: 'alice@example.org',
      releasedBy: 'officer-tester',
      releasedAt: expect.stringMatching(/^\d{4}-/),
      releaseReason: 'Matter settled',
    });
    expect(logged).toEqual([
      expect.objectContaining({ action: 'legal-hold.release', query: { id, reason: 'Matter settled' }, detail: { holdId: id, kind: 'user', jid: 'alice@example.org' } }),
    ]);
    const again = await release(id);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ type: 'urn:warden:problem:legal-hold-released', detail: expect.stringMatching(/already released by officer-tester/) });
    for (const unknown of ['987654', 'abc', '0', '99999999999999999999']) {
      const r = await release(unknown);
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ type: 'urn:warden:problem:legal-hold-not-found' });
    }
    expect(logged).toHaveLength(1);
  });

  it('places and releases nothing when the action cannot be recorded: 503 access-log-unavailable', async () => {
    expectAccessLogUnavailable(await accessLog.whileDown(() => post({ kind: 'user', jid: 'alice', reason: 'r' })));
    expect(await db.sql`SELECT 1 FROM legal_holds`).toHaveLength(0);
    const { id } = (await post({ kind: 'user', jid: 'alice', reason: 'r' })).json<{ id: string }>();
    expectAccessLogUnavailable(await accessLog.whileDown(() => release(id)));
    expect((await list('?active=true')).json<{ items: { id: string }[] }>().items.map((h) => h.id)).toEqual([id]);
  });

  it.each([
    ['no body', null],
    ['no reason', {}],
    ['an empty reason', { reason: '' }],
    ['a reason of only spaces', { reason: '   ' }],
    ['a reason too long', { reason: 'x'.repeat(2001) }],
  ])('answers 400 to a release with %s, and releases nothing', async (_what, body) => {
    const { id } = (await post({ kind: 'user', jid: 'alice', reason: 'r' })).json<{ id: string }>();
    logged.length = 0;
    const res = await release(id, OFFICER, body);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await list('?active=true')).json<{ items: { id: string }[] }>().items.map((h) => h.id)).toEqual([id]);
    expect(logged).toEqual([]);
  });

  it('lists newest first in cursor pages, filtered by active', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await post({ kind: 'user', jid: `u${i}`, reason: `r${i}` })).json<{ id: string }>().id);
    await release(ids[2]!);
    const seen: string[] = [];
    let next: string | null = null;
    do {
      const res = await list(`?limit=2${next === null ? '' : `&cursor=${next}`}`);
      expect(res.statusCode).toBe(200);
      const page = res.json<{ items: { id: string }[]; next: string | null }>();
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((h) => h.id));
      next = page.next;
    } while (next !== null);
    expect(seen).toEqual([...ids].reverse());
    const ids_ = async (q: string) => (await list(q)).json<{ items: { id: string }[] }>().items.map((h) => h.id);
    expect(await ids_('?active=true')).toEqual([ids[4], ids[3], ids[1], ids[0]]);
    expect(await ids_('?active=false')).toEqual([ids[2]]);
    expect((await list('?active=false')).json<{ items: unknown[] }>().items[0]).toMatchObject({ releasedBy: 'officer-tester' });
  });

  it.each(['?limit=0', '?limit=501', '?limit=x', '?active=maybe', '?cursor=abc', '?cursor='])('answers 400 to %s', async (q) => {
    const res = await list(q);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
