// /api/v1/incidents over the real incident store: incidents opened by the ArchiveWriter as in
// production, held messages released and rejected through the API, with a fake `deliver`.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.ts';
import type { ArchiveEntry, Verdict } from '../../audit/archive-record.ts';
import { ensureArchivePartitions } from '../../audit/archive-partitions.ts';
import { ArchiveWriter } from '../../audit/archive-writer.ts';
import { createHeldMessages } from '../../audit/held-messages.ts';
import { createIncidentStore } from '../../audit/incident-store.ts';
import { silentLogger } from '../../log.ts';
import { NS } from '../../ns.ts';
import { jidToString } from '../../stanza/jid.ts';
import { createUserStore } from '../../storage/user-store.ts';
import { xml, type Element } from '../../xml.ts';
import { buildApiApp } from '../app.ts';
import { incidentsRoutes } from './incidents.ts';

const TOKEN = 'incidents-test-token_0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

let db: TestDatabase;
let writer: ArchiveWriter;
let app: FastifyInstance;
let deliveries: Array<{ stanza: Element; to: string }>;

beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
  writer = new ArchiveWriter(db.sql, 'incidents-api-test', silentLogger);
  const store = createIncidentStore(db.sql);
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
  app = await buildApiApp(
    {
      domain: 'example.org',
      users: createUserStore(db.sql),
      adminTokens: { verify: async (t) => t === TOKEN },
      sessions: { list: () => [], kick: () => false, kickUser: () => 0 },
      normalizeLocalpart: (raw) => raw,
      deriveCredentials: () => [],
    },
    { resources: [{ prefix: '/v1/incidents', plugin: incidentsRoutes({ store, held, log: silentLogger }) }] },
  );
});
afterAll(async () => {
  await app?.close();
  await writer?.close();
  await db?.close();
});
beforeEach(() => {
  deliveries = [];
});

async function archive(verdict: Exclude<Verdict, 'allow'>, severity: 'low' | 'high' | 'critical' = 'high', ruleId = 'r-secret'): Promise<string> {
  const body = `the secret ${randomUUID()}`;
  const entry: ArchiveEntry = {
    ts: new Date(),
    stanzaId: randomUUID(),
    originId: null,
    clientId: 'client-1',
    fromJid: 'alice@example.org/phone',
    toJid: 'bob@example.org',
    fromBare: 'alice@example.org',
    toBare: 'bob@example.org',
    type: 'chat',
    thread: null,
    body,
    redactedBody: null,
    raw: xml('message', { xmlns: NS.client, from: 'alice@example.org/phone', to: 'bob@example.org', type: 'chat', id: 'client-1' }, xml('body', {}, body)).toString(),
    direction: 'internal',
    verdict,
    reason: `rule ${ruleId}`,
    matches: [{ ruleId, ruleName: `Rule ${ruleId}`, action: verdict, severity, start: 4, end: 10, match: 'secret' }],
    policyVersion: 3,
  };
  return (await writer.append(entry)).incidentId!;
}

type Problem = { type: string; status: number; detail: string };
const get = (url: string) => app.inject({ method: 'GET', url, headers: auth });
const post = (url: string, payload?: object) => app.inject({ method: 'POST', url, headers: auth, ...(payload === undefined ? {} : { payload }) });

describe('GET /api/v1/incidents', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    ids.push(await archive('flag', 'low', 'r-low'), await archive('block', 'critical', 'r-crit'), await archive('hold', 'high', 'r-hold'));
  });

  it('needs the admin token', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/incidents' })).statusCode).toBe(401);
  });

  it('lists newest first, filtered, in pages', async () => {
    const all = (await get('/api/v1/incidents')).json() as { items: Array<{ id: string; severity: string; matches: unknown[] }>; next: string | null };
    expect(all.items.slice(0, 3).map((i) => i.id)).toEqual([...ids].reverse());
    expect(all.items[0]).toMatchObject({ verdict: 'hold', severity: 'high', ruleIds: ['r-hold'], from: 'alice@example.org', to: 'bob@example.org', status: 'open', holdState: 'held' });
    expect(all.items[0]!.matches).toEqual([{ ruleId: 'r-hold', ruleName: 'Rule r-hold', action: 'hold', severity: 'high', start: 4, end: 10, match: 'secret' }]);

    const critical = (await get('/api/v1/incidents?severity=critical&status=open')).json() as { items: Array<{ id: string }> };
    expect(critical.items.map((i) => i.id)).toEqual([ids[1]]);
    const byRule = (await get('/api/v1/incidents?rule=r-low')).json() as { items: Array<{ id: string }> };
    expect(byRule.items.map((i) => i.id)).toEqual([ids[0]]);

    const page1 = (await get('/api/v1/incidents?limit=2')).json() as { items: Array<{ id: string }>; next: string };
    expect(page1.items).toHaveLength(2);
    const page2 = (await get(`/api/v1/incidents?limit=2&cursor=${page1.next}`)).json() as { items: Array<{ id: string }>; next: string | null };
    expect(page2.items[0]!.id).toBe(ids[0]);
  });

  it.each(['severity=huge', 'status=closed', 'limit=0', 'limit=501', 'cursor=zzz'])('answers 400 problem+json for %s', async (query) => {
    const res = await get(`/api/v1/incidents?${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});

describe('GET /api/v1/incidents/:id', () => {
  it('shows the incident with its archived message and its events', async () => {
    const id = await archive('flag');
    const res = await get(`/api/v1/incidents/${id}`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { id: string; message: Record<string, unknown>; events: unknown[] };
    expect(body.id).toBe(id);
    expect(body.message).toMatchObject({ from: 'alice@example.org/phone', to: 'bob@example.org', verdict: 'flag', type: 'chat', reason: 'rule r-secret' });
    expect(String(body.message.body)).toMatch(/^the secret /);
    expect(new Date(String(body.message.ts)).toISOString()).toBe(body.message.ts);
    expect(body.message.matches).toHaveLength(1);
    expect(body.events).toEqual([]);
  });

  it.each(['999999999', 'abc', '99999999999999999999'])('answers 404 for the unknown incident %s', async (id) => {
    const res = await get(`/api/v1/incidents/${id}`);
    expect(res.statusCode).toBe(404);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:incident-not-found');
  });
});

describe('POST /api/v1/incidents/:id/release and /reject', () => {
  it('releases a held message: 200 with the updated incident, delivered once, recorded as admin', async () => {
    const id = await archive('hold');
    const res = await post(`/api/v1/incidents/${id}/release`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, holdState: 'released', holdDecidedBy: 'admin' });
    expect(deliveries.map((d) => d.to)).toEqual(['bob@example.org']);
    expect(deliveries[0]!.stanza.getChild('delay', NS.delay)).toBeDefined();

    const again = await post(`/api/v1/incidents/${id}/release`);
    expect(again.statusCode).toBe(409);
    expect((again.json() as Problem).type).toBe('urn:warden:problem:incident-already-decided');
    expect(deliveries).toHaveLength(1);

    const detail = (await get(`/api/v1/incidents/${id}`)).json() as { events: Array<{ actor: string; action: string }> };
    expect(detail.events.map((e) => [e.actor, e.action])).toEqual([
      ['admin', 'released'],
      ['system', 'delivered'],
    ]);
  });

  it('rejects a held message with an optional note, and never delivers it', async () => {
    const id = await archive('hold');
    const res = await post(`/api/v1/incidents/${id}/reject`, { note: 'contains a card number' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, holdState: 'rejected' });
    // The sender is offline here: a stored notice to their bare JID, nothing to the recipient.
    expect(deliveries.map((d) => d.to)).toEqual(['alice@example.org']);
    const detail = (await get(`/api/v1/incidents/${id}`)).json() as { events: Array<{ action: string; detail: unknown }> };
    expect(detail.events[0]).toMatchObject({ action: 'rejected', detail: { note: 'contains a card number' } });
  });

  it('answers 409 for an incident that is not a held message, 404 for none', async () => {
    const id = await archive('block');
    const res = await post(`/api/v1/incidents/${id}/reject`);
    expect(res.statusCode).toBe(409);
    expect((res.json() as Problem).type).toBe('urn:warden:problem:incident-not-held');
    expect((await post('/api/v1/incidents/888888888/release')).statusCode).toBe(404);
    expect((await post('/api/v1/incidents/x/release')).statusCode).toBe(404);
    expect(deliveries).toEqual([]);
  });

  it('lets one of two simultaneous decisions win and answers the other 409', async () => {
    const id = await archive('hold');
    const codes = (await Promise.all([post(`/api/v1/incidents/${id}/release`), post(`/api/v1/incidents/${id}/reject`)])).map((r) => r.statusCode);
    expect(codes.sort()).toEqual([200, 409]);
    expect(deliveries).toHaveLength(1);
  });
});
