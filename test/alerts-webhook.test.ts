// The incident webhook against a real HTTP receiver on a free local port: the receiver fails
// the first attempts, Warden retries with growing delays until it answers 200, every request
// carries a valid X-Warden-Signature and is on record in the access log before it is sent, and
// what is pending survives a restart of the sender.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAccessLogStore } from '../src/audit/access-log.ts';
import { createAlerts, type Alerts } from '../src/audit/alerts.ts';
import { ensureArchivePartitions } from '../src/audit/archive-partitions.ts';
import { ArchiveWriter } from '../src/audit/archive-writer.ts';
import { silentLogger } from '../src/log.ts';
import { NS } from '../src/ns.ts';
import { xml } from '../src/xml.ts';
import { archiveEntry } from './support/archive.ts';
import { openTestDatabase, type TestDatabase } from './support/database.ts';

const SECRET = 'whsec-test-0123456789';

interface Received {
  readonly at: number;
  readonly body: string;
  readonly headers: IncomingMessage['headers'];
}

/** A webhook receiver: answers each request with the next status in `script` (then 200). */
class Receiver {
  readonly requests: Received[] = [];
  script: Array<number | 'hang'> = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/warden?token=abc`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.requests.push({ at: Date.now(), body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
    const next = this.script.shift() ?? 200;
    if (next === 'hang') return; // never answers: the sender's timeout must fire
    res.writeHead(next, { 'content-type': 'text/plain' }).end(next === 200 ? 'ok' : 'fail');
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** What a receiver does first: recompute the HMAC over the raw body, compare in constant time. */
function signatureValid(r: Received): boolean {
  const header = r.headers['x-warden-signature'];
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let db: TestDatabase;
let writer: ArchiveWriter;
let receiver: Receiver;
const running: Alerts[] = [];

beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
  writer = new ArchiveWriter(db.sql, 'webhook-test', silentLogger);
  receiver = new Receiver();
  await receiver.start();
});
afterAll(async () => {
  for (const a of running) await a.stop();
  await receiver?.stop();
  await writer?.close();
  await db?.close();
});
beforeEach(async () => {
  for (const a of running.splice(0)) await a.stop();
  receiver.requests.length = 0;
  receiver.script = [];
  // Each test sees only its own incidents.
  await db.sql`UPDATE incidents SET webhook_done = true`;
});

async function openIncident(): Promise<string> {
  const body = 'wire the money to account 12345678 today';
  const entry = archiveEntry({
    ts: new Date(),
    stanzaId: randomUUID(),
    fromBare: 'alice@example.org',
    toBare: 'bob@example.org',
    body,
    raw: xml('message', { xmlns: NS.client, to: 'bob@example.org' }, xml('body', {}, body)).toString(),
    verdict: 'flag',
    reason: 'rule r-account',
    matches: [{ ruleId: 'r-account', ruleName: 'Account numbers', action: 'flag', severity: 'high', start: 26, end: 34, match: '12345678' }],
  });
  return (await writer.append(entry)).incidentId!;
}

function alerts(tuning: { baseDelayMs?: number; timeoutMs?: number; pollMs?: number } = {}): Alerts {
  const a = createAlerts({
    sql: db.sql,
    domain: 'example.org',
    officerJids: [],
    webhookUrl: receiver.url,
    webhookSecret: SECRET,
    send: () => {},
    log: silentLogger,
    // Real backoff starts at 1 s; scaled down so the test takes well under a second.
    webhook: { pollMs: tuning.pollMs ?? 60_000, baseDelayMs: tuning.baseDelayMs ?? 100, timeoutMs: tuning.timeoutMs ?? 5000 },
  });
  running.push(a);
  return a;
}

async function outboxRow(id: string) {
  const [row] = await db.sql<{ webhook_attempts: number; webhook_done: boolean }[]>`
    SELECT webhook_attempts, webhook_done FROM incidents WHERE id = ${id}::bigint`;
  return row;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('incident webhook', () => {
  it('retries after 500s with growing delays until a 200, each request signed', async () => {
    receiver.script = [500, 500, 200];
    const sender = alerts();
    sender.start();
    const id = await openIncident();
    // The pipeline calls notify() after commit; it wakes the outbox (the poll here is a minute).
    await sender.notify(id);
    await waitFor(async () => (await outboxRow(id))?.webhook_done === true);

    expect(receiver.requests).toHaveLength(3);
    for (const [i, r] of receiver.requests.entries()) {
      expect(signatureValid(r)).toBe(true);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-warden-incident']).toBe(id);
      expect(r.headers['x-warden-attempt']).toBe(String(i + 1));
    }
    const [first, second, third] = receiver.requests.map((r) => r.at);
    // 1× then 2× the base delay (100 ms here; 1 s, 2 s, 4 s … in production).
    expect(second! - first!).toBeGreaterThanOrEqual(90);
    expect(third! - second!).toBeGreaterThanOrEqual(190);

    const payload = JSON.parse(receiver.requests[2]!.body) as Record<string, unknown> & { matches: Array<{ match: string }>; stanzaId: string };
    expect(payload).toMatchObject({ id, verdict: 'flag', severity: 'high', ruleIds: ['r-account'], from: 'alice@example.org', to: 'bob@example.org', status: 'open' });
    expect(await outboxRow(id)).toEqual({ webhook_attempts: 3, webhook_done: true });

    // The payload carries the matched text, so each request is in the access log: by the server,
    // for that message, to the receiver's host (not its URL, whose query holds a token).
    expect(payload.matches[0]!.match).toBe('12345678');
    const entries = (await createAccessLogStore(db.sql).list({ limit: 100, action: 'alert.sent' })).filter((e) => e.query.incident === id).reverse();
    const host = new URL(receiver.url).host;
    expect(entries.map((e) => [e.actor, e.messageIds, e.detail])).toEqual(
      [1, 2, 3].map((attempt) => ['system', [payload.stanzaId], { channel: 'webhook', destination: host, attempt }]),
    );
    expect(JSON.stringify(entries)).not.toContain('token=abc');
  });

  it('a tampered body does not verify', async () => {
    const sender = alerts();
    sender.start();
    const id = await openIncident();
    await sender.notify(id);
    await waitFor(() => receiver.requests.length === 1);
    const r = receiver.requests[0]!;
    expect(signatureValid(r)).toBe(true);
    expect(signatureValid({ ...r, body: r.body.replace('"high"', '"low"') })).toBe(false);
  });

  it('keeps a pending notification across a restart and delivers it once', async () => {
    receiver.script = [500];
    const first = alerts({ baseDelayMs: 300 });
    first.start();
    const id = await openIncident();
    await first.notify(id);
    await waitFor(async () => receiver.requests.length === 1 && (await outboxRow(id))?.webhook_attempts === 1);
    await first.stop(); // "crash" before the retry

    const second = alerts({ baseDelayMs: 300, pollMs: 50 });
    second.start(); // no notify: it finds the pending row by itself once it is due
    await waitFor(async () => (await outboxRow(id))?.webhook_done === true);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests.every(signatureValid)).toBe(true);
    expect(await outboxRow(id)).toEqual({ webhook_attempts: 2, webhook_done: true });
  });

  it('counts a receiver that never answers as a failed attempt and retries', async () => {
    receiver.script = ['hang'];
    const sender = alerts({ timeoutMs: 200, baseDelayMs: 50 });
    sender.start();
    const id = await openIncident();
    await sender.notify(id);
    await waitFor(async () => (await outboxRow(id))?.webhook_done === true);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]!.at - receiver.requests[0]!.at).toBeGreaterThanOrEqual(200);
  });
});
