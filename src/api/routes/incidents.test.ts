// /api/v1/incidents over the real incident store: incidents opened by the ArchiveWriter as in
// production, reviewed and decided through the API by officers, with a fake `deliver` and the
// real, hash-chained access log (what it holds is read back after each request). "The access log
// is down" is a real failure too: a trigger that makes every insert into access_log fail.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { archiveEntry } from '../../../test/support/archive.ts';
import { fakeApiDeps, principalFor } from '../../../test/support/fake-auth.ts';
import { createAccessLogStore, type AccessLogRecord, type AccessLogStore } from '../../audit/access-log.ts';
import type { RuleMatch, Verdict } from '../../audit/archive-record.ts';
import { ensureArchivePartitions } from '../../audit/archive-partitions.ts';
import { ArchiveWriter } from '../../audit/archive-writer.ts';
import { createHeldMessages } from '../../audit/held-messages.ts';
import { createIncidentStore, type IncidentStore } from '../../audit/incident-store.ts';
import { silentLogger } from '../../log.ts';
import { NS } from '../../ns.ts';
import { jidToString } from '../../stanza/jid.ts';
import { xml, type Element } from '../../xml.ts';
import { buildApiApp } from '../app.ts';
import type { Principal } from '../principal.ts';
import { MAX_COMMENT_CHARS, incidentsRoutes } from './incidents.ts';

// Two officers (with console accounts), an auditor (account too) and an admin token.
const PRINCIPALS: Record<string, Principal> = {
  'officer-token_0123456789': principalFor('officer', 'olivia'),
  'officer2-token_0123456789': principalFor('officer', 'oscar'),
  'auditor-token_0123456789': principalFor('auditor', 'audrey'),
  'admin-token_0123456789': principalFor('admin', 'adam'),
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const OLIVIA = bearer('officer-token_0123456789');
const OSCAR = bearer('officer2-token_0123456789');
const AUDITOR = bearer('auditor-token_0123456789');
const ADMIN = bearer('admin-token_0123456789');

const deps = fakeApiDeps('example.org', PRINCIPALS);

let db: TestDatabase;
let writer: ArchiveWriter;
let app: FastifyInstance;
let deliveries: Array<{ stanza: Element; to: string }>;
let accessLog: AccessLogStore;
let store: IncidentStore;
/** The newest access-log seq before the current test; logged() shows what came after. */
let mark = 0n;
/** When set, the route's look-up of the incident waits on it (to line concurrent requests up past their checks). */
let gate: (() => Promise<void>) | undefined;

/** Access-log entries written since the test began (or since the last forget()), oldest first. */
async function logged(): Promise<AccessLogRecord[]> {
  return (await accessLog.list({ limit: 500 })).filter((e) => BigInt(e.seq) > mark).reverse();
}
/** From here on, logged() shows only newer entries. */
async function forget(): Promise<void> {
  const [newest] = await accessLog.list({ limit: 1 });
  mark = newest === undefined ? 0n : BigInt(newest.seq);
}

/** Runs `fn` while every insert into access_log fails, as when the log's table cannot be written. */
async function withAccessLogDown<T>(fn: () => Promise<T>): Promise<T> {
  await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
  try {
    return await fn();
  } finally {
    await db.sql`DROP TRIGGER access_log_down ON access_log`;
  }
}

/** A gate that opens once `n` requests are waiting at it. */
function barrier(n: number): () => Promise<void> {
  let waiting = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++waiting >= n) open();
    return opened;
  };
}

beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
  await db.sql`
    INSERT INTO console_accounts (username, role, password_hash, created_by)
    VALUES ('olivia', 'officer', 'x', 'test'), ('oscar', 'officer', 'x', 'test'), ('audrey', 'auditor', 'x', 'test'), ('adam', 'admin', 'x', 'test')`;
  await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'access log down (test)'; END $$`);
  writer = new ArchiveWriter(db.sql, 'incidents-api-test', silentLogger);
  store = createIncidentStore(db.sql);
  const held = createHeldMessages({
    sql: db.sql,
    domain: 'example.org',
    log: silentLogger,
    store,
    sessions: { resourcesOf: () => [] },
    deliver: async (stanza, to) => {
      deliveries.push({ stanza, to: jidToString(to) });
    },
  });
  accessLog = createAccessLogStore(db.sql);
  const gated: IncidentStore = {
    ...store,
    get: async (id) => {
      const incident = await store.get(id);
      await gate?.();
      return incident;
    },
  };
  app = await buildApiApp(deps, { resources: [{ prefix: '/v1/incidents', plugin: incidentsRoutes({ store: gated, held, accessLog, log: silentLogger }) }] });
});
afterAll(async () => {
  await app?.close();
  await writer?.close();
  await db?.close();
});
beforeEach(async () => {
  deliveries = [];
  gate = undefined;
  await forget();
});

interface Archived {
  readonly id: string;
  readonly stanzaId: string;
}

/** Archives one message that `word` (of `body`) made an incident of; returns the incident and stanza id. */
async function archive(
  verdict: Exclude<Verdict, 'allow'>,
  opts: { severity?: RuleMatch['severity']; ruleId?: string; body?: string; word?: string } = {},
): Promise<Archived> {
  const { severity = 'high', ruleId = 'r-secret', word = 'secret' } = opts;
  const body = opts.body ?? `the secret ${randomUUID()}`;
  const start = body.indexOf(word);
  const stanzaId = randomUUID();
  const entry = archiveEntry({
    ts: new Date(),
    stanzaId,
    clientId: 'client-1',
    fromBare: 'alice@example.org',
    toBare: 'bob@example.org',
    body,
    raw: xml('message', { xmlns: NS.client, from: 'alice@example.org/phone', to: 'bob@example.org', type: 'chat', id: 'client-1' }, xml('body', {}, body)).toString(),
    verdict,
    reason: `rule ${ruleId}`,
    matches: [{ ruleId, ruleName: `Rule ${ruleId}`, action: verdict, severity, start, end: start + word.length, match: word }],
    policyVersion: 3,
  });
  return { id: (await writer.append(entry)).incidentId!, stanzaId };
}

type Problem = { type: string; status: number; detail: string };
type Item = { id: string; stanzaId: string; assignee: string | null; excerpt: { text: string; offset: number } | null; matches: Array<{ start: number; end: number }> };
type Page = { items: Item[]; next: string | null };
type Detail = { id: string; status: string; events: Array<{ actor: string; action: string; detail: Record<string, unknown> }>; message: Record<string, unknown> | null };

const get = (url: string, headers = OLIVIA) => app.inject({ method: 'GET', url, headers });
const post = (url: string, payload?: object, headers = OLIVIA) => app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });
const events = async (id: string) => ((await get(`/api/v1/incidents/${id}`)).json() as Detail).events;

describe('who may call the incident routes', () => {
  const routes: Array<[method: 'GET' | 'POST', path: string, payload?: object]> = [
    ['GET', '/api/v1/incidents'],
    ['GET', '/api/v1/incidents/1'],
    ['POST', '/api/v1/incidents/1/assign', { assignee: null }],
    ['POST', '/api/v1/incidents/1/comments', { text: 'hi' }],
    ['POST', '/api/v1/incidents/1/resolve', { disposition: 'true_positive' }],
    ['POST', '/api/v1/incidents/1/reopen'],
    ['POST', '/api/v1/incidents/1/release'],
    ['POST', '/api/v1/incidents/1/reject'],
  ];

  it.each(routes)('%s %s: 401 without credentials', async (method, url, payload) => {
    const res = await app.inject({ method, url, ...(payload && { payload }) });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="warden"');
  });

  it.each(routes.flatMap(([method, url, payload]) => [
    ['auditor', method, url, payload] as const,
    ['admin', method, url, payload] as const,
  ]))('%s: 403 on %s %s, and nothing is logged', async (who, method, url, payload) => {
    const res = await app.inject({ method, url, headers: who === 'auditor' ? AUDITOR : ADMIN, ...(payload && { payload }) });
    expect(res.statusCode).toBe(403);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:forbidden');
    expect(await logged()).toEqual([]);
  });
});

describe('GET /api/v1/incidents', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (const [verdict, severity, ruleId] of [['flag', 'low', 'r-low'], ['block', 'critical', 'r-crit'], ['hold', 'high', 'r-hold']] as const) {
      ids.push((await archive(verdict, { severity, ruleId })).id);
    }
  });

  it('lists newest first, filtered, in pages', async () => {
    const all = (await get('/api/v1/incidents')).json() as { items: Array<{ id: string; severity: string; matches: unknown[] }>; next: string | null };
    expect(all.items.slice(0, 3).map((i) => i.id)).toEqual([...ids].reverse());
    expect(all.items[0]).toMatchObject({ verdict: 'hold', severity: 'high', ruleIds: ['r-hold'], from: 'alice@example.org', to: 'bob@example.org', status: 'open', holdState: 'held' });
    expect(all.items[0]!.matches).toEqual([{ ruleId: 'r-hold', ruleName: 'Rule r-hold', action: 'hold', severity: 'high', start: 4, end: 10, match: 'secret' }]);

    const critical = (await get('/api/v1/incidents?severity=critical&status=open')).json() as Page;
    expect(critical.items.map((i) => i.id)).toEqual([ids[1]]);
    const byRule = (await get('/api/v1/incidents?rule=r-low')).json() as Page;
    expect(byRule.items.map((i) => i.id)).toEqual([ids[0]]);

    const page1 = (await get('/api/v1/incidents?limit=2')).json() as Page;
    expect(page1.items).toHaveLength(2);
    const page2 = (await get(`/api/v1/incidents?limit=2&cursor=${page1.next}`)).json() as Page;
    expect(page2.items[0]!.id).toBe(ids[0]);
  });

  it('records one access-log entry per page: who, the filters, the stanza ids shown', async () => {
    const page = (await get('/api/v1/incidents?severity=critical&limit=5')).json() as Page;
    const entries = await logged();
    expect(entries).toHaveLength(1);
    // tokenId: the officer's bearer token (principalFor gives token 1).
    expect(entries[0]).toMatchObject({ action: 'incident.list', actor: 'olivia', role: 'officer', via: 'token', tokenId: '1', query: { severity: 'critical', limit: 5 } });
    expect(entries[0]!.messageIds).toEqual(page.items.map((i) => i.stanzaId));
    expect(entries[0]!.messageIds.length).toBeGreaterThan(0);
    expect(typeof entries[0]!.ip).toBe('string');
  });

  it('shows the body around the first match, with an offset that places the highlight', async () => {
    const filler = '这是一条很长的消息，'.repeat(10); // 100 characters of Chinese before the hit
    const body = `${filler}密码是 🔑🔑 hunter2 👨‍👩‍👧 ${filler}`;
    const { id } = await archive('flag', { body, word: '🔑🔑 hunter2', ruleId: 'r-excerpt' });
    const page = (await get('/api/v1/incidents?rule=r-excerpt')).json() as Page;
    const item = page.items.find((i) => i.id === id)!;
    const excerpt = item.excerpt!;
    const m = item.matches[0]!;
    // The match is highlighted at match.start - offset, and the body really holds the text there.
    expect(excerpt.text.slice(m.start - excerpt.offset, m.end - excerpt.offset)).toBe('🔑🔑 hunter2');
    expect(body.slice(excerpt.offset, excerpt.offset + excerpt.text.length)).toBe(excerpt.text);
    // 60 characters each side of a body that has far more, cut on character boundaries.
    expect(excerpt.offset).toBe(m.start - 60);
    expect(/\p{Cs}/u.test(excerpt.text)).toBe(false);
    expect(excerpt.text).toContain('👨‍👩‍👧');
    expect(excerpt.text.length).toBeLessThan(body.length);
  });

  it('gives a null excerpt when the archived message is gone', async () => {
    const { id, stanzaId } = await archive('flag', { ruleId: 'r-gone' });
    await db.sql`DELETE FROM archive WHERE stanza_id = ${stanzaId}`;
    const page = (await get('/api/v1/incidents?rule=r-gone')).json() as Page;
    expect(page.items.map((i) => [i.id, i.excerpt])).toEqual([[id, null]]);
  });

  it('filters by assignee (an officer, or none) and pages through the filtered list', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await archive('flag', { ruleId: 'r-assignee' });
      if (i !== 2) {
        expect((await post(`/api/v1/incidents/${id}/assign`, { assignee: 'oscar' })).statusCode).toBe(200);
        mine.push(id);
      }
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let n = 0; n < 5; n++) {
      const page: Page = (await get(`/api/v1/incidents?assignee=oscar&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)).json();
      expect(page.items.every((i) => i.assignee === 'oscar')).toBe(true);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next;
      if (cursor === null) break;
    }
    expect(seen).toEqual([...mine].reverse());
    const unassigned = (await get('/api/v1/incidents?unassigned=true&rule=r-assignee')).json() as Page;
    expect(unassigned.items).toHaveLength(1);
    expect(unassigned.items[0]!.assignee).toBeNull();
    const assigned = (await get('/api/v1/incidents?unassigned=false&rule=r-assignee')).json() as Page;
    expect(assigned.items.map((i) => i.id)).toEqual([...mine].reverse());
    expect((await get('/api/v1/incidents?assignee=nobody-at-all')).json()).toEqual({ items: [], next: null });
  });

  it('filters by an officer whose account is named "none" like any other', async () => {
    await db.sql`INSERT INTO console_accounts (username, role, password_hash, created_by) VALUES ('none', 'officer', 'x', 'test')`;
    const { id } = await archive('flag', { ruleId: 'r-none' });
    await archive('flag', { ruleId: 'r-none' });
    expect((await post(`/api/v1/incidents/${id}/assign`, { assignee: 'none' })).statusCode).toBe(200);
    const page = (await get('/api/v1/incidents?assignee=none&rule=r-none')).json() as Page;
    expect(page.items.map((i) => [i.id, i.assignee])).toEqual([[id, 'none']]);
  });

  it('refuses assignee together with unassigned=true, and logs nothing', async () => {
    const res = await get('/api/v1/incidents?assignee=oscar&unassigned=true');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.json() as Problem).detail).toMatch(/contradict/);
    expect(await logged()).toEqual([]);
  });

  it('answers a cursor it did not hand out with the invalid-cursor problem every list uses', async () => {
    for (const cursor of ['zzz', '0', '99999999999999999999']) {
      const res = await get(`/api/v1/incidents?cursor=${cursor}`);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ type: 'urn:warden:problem:invalid-cursor', title: 'Invalid cursor', detail: expect.stringMatching(/^cursor: /) });
    }
  });

  it.each(['severity=huge', 'status=closed', 'limit=0', 'limit=501', 'cursor=zzz', 'assignee=', `assignee=${'a'.repeat(65)}`, 'unassigned=maybe'])(
    'answers 400 problem+json for %s, and logs nothing',
    async (query) => {
      const res = await get(`/api/v1/incidents?${query}`);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(await logged()).toEqual([]);
    },
  );
});

describe('GET /api/v1/incidents/:id', () => {
  it('shows the incident with its archived message and its events, and logs the read', async () => {
    const { id, stanzaId } = await archive('flag');
    const res = await get(`/api/v1/incidents/${id}`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as Detail;
    expect(body.id).toBe(id);
    expect(body.message).toMatchObject({ from: 'alice@example.org/phone', to: 'bob@example.org', verdict: 'flag', type: 'chat', reason: 'rule r-secret' });
    expect(String(body.message!.body)).toMatch(/^the secret /);
    expect(body.events).toEqual([]);
    expect(await logged()).toMatchObject([{ action: 'incident.read', actor: 'olivia', query: { incident: id }, messageIds: [stanzaId] }]);
  });

  it.each(['999999999', 'abc', '99999999999999999999'])('answers 404 for the unknown incident %s, and logs nothing', async (id) => {
    const res = await get(`/api/v1/incidents/${id}`);
    expect(res.statusCode).toBe(404);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:incident-not-found');
    expect(await logged()).toEqual([]);
  });

  it('does not answer a read the access log cannot record: 503 problem with Retry-After, no content', async () => {
    const { id } = await archive('flag');
    await withAccessLogDown(async () => {
      for (const url of [`/api/v1/incidents/${id}`, '/api/v1/incidents']) {
        const res = await get(url);
        expect(res.statusCode).toBe(503);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['retry-after']).toBe('30');
        expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable', status: 503, detail: expect.stringMatching(/access log is unavailable/) });
        expect(res.body).not.toContain('secret');
      }
    });
    expect(await logged()).toEqual([]);
  });
});

describe('an action the access log cannot record is not carried out', () => {
  const actions: Array<[name: string, verdict: 'flag' | 'hold', path: string, payload?: object]> = [
    ['assign', 'flag', 'assign', { assignee: 'oscar' }],
    ['comment', 'flag', 'comments', { text: 'looks fine' }],
    ['resolve', 'flag', 'resolve', { disposition: 'false_positive', note: 'a film quote' }],
    ['release', 'hold', 'release'],
    ['reject', 'hold', 'reject', { note: 'no' }],
  ];

  it.each(actions)('%s: 503, and the incident, its events and the chat are as before', async (_name, verdict, path, payload) => {
    const { id } = await archive(verdict);
    const before = (await get(`/api/v1/incidents/${id}`)).json() as Detail;
    await forget();
    const res = await withAccessLogDown(() => post(`/api/v1/incidents/${id}/${path}`, payload));
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
    expect(deliveries).toEqual([]);
    const after = (await get(`/api/v1/incidents/${id}`)).json() as Detail;
    expect(after).toEqual(before);
    expect((await logged()).map((e) => e.action)).toEqual(['incident.read']);
  });

  it('reopen: 503, and the incident stays resolved', async () => {
    const { id } = await archive('flag');
    expect((await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'escalated' })).statusCode).toBe(200);
    const res = await withAccessLogDown(() => post(`/api/v1/incidents/${id}/reopen`));
    expect(res.statusCode).toBe(503);
    expect((await get(`/api/v1/incidents/${id}`)).json()).toMatchObject({ status: 'resolved', disposition: 'escalated' });
    expect((await events(id)).map((e) => e.action)).toEqual(['resolve']);
  });

  it('goes ahead once the log can be written again, and the chain verifies', async () => {
    const { id } = await archive('hold');
    expect((await withAccessLogDown(() => post(`/api/v1/incidents/${id}/release`))).statusCode).toBe(503);
    expect((await post(`/api/v1/incidents/${id}/release`)).statusCode).toBe(200);
    expect(deliveries).toHaveLength(1);
    expect((await logged()).map((e) => e.action)).toEqual(['hold.release']);
    expect(await accessLog.verify()).toMatchObject({ ok: true });
  });
});

describe('POST /api/v1/incidents/:id/assign', () => {
  it('assigns to an officer and back to nobody, with events and access-log entries', async () => {
    const { id, stanzaId } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/assign`, { assignee: 'oscar' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, assignee: 'oscar', status: 'open' });
    expect(await logged()).toMatchObject([{ action: 'incident.assign', actor: 'olivia', messageIds: [stanzaId], detail: { assignee: 'oscar' } }]);

    const back = await post(`/api/v1/incidents/${id}/assign`, { assignee: null }, OSCAR);
    expect(back.statusCode).toBe(200);
    expect(back.json()).toMatchObject({ id, assignee: null });
    expect((await logged())[1]).toMatchObject({ action: 'incident.assign', actor: 'oscar', detail: { assignee: null } });
    expect((await events(id)).map((e) => [e.actor, e.action, e.detail])).toEqual([
      ['olivia', 'assign', { assignee: 'oscar', previous: null }],
      ['oscar', 'assign', { assignee: null, previous: 'oscar' }],
    ]);
  });

  it.each(['audrey', 'adam', 'nobody'])('answers 400 for %s, who is not an officer, and changes nothing', async (name) => {
    const { id } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/assign`, { assignee: name });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:no-such-officer' });
    expect((res.json() as Problem).detail).toContain(name);
    expect(await logged()).toEqual([]);
    expect(await events(id)).toEqual([]);
  });

  it.each<[string, object | undefined]>([
    ['no body', undefined],
    ['no assignee', {}],
    ['an empty name', { assignee: '' }],
    ['a name too long', { assignee: 'o'.repeat(65) }],
  ])('answers 400 for %s', async (_name, payload) => {
    const { id } = await archive('flag');
    expect((await post(`/api/v1/incidents/${id}/assign`, payload)).statusCode).toBe(400);
  });

  it('answers 404 for an unknown incident', async () => {
    expect((await post('/api/v1/incidents/777777777/assign', { assignee: 'oscar' })).statusCode).toBe(404);
    expect(await logged()).toEqual([]);
  });
});

describe('POST /api/v1/incidents/:id/comments', () => {
  it('adds a comment event (201) and logs that one was made', async () => {
    const { id, stanzaId } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/comments`, { text: '看起来是误报 👍' });
    expect(res.statusCode).toBe(201);
    const event = res.json() as { id: string; at: string; actor: string; action: string; detail: unknown };
    expect(event).toMatchObject({ actor: 'olivia', action: 'comment', detail: { text: '看起来是误报 👍' } });
    expect(new Date(event.at).toISOString()).toBe(event.at);
    expect(await events(id)).toMatchObject([{ id: event.id, actor: 'olivia', action: 'comment', detail: { text: '看起来是误报 👍' } }]);
    // The first entry; events() above read the incident, which is logged too.
    expect((await logged())[0]).toMatchObject({ action: 'incident.comment', messageIds: [stanzaId], query: { incident: id }, detail: { chars: 8 } });
  });

  it(`takes ${MAX_COMMENT_CHARS} characters, counting an emoji as one`, async () => {
    const { id } = await archive('flag');
    expect((await post(`/api/v1/incidents/${id}/comments`, { text: '😀'.repeat(MAX_COMMENT_CHARS) })).statusCode).toBe(201);
  });

  it.each<[string, object | undefined]>([
    ['no body', undefined],
    ['no text', {}],
    ['empty text', { text: '' }],
    ['only whitespace', { text: ' \n\t ' }],
    ['one character too many', { text: 'x'.repeat(MAX_COMMENT_CHARS + 1) }],
  ])('answers 400 for %s, and adds nothing', async (_name, payload) => {
    const { id } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/comments`, payload);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await events(id)).toEqual([]);
  });

  it('answers 404 for an unknown incident', async () => {
    expect((await post('/api/v1/incidents/777777777/comments', { text: 'hello' })).statusCode).toBe(404);
    expect(await logged()).toEqual([]);
  });
});

describe('POST /api/v1/incidents/:id/resolve and /reopen', () => {
  it('resolves with a disposition and a note, then refuses a second resolve naming who and when', async () => {
    const { id, stanzaId } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'false_positive', note: 'a quote from a film' });
    expect(res.statusCode).toBe(200);
    const incident = res.json() as { status: string; disposition: string; resolvedAt: string };
    expect(incident).toMatchObject({ id, status: 'resolved', disposition: 'false_positive' });
    expect(Date.now() - Date.parse(incident.resolvedAt)).toBeLessThan(60_000);
    expect(await logged()).toMatchObject([{ action: 'incident.resolve', actor: 'olivia', messageIds: [stanzaId], detail: { disposition: 'false_positive' } }]);
    expect(await events(id)).toMatchObject([{ actor: 'olivia', action: 'resolve', detail: { disposition: 'false_positive', note: 'a quote from a film' } }]);

    await forget();
    const again = await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'true_positive' }, OSCAR);
    expect(again.statusCode).toBe(409);
    const problem = again.json() as Problem;
    expect(problem.type).toBe('urn:warden:problem:incident-already-resolved');
    expect(problem.detail).toContain('by olivia');
    expect(problem.detail).toContain(incident.resolvedAt);
    expect(await logged()).toEqual([]);
    expect((await get(`/api/v1/incidents/${id}`)).json()).toMatchObject({ disposition: 'false_positive' });
  });

  it('lets one of two simultaneous resolves win, answers the other 409, and logs only the one that took effect', async () => {
    const { id } = await archive('flag');
    // Both pass the route's checks (the incident is open) before either reaches the database.
    gate = barrier(2);
    const results = await Promise.all([
      post(`/api/v1/incidents/${id}/resolve`, { disposition: 'true_positive' }, OLIVIA),
      post(`/api/v1/incidents/${id}/resolve`, { disposition: 'false_positive' }, OSCAR),
    ]);
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.statusCode === 409)!.json() as Problem;
    expect(loser.type).toBe('urn:warden:problem:incident-already-resolved');
    const winner = results.find((r) => r.statusCode === 200)!.json() as { disposition: string };
    const resolves = (await events(id)).filter((e) => e.action === 'resolve');
    expect(resolves).toHaveLength(1);
    expect(resolves[0]!.detail.disposition).toBe(winner.disposition);
    const entries = (await logged()).filter((e) => e.action === 'incident.resolve');
    expect(entries.map((e) => [e.actor, e.detail.disposition])).toEqual([[resolves[0]!.actor, winner.disposition]]);
  });

  it('refuses to resolve a message still held, and resolves it once released', async () => {
    const { id } = await archive('hold');
    const res = await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'true_positive' });
    expect(res.statusCode).toBe(409);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:incident-still-held');
    expect((res.json() as Problem).detail).toMatch(/release or reject/);
    expect(await logged()).toEqual([]);
    expect((await post(`/api/v1/incidents/${id}/reject`)).statusCode).toBe(200);
    expect((await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'true_positive' })).statusCode).toBe(200);
  });

  it('reopens a resolved incident (disposition cleared), and refuses to reopen an open one', async () => {
    const { id, stanzaId } = await archive('flag');
    const open = await post(`/api/v1/incidents/${id}/reopen`);
    expect(open.statusCode).toBe(409);
    expect((open.json() as Problem).type).toBe('urn:warden:problem:incident-not-resolved');

    await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'escalated' });
    await forget();
    const res = await post(`/api/v1/incidents/${id}/reopen`, undefined, OSCAR);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, status: 'open', disposition: null, resolvedAt: null });
    expect(await logged()).toMatchObject([{ action: 'incident.reopen', actor: 'oscar', messageIds: [stanzaId] }]);
    expect((await events(id)).map((e) => [e.actor, e.action, e.detail])).toEqual([
      ['olivia', 'resolve', { disposition: 'escalated' }],
      ['oscar', 'reopen', { previousDisposition: 'escalated' }],
    ]);
    // And it can be resolved again.
    expect((await post(`/api/v1/incidents/${id}/resolve`, { disposition: 'true_positive' })).json()).toMatchObject({ disposition: 'true_positive' });
  });

  it.each<[string, object | undefined]>([
    ['no body', undefined],
    ['no disposition', { note: 'x' }],
    ['an unknown disposition', { disposition: 'maybe' }],
    ['a note too long', { disposition: 'escalated', note: 'n'.repeat(2001) }],
  ])('answers 400 for %s', async (_name, payload) => {
    const { id } = await archive('flag');
    const res = await post(`/api/v1/incidents/${id}/resolve`, payload);
    expect(res.statusCode).toBe(400);
    expect((await get(`/api/v1/incidents/${id}`)).json()).toMatchObject({ status: 'open' });
  });

  it('answers 404 for unknown incidents', async () => {
    expect((await post('/api/v1/incidents/777777777/resolve', { disposition: 'escalated' })).statusCode).toBe(404);
    expect((await post('/api/v1/incidents/777777777/reopen')).statusCode).toBe(404);
    expect(await logged()).toEqual([]);
  });
});

describe('POST /api/v1/incidents/:id/release and /reject', () => {
  it('releases a held message: 200 with the updated incident, delivered once, recorded with the officer', async () => {
    const { id, stanzaId } = await archive('hold');
    const res = await post(`/api/v1/incidents/${id}/release`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, holdState: 'released', holdDecidedBy: 'olivia' });
    expect(deliveries.map((d) => d.to)).toEqual(['bob@example.org']);
    expect(deliveries[0]!.stanza.getChild('delay', NS.delay)).toBeDefined();
    expect(await logged()).toMatchObject([{ action: 'hold.release', actor: 'olivia', messageIds: [stanzaId], query: { incident: id } }]);

    await forget();
    const again = await post(`/api/v1/incidents/${id}/release`, undefined, OSCAR);
    expect(again.statusCode).toBe(409);
    expect((again.json() as Problem).type).toBe('urn:warden:problem:incident-already-decided');
    expect((again.json() as Problem).detail).toContain('by olivia');
    expect(deliveries).toHaveLength(1);
    expect(await logged()).toEqual([]);

    expect((await events(id)).map((e) => [e.actor, e.action])).toEqual([
      ['olivia', 'released'],
      ['system', 'delivered'],
    ]);
  });

  it('rejects a held message with an optional note, and never delivers it', async () => {
    const { id, stanzaId } = await archive('hold');
    const res = await post(`/api/v1/incidents/${id}/reject`, { note: 'contains a card number' }, OSCAR);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, holdState: 'rejected', holdDecidedBy: 'oscar' });
    // The sender is offline here: a stored notice to their bare JID, nothing to the recipient.
    expect(deliveries.map((d) => d.to)).toEqual(['alice@example.org']);
    expect(await logged()).toMatchObject([{ action: 'hold.reject', actor: 'oscar', messageIds: [stanzaId] }]);
    expect((await events(id))[0]).toMatchObject({ actor: 'oscar', action: 'rejected', detail: { note: 'contains a card number' } });
  });

  it('answers 409 for an incident that is not a held message, 404 for none', async () => {
    const { id } = await archive('block');
    const res = await post(`/api/v1/incidents/${id}/reject`);
    expect(res.statusCode).toBe(409);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:incident-not-held');
    expect((await post('/api/v1/incidents/888888888/release')).statusCode).toBe(404);
    expect((await post('/api/v1/incidents/x/release')).statusCode).toBe(404);
    expect(deliveries).toEqual([]);
    expect(await logged()).toEqual([]);
  });

  it('lets one of two simultaneous decisions win, answers the other 409, and logs only the one that took effect', async () => {
    const { id, stanzaId } = await archive('hold');
    gate = barrier(2);
    const codes = (await Promise.all([post(`/api/v1/incidents/${id}/release`), post(`/api/v1/incidents/${id}/reject`, undefined, OSCAR)])).map((r) => r.statusCode);
    expect(codes.sort()).toEqual([200, 409]);
    expect(deliveries).toHaveLength(1);
    const decided = (await get(`/api/v1/incidents/${id}`)).json() as { holdState: string; holdDecidedBy: string };
    const entries = (await logged()).filter((e) => e.action.startsWith('hold.'));
    expect(entries.map((e) => [e.action, e.actor, e.messageIds])).toEqual([
      [decided.holdState === 'released' ? 'hold.release' : 'hold.reject', decided.holdDecidedBy, [stanzaId]],
    ]);
  });

  it('logs nothing for two officers releasing at once but the release that delivered', async () => {
    const { id } = await archive('hold');
    gate = barrier(2);
    const codes = (await Promise.all([post(`/api/v1/incidents/${id}/release`), post(`/api/v1/incidents/${id}/release`, undefined, OSCAR)])).map((r) => r.statusCode);
    expect(codes.sort()).toEqual([200, 409]);
    expect(deliveries).toHaveLength(1);
    expect((await logged()).filter((e) => e.action === 'hold.release')).toHaveLength(1);
  });
});
