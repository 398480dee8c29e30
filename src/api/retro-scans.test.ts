// /api/v1/retro-scans through the real app on a real database, with a RetroScanner doing the work
// and the real access log recording who started and cancelled which job.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import { createAccessLogStore, type AccessLogStore } from '../audit/access-log.ts';
import type { ArchiveEntry } from '../audit/archive-record.ts';
import { RetroScanner } from '../audit/retro-scan.ts';
import { silentLogger } from '../log.ts';
import { buildApiApp } from './app.ts';
import { retroScansRoutes } from './routes/retro-scans.ts';

const TOKEN = 'test-admin-token_0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const deps = fakeApiDeps('example.org', { [TOKEN]: 'officer' });

const BASE = Date.parse('2024-03-01T00:00:00Z');
const entry = (i: number): ArchiveEntry =>
  archiveEntry({
    ts: new Date(BASE + i * 1000),
    stanzaId: `r-${i}`,
    fromJid: 'alice@example.org/a',
    fromBare: 'alice@example.org',
    toBare: 'bob@example.org',
    body: i % 4 === 0 ? `机密文件 ${i}` : `hello ${i}`,
  });

let db: TestDatabase;
let app: FastifyInstance;
let scanner: RetroScanner;
let accessLog: AccessLogStore;

async function withAccessLogDown<T>(fn: () => Promise<T>): Promise<T> {
  await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
  try {
    return await fn();
  } finally {
    await db.sql`DROP TRIGGER access_log_down ON access_log`;
  }
}
const jobCount = async () => Number((await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM retro_scans`)[0]!.n);

beforeAll(async () => {
  db = await openArchiveDatabase({ chain: 'node-1', partitionsFrom: new Date(BASE), entries: Array.from({ length: 40 }, (_, i) => entry(i + 1)) });
  await db.sql`INSERT INTO rules (id, name, type, keywords, action, severity) VALUES ('secret', 'secrets', 'keywords', ${['机密']}, 'flag', 'medium')`;
  scanner = new RetroScanner({ sql: db.sql, log: silentLogger, pollMs: 60_000, batchSize: 8 });
  scanner.start();
  await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'access log down (test)'; END $$`);
  accessLog = createAccessLogStore(db.sql);
  app = await buildApiApp(deps, {
    resources: [{ prefix: '/v1/retro-scans', plugin: retroScansRoutes({ sql: db.sql, accessLog, onQueued: () => scanner.wake() }) }],
  });
});
afterAll(async () => {
  await scanner?.stop();
  await app?.close();
  await db?.close();
});

async function waitFor(id: string, status: string) {
  for (let i = 0; i < 400; i++) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/retro-scans/${id}`, headers: auth });
    const job = res.json() as { status: string };
    if (job.status === status) return res;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`retro-scan ${id} never became ${status}`);
}

describe('/api/v1/retro-scans', () => {
  it('needs the admin token', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/v1/retro-scans', payload: { ruleId: 'secret' } })).statusCode).toBe(401);
  });

  it('queues a job with 202, and the scanner (woken at once, not at its next poll) runs it to done', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/retro-scans',
      headers: auth,
      payload: { ruleId: 'secret', since: new Date(BASE + 5000).toISOString(), until: new Date(BASE + 30_000).toISOString() },
    });
    expect(res.statusCode).toBe(202);
    const { id, status } = res.json() as { id: string; status: string };
    expect(status).toBe('queued');
    expect(res.headers.location).toBe(`/api/v1/retro-scans/${id}`);

    const done = (await waitFor(id, 'done')).json() as Record<string, unknown>;
    // Messages 5..29; every 4th mentions 机密: 8, 12, 16, 20, 24, 28.
    expect(done).toEqual({
      id,
      ruleId: 'secret',
      status: 'done',
      since: new Date(BASE + 5000).toISOString(),
      until: new Date(BASE + 30_000).toISOString(),
      total: 25,
      scanned: 25,
      hits: 6,
      startedAt: expect.stringMatching(/^\d{4}-/),
      finishedAt: expect.stringMatching(/^\d{4}-/),
      error: null,
    });
    const [n] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM incidents WHERE source = 'retro-scan' AND rule_ids = '{secret}'`;
    expect(Number(n?.n)).toBe(6);

    const [started] = await accessLog.list({ limit: 1, action: 'retro-scan.start' });
    expect(started).toMatchObject({
      actor: 'officer-tester',
      role: 'officer',
      query: { ruleId: 'secret', since: new Date(BASE + 5000).toISOString(), until: new Date(BASE + 30_000).toISOString() },
      detail: { job: id },
    });
  });

  it('starts and cancels nothing when the access log cannot record it: 503, no job queued or cancelled', async () => {
    const before = await jobCount();
    const res = await withAccessLogDown(() => app.inject({ method: 'POST', url: '/api/v1/retro-scans', headers: auth, payload: { ruleId: 'secret' } }));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
    expect(await jobCount()).toBe(before);

    await scanner.stop(); // so the job stays queued
    try {
      const { id } = (await app.inject({ method: 'POST', url: '/api/v1/retro-scans', headers: auth, payload: { ruleId: 'secret' } })).json() as { id: string };
      const cancel = await withAccessLogDown(() => app.inject({ method: 'POST', url: `/api/v1/retro-scans/${id}/cancel`, headers: auth }));
      expect(cancel.statusCode).toBe(503);
      expect((await app.inject({ method: 'GET', url: `/api/v1/retro-scans/${id}`, headers: auth })).json()).toMatchObject({ status: 'queued' });
      expect((await app.inject({ method: 'POST', url: `/api/v1/retro-scans/${id}/cancel`, headers: auth })).json()).toMatchObject({ status: 'cancelled' });
    } finally {
      scanner.start();
    }
  });

  it('records starts in the access log over its database when none is handed in', async () => {
    const plain = await buildApiApp(deps, { resources: [{ prefix: '/v1/retro-scans', plugin: retroScansRoutes({ sql: db.sql }) }] });
    try {
      const res = await plain.inject({ method: 'POST', url: '/api/v1/retro-scans', headers: auth, payload: { ruleId: 'secret', until: new Date(BASE).toISOString() } });
      expect(res.statusCode).toBe(202);
      const [newest] = await accessLog.list({ limit: 1 });
      expect(newest).toMatchObject({ action: 'retro-scan.start', detail: { job: (res.json() as { id: string }).id } });
    } finally {
      await plain.close();
    }
  });

  it('cancels a job', async () => {
    await scanner.stop(); // so the job stays queued
    const { id } = (await app.inject({ method: 'POST', url: '/api/v1/retro-scans', headers: auth, payload: { ruleId: 'secret' } })).json() as { id: string };
    const res = await app.inject({ method: 'POST', url: `/api/v1/retro-scans/${id}/cancel`, headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'cancelled', scanned: 0 });
    const [cancelled] = await accessLog.list({ limit: 1 });
    expect(cancelled).toMatchObject({ action: 'retro-scan.cancel', query: { job: id }, detail: { ruleId: 'secret' } });
    // Cancelling it again changes nothing, and is not logged again.
    expect((await app.inject({ method: 'POST', url: `/api/v1/retro-scans/${id}/cancel`, headers: auth })).json()).toMatchObject({ status: 'cancelled' });
    expect((await accessLog.list({ limit: 1 }))[0]!.seq).toBe(cancelled!.seq);
    scanner.start();
  });

  it.each([
    [{ ruleId: 'nope' }, 404, /no rule "nope"/],
    [{}, 400, /ruleId/],
    [{ ruleId: 'secret', since: 'last week' }, 400, /since/],
    [{ ruleId: 'secret', since: '2024-03-02T00:00:00Z', until: '2024-03-01T00:00:00Z' }, 400, /since must be before until/],
  ])('refuses %j', async (payload, status, detail) => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/retro-scans', headers: auth, payload });
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.json() as { detail: string }).detail).toMatch(detail);
  });

  it('answers 404 for an unknown job and 400 for a malformed id', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/retro-scans/999999', headers: auth })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/v1/retro-scans/abc', headers: auth })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/api/v1/retro-scans/999999/cancel', headers: auth })).statusCode).toBe(404);
  });
});
