// Every date the HTTP API takes, on the full server: 30 February, a leap second, month 13 or year
// 0 is a 400 naming the field on every route — never read as another day, never an Invalid Date
// or a database error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/support/server.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const BAD = ['2026-02-30T00:00:00Z', '2016-12-31T23:59:60Z', '2026-13-01T00:00:00Z', '0000-06-01T00:00:00Z'];

async function call(method: 'GET' | 'POST', path: string, token: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${t.server.ports.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe('dates the API takes', () => {
  const routes: Array<[string, (date: string) => Promise<{ status: number; text: string }>]> = [
    ['GET /messages since', (d) => call('GET', `/api/v1/messages?since=${encodeURIComponent(d)}`, t.tokens.officer)],
    ['GET /messages until', (d) => call('GET', `/api/v1/messages?until=${encodeURIComponent(d)}`, t.tokens.officer)],
    ['GET /export since', (d) => call('GET', `/api/v1/export?since=${encodeURIComponent(d)}`, t.tokens.officer)],
    ['GET /access-log until', (d) => call('GET', `/api/v1/access-log?until=${encodeURIComponent(d)}`, t.tokens.auditor)],
    ['GET /rules/stats since', (d) => call('GET', `/api/v1/rules/stats?since=${encodeURIComponent(d)}`, t.tokens.officer)],
    ['POST /retro-scans since', (d) => call('POST', '/api/v1/retro-scans', t.tokens.officer, { ruleId: 'r_none', since: d })],
    ['POST /retro-scans until', (d) => call('POST', '/api/v1/retro-scans', t.tokens.officer, { ruleId: 'r_none', until: d })],
    ['POST /tokens expiresAt', (d) => call('POST', '/api/v1/tokens', t.tokens.admin, { account: 'officer', expiresAt: d })],
  ];

  it.each(routes)('%s: a date that is no instant is a 400 naming the field', async (label, send) => {
    const field = label.split(' ').pop()!;
    for (const date of BAD) {
      const res = await send(date);
      expect(res.status, `${label}=${date}: ${res.text}`).toBe(400);
      expect(res.text, `${label}=${date}`).toContain(field);
    }
  });

  it('takes real instants on the same routes', async () => {
    const soon = new Date(Date.now() + 86_400_000).toISOString();
    expect((await routes[0]![1]('2024-02-29T12:00:00+08:00')).status).toBe(200);
    expect((await routes[4]![1]('2024-02-29T12:00:00Z')).status).toBe(200);
    // The rule does not exist: past the date check.
    expect((await routes[5]![1]('2024-02-29T12:00:00Z')).status).toBe(404);
    expect((await routes[7]![1](soon)).status).toBe(201);
  });
});
