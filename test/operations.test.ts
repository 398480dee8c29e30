// Operating a real Warden: alice and bob chat over real XMPP connections, one line trips a rule,
// and the scrape at /metrics says so — connections, stanzas by kind, archived rows by verdict,
// the incident opened, archive batches and lag — with no credentials. /readyz is ready while it
// runs and not ready once shutdown begins; /docs/json documents every /api route the server has.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchBrowser } from './support/browser.ts';
import { routesOf } from './support/routes.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { api, connectParty, isMessage, xml, type Party } from './support/xmpp.ts';

let t: TestServer;
let alice: Party;
let bob: Party;

const http = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${t.server.ports.http}${path}`, init);

/** The value of one sample line (`name{labels}`) in an exposition, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

beforeAll(async () => {
  t = await startTestServer();
  await t.addUser('alice', 'alice-pw');
  await t.addUser('bob', 'bob-pw');
  const rule = await api(t, 'POST', '/api/v1/rules', { name: 'gossip', type: 'keywords', keywords: ['rumour'], action: 'flag', severity: 'low' });
  expect(rule.status).toBe(201);
  alice = await connectParty(t, 'alice', 'alice-pw', 'laptop');
  bob = await connectParty(t, 'bob', 'bob-pw', 'phone');
});

afterAll(async () => {
  await alice?.stop();
  await bob?.stop();
  await t?.close();
});

describe('/metrics after alice and bob chat', () => {
  let text: string;

  beforeAll(async () => {
    const lines = ['hi bob', 'lunch?', 'heard a rumour', 'about the new office', 'see you at 12'];
    for (const [i, body] of lines.entries()) {
      await alice.xmpp.send(xml('message', { to: 'bob@localhost/phone', type: 'chat', id: `op-${i}` }, xml('body', {}, body)));
    }
    for (let i = 0; i < lines.length; i++) await bob.next(isMessage(`op-${i}`));
    // No credentials: a scraper has none.
    const res = await http('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    text = await res.text();
  });

  it('counts both open connections and bound sessions', () => {
    expect(sample(text, 'warden_connections_open{transport="tcp"}')).toBe(2);
    expect(sample(text, 'warden_connections_open{transport="websocket"}')).toBe(0);
    expect(sample(text, 'warden_sessions_bound')).toBe(2);
  });

  it('counts the stanzas routed by kind', () => {
    expect(sample(text, 'warden_stanzas_routed_total{kind="message"}')).toBe(5);
    // Each client's initial presence, at least.
    expect(sample(text, 'warden_stanzas_routed_total{kind="presence"}')).toBeGreaterThanOrEqual(2);
  });

  it('counts archived messages by verdict and the incident opened by severity', () => {
    expect(sample(text, 'warden_messages_archived_total{verdict="allow"}')).toBe(4);
    expect(sample(text, 'warden_messages_archived_total{verdict="flag"}')).toBe(1);
    expect(sample(text, 'warden_messages_archived_total{verdict="block"}')).toBe(0);
    expect(sample(text, 'warden_incidents_opened_total{severity="low"}')).toBe(1);
    expect(sample(text, 'warden_incidents_open{severity="low"}')).toBe(1);
    expect(sample(text, 'warden_incidents_open{severity="critical"}')).toBe(0);
  });

  it('times each message and each archive batch', () => {
    expect(sample(text, 'warden_archive_lag_seconds_count')).toBe(5);
    expect(sample(text, 'warden_policy_scan_duration_seconds_count')).toBe(5);
    expect(sample(text, 'warden_archive_batch_size_sum')).toBe(5);
    const batches = sample(text, 'warden_archive_batch_size_count') ?? 0;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'warden_archive_commit_duration_seconds_count')).toBe(batches);
    expect(sample(text, 'warden_archive_lag_seconds_bucket{le="+Inf"}')).toBe(5);
    expect(sample(text, 'warden_archive_queue_depth')).toBe(0);
    expect(sample(text, 'warden_archive_up')).toBe(1);
  });

  it('counts HTTP requests by route pattern, and shows the process metrics', () => {
    expect(sample(text, 'warden_http_requests_total{method="POST",route="/api/v1/rules",status="201"}')).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('moves on with the next message', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost/phone', type: 'chat', id: 'op-next' }, xml('body', {}, 'one more')));
    await bob.next(isMessage('op-next'));
    const after = await (await http('/metrics')).text();
    expect(sample(after, 'warden_stanzas_routed_total{kind="message"}')).toBe(6);
    expect(sample(after, 'warden_messages_archived_total{verdict="allow"}')).toBe(5);
  });
});

describe('/docs/json on the full server', () => {
  it('documents every /api route the server serves, each with its roles', async () => {
    const res = await http('/docs/json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { description?: string }>> };
    const documented = new Map<string, string | undefined>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) documented.set(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, op.description);
    }
    const served = [
      ...new Set(
        routesOf(t.server.http)
          .filter((r) => r.url.startsWith('/api/'))
          .map((r) => `${r.method} ${r.url.replace(/(.)\/$/, '$1')}`),
      ),
    ];
    // The resources this issue adds are all there (a sample; the comparison below covers every one).
    for (const route of ['GET /api/v1/messages', 'GET /api/v1/incidents', 'POST /api/v1/auth/login', 'GET /api/v1/access-log']) expect(served).toContain(route);
    const missing = served.filter((r) => !documented.has(r));
    expect(missing).toEqual([]);
    const withoutRoles = served.filter((r) => !/Roles: /.test(documented.get(r) ?? ''));
    expect(withoutRoles).toEqual([]);
  });
});

describe('/docs/json success answers', () => {
  it('declares a 2xx answer for every operation, with its body or none (204)', async () => {
    const doc = (await (await http('/docs/json')).json()) as {
      paths: Record<string, Record<string, { responses?: Record<string, { description?: string; content?: Record<string, unknown> }> }>>;
    };
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })));
    expect(operations.length).toBeGreaterThan(40);
    const withoutSuccess = operations.filter(({ op }) => !Object.keys(op.responses ?? {}).some((status) => /^2\d\d$/.test(status))).map((o) => o.name);
    expect(withoutSuccess).toEqual([]);
    // A 204 has no body; anything else says what it sends.
    const bodyless = operations.flatMap(({ name, op }) =>
      Object.entries(op.responses ?? {})
        .filter(([status, response]) => /^2\d\d$/.test(status) && (status === '204') !== (response.content === undefined))
        .map(([status]) => `${name} ${status}`),
    );
    expect(bodyless).toEqual([]);
    for (const name of ['DELETE /api/v1/users/{username}', 'PUT /api/v1/users/{username}/password', 'DELETE /api/v1/sessions/{jid}', 'DELETE /api/v1/rules/{id}']) {
      expect(operations.find((o) => o.name === name)?.op.responses?.['204'], name).toBeDefined();
    }
  });
});

describe('/docs in a browser', () => {
  it.skipIf(!hasChromium)('renders every resource under its own CSP, with no error and no outside request', async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const outside: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(`http://127.0.0.1:${t.server.ports.http}/`) && !r.url().startsWith('data:')) outside.push(r.url());
      });
      await page.goto(`http://127.0.0.1:${t.server.ports.http}/docs`);
      await page.waitForSelector('.opblock-tag');
      const tags = await page.locator('.opblock-tag').allTextContents();
      for (const tag of ['operations', 'incidents', 'messages', 'rules', 'access-log']) expect(tags.some((x) => x.startsWith(tag))).toBe(true);
      expect(browser.errors).toEqual([]);
      expect(outside).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('/readyz', () => {
  it('is ready while the server runs: database answers, every listener up', async () => {
    const res = await http('/readyz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', listeners: 'ok' } });
  });

  it('is not ready as soon as shutdown begins, so load balancers drain the node', async () => {
    const stopping = t.server.stop();
    // inject(): the listeners are closing, but the app still answers until http.close().
    const res = await t.server.http.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not-ready', checks: { shutdown: 'the server is shutting down' } });
    await stopping;
  });
});
