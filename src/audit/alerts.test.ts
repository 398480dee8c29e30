// Officer alerts: the headline's content (pure), notify() over real incident rows, the webhook
// outbox's retry bookkeeping with a fake fetch, and the access-log entry each alert carrying
// message content leaves (real store; "down" is a trigger refusing inserts). The real-HTTP
// webhook test is test/alerts-webhook.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry } from '../../test/support/archive.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { jidToString, type Jid } from '../stanza/jid.ts';
import { xml, type Element } from '../xml.ts';
import { NS } from '../ns.ts';
import type { RuleMatch } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { createAccessLogStore, type AccessLogStore } from './access-log.ts';
import { createAlerts, matchExcerpt, webhookRetryDelay, webhookSignature } from './alerts.ts';
import { createIncidentStore, type IncidentStore } from './incident-store.ts';

const DOMAIN = 'example.org';

describe('webhook retry schedule', () => {
  it('waits 1 s, 2 s, 4 s … and gives up after the tenth attempt', () => {
    const delays = Array.from({ length: 10 }, (_, i) => webhookRetryDelay(i + 1, 10, 1000));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, null]);
  });
});

describe('webhook signature', () => {
  it('is sha256= and the hex HMAC-SHA256 of the body (RFC 4231-style known answer)', () => {
    expect(webhookSignature('key', 'The quick brown fox jumps over the lazy dog')).toBe(
      'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    );
  });
});

describe('match excerpt', () => {
  const m = (text: string, word: string, extra: Partial<RuleMatch> = {}): RuleMatch => {
    const start = text.indexOf(word);
    return { ruleId: 'r', ruleName: 'R', action: 'flag', severity: 'low', start, end: start + word.length, match: word, ...extra };
  };

  it.each([
    ['short text, whole context', 'send the plan', 'plan', 'send the «plan»'],
    ['long text, trimmed both sides', `${'a'.repeat(50)} secret ${'b'.repeat(50)}`, 'secret', `…${'a'.repeat(19)} «secret» ${'b'.repeat(19)}…`],
    ['newlines folded', 'line one\nsecret\nline three', 'secret', 'line one «secret» line three'],
  ])('%s', (_, text, word, expected) => {
    expect(matchExcerpt(text, [m(text, word)])).toBe(expected);
  });

  it('clips a long match and never splits a surrogate pair', () => {
    const text = `${'🌍'.repeat(15)}${'x'.repeat(100)}`;
    const excerpt = matchExcerpt(text, [m(text, 'x'.repeat(100))])!;
    expect(excerpt).toContain(`«${'x'.repeat(39)}…»`);
    expect(excerpt).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });

  it('counts further matches, uses the match alone when offsets do not fit, and has nothing without matches', () => {
    const text = 'one two three';
    expect(matchExcerpt(text, [m(text, 'one'), m(text, 'three')])).toBe('«one» two three (+1 more)');
    expect(matchExcerpt(text, [m(text, 'two', { start: 50, end: 53 })])).toBe('«two»');
    expect(matchExcerpt(null, [m('two', 'two')])).toBe('«two»');
    expect(matchExcerpt(text, [])).toBeUndefined();
  });
});

describe('with incidents in the database', () => {
  let db: TestDatabase;
  let writer: ArchiveWriter;
  let store: IncidentStore;
  let accessLog: AccessLogStore;

  beforeAll(async () => {
    db = await openTestDatabase();
    await ensureArchivePartitions(db.sql, new Date());
    writer = new ArchiveWriter(db.sql, 'alerts-test', silentLogger);
    store = createIncidentStore(db.sql);
    accessLog = createAccessLogStore(db.sql);
    await db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'access log down (test)'; END $$`);
  });

  async function withAccessLogDown<T>(fn: () => Promise<T>): Promise<T> {
    await db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
    try {
      return await fn();
    } finally {
      await db.sql`DROP TRIGGER access_log_down ON access_log`;
    }
  }
  const alertEntries = async (incident: string) =>
    (await accessLog.list({ limit: 100, action: 'alert.sent' })).filter((e) => e.query.incident === incident).reverse();
  afterAll(async () => {
    await writer?.close();
    await db?.close();
  });

  async function incident(body: string, word: string, verdict: 'flag' | 'hold' = 'flag'): Promise<string> {
    const start = body.indexOf(word);
    const entry = archiveEntry({
      ts: new Date(),
      stanzaId: randomUUID(),
      fromBare: 'alice@example.org',
      toBare: 'bob@example.org',
      body,
      raw: xml('message', { xmlns: NS.client, to: 'bob@example.org' }, xml('body', {}, body)).toString(),
      verdict,
      matches: [{ ruleId: 'r-cards', ruleName: 'Card numbers', action: verdict, severity: 'critical', start, end: start + word.length, match: word }],
    });
    return (await writer.append(entry)).incidentId!;
  }

  it('sends every officer a headline from the server, with the essentials and only an excerpt', async () => {
    const body = `${'Opening remarks that go on. '.repeat(5)}card 4111 1111 1111 1111 ok${' and a long tail nobody needs'.repeat(5)}`;
    const id = await incident(body, '4111 1111 1111 1111', 'hold');
    const sent: Array<{ stanza: Element; to: string }> = [];
    const alerts = createAlerts({
      sql: db.sql,
      domain: DOMAIN,
      // Not local, or not bare: ignored (config validation normally refuses them first).
      officerJids: ['officer@example.org', 'Chief@Example.org', 'someone@elsewhere.net', 'x@example.org/res'],
      send: (stanza: Element, to: Jid) => {
        sent.push({ stanza, to: jidToString(to) });
      },
      log: silentLogger,
    });
    await alerts.notify(id);
    expect(sent.map((s) => s.to)).toEqual(['officer@example.org', 'chief@example.org']);
    const { stanza } = sent[0]!;
    expect(stanza.attrs).toMatchObject({ type: 'headline', from: DOMAIN, to: 'officer@example.org' });
    const text = stanza.getChildText('body')!;
    expect(text).toContain('CRITICAL');
    expect(text).toContain('hold');
    expect(text).toContain('Card numbers');
    expect(text).toContain('alice@example.org → bob@example.org');
    expect(text).toContain('«4111 1111 1111 1111»');
    expect(text).toContain(`incident ${id}`);
    expect(text).not.toContain('Opening remarks that go on. Opening');
    expect(text).not.toContain('nobody needs');
    expect(stanza.getChildText('subject')).toContain(id);

    // Each headline is on record, by the server, before it went out.
    const { stanzaId } = (await store.get(id))!;
    expect((await alertEntries(id)).map((e) => [e.actor, e.action, e.messageIds, e.detail])).toEqual([
      ['system', 'alert.sent', [stanzaId], { channel: 'xmpp', destination: 'officer@example.org' }],
      ['system', 'alert.sent', [stanzaId], { channel: 'xmpp', destination: 'chief@example.org' }],
    ]);
    expect((await accessLog.verify()).ok).toBe(true);
  });

  it('sends the headline without the excerpt when the access log cannot record it', async () => {
    const id = await incident('card 4111 1111 1111 1111 in here', '4111 1111 1111 1111');
    const sent: Element[] = [];
    const alerts = createAlerts({ sql: db.sql, domain: DOMAIN, officerJids: ['officer@example.org'], send: (stanza) => void sent.push(stanza), log: silentLogger, accessLog });
    await withAccessLogDown(() => alerts.notify(id));
    expect(sent).toHaveLength(1);
    const text = sent[0]!.getChildText('body')!;
    expect(text).toContain(`incident ${id}`);
    expect(text).toContain('Card numbers');
    expect(text).toContain('Match: not shown here');
    expect(text).not.toContain('4111');
    expect(await alertEntries(id)).toEqual([]);
  });

  it('sends nothing without officers and never throws out of notify', async () => {
    const id = await incident('plain flagged text', 'flagged');
    let calls = 0;
    const quiet = createAlerts({ sql: db.sql, domain: DOMAIN, officerJids: [], send: () => void calls++, log: silentLogger });
    await quiet.notify(id);
    const failing = createAlerts({
      sql: db.sql,
      domain: DOMAIN,
      officerJids: ['officer@example.org'],
      send: () => {
        throw new Error('no route');
      },
      log: silentLogger,
    });
    await expect(failing.notify(id)).resolves.toBeUndefined();
    await expect(failing.notify('123456789')).resolves.toBeUndefined();
    expect(calls).toBe(0);
  });

  it('retries a failing webhook with backoff, then gives up and records it', async () => {
    await db.sql`UPDATE incidents SET webhook_done = true`;
    const id = await incident('webhook will fail', 'fail');
    const attempts: number[] = [];
    const alerts = createAlerts({
      sql: db.sql,
      domain: DOMAIN,
      officerJids: [],
      webhookUrl: 'http://127.0.0.1:9/hook?token=s3cret',
      send: () => {},
      log: silentLogger,
      accessLog,
      webhook: {
        pollMs: 5,
        baseDelayMs: 5,
        maxAttempts: 4,
        fetch: async (_url, init) => {
          attempts.push(Number((init?.headers as Record<string, string>)['x-warden-attempt']));
          return new Response('nope', { status: 503 });
        },
      },
    });
    alerts.start();
    try {
      await waitFor(async () => (await store.events(id)).some((e) => e.action === 'webhook-failed'));
    } finally {
      await alerts.stop();
    }
    expect(attempts).toEqual([1, 2, 3, 4]);
    const [row] = await db.sql<{ webhook_attempts: number; webhook_done: boolean; parked: boolean }[]>`
      SELECT webhook_attempts, webhook_done, webhook_next_at = 'infinity' AS parked FROM incidents WHERE id = ${id}::bigint`;
    expect(row).toEqual({ webhook_attempts: 4, webhook_done: false, parked: true });
    expect((await store.events(id)).find((e) => e.action === 'webhook-failed')?.detail).toEqual({ attempts: 4, error: 'HTTP 503' });
    // One entry per attempt, naming the receiver's host (never the URL, whose query holds a token).
    expect((await alertEntries(id)).map((e) => e.detail)).toEqual([1, 2, 3, 4].map((attempt) => ({ channel: 'webhook', destination: '127.0.0.1:9', attempt })));
  });

  it('makes no webhook request the access log cannot record: the attempt fails and is retried', async () => {
    await db.sql`UPDATE incidents SET webhook_done = true`;
    const id = await incident('webhook while the log is down', 'down');
    const bodies: string[] = [];
    const alerts = createAlerts({
      sql: db.sql,
      domain: DOMAIN,
      officerJids: [],
      webhookUrl: 'http://127.0.0.1:9/hook',
      send: () => {},
      log: silentLogger,
      accessLog,
      webhook: {
        pollMs: 5,
        baseDelayMs: 5,
        maxAttempts: 10,
        fetch: async (_url, init) => {
          bodies.push(String(init?.body));
          return new Response('ok', { status: 200 });
        },
      },
    });
    await withAccessLogDown(async () => {
      alerts.start();
      try {
        await waitFor(async () => ((await store.get(id))?.webhookAttempts ?? 0) >= 2);
      } finally {
        await alerts.stop();
      }
    });
    expect(bodies).toEqual([]);
    expect(await alertEntries(id)).toEqual([]);
    alerts.start();
    try {
      await waitFor(async () => (await store.get(id))?.webhookDone === true);
    } finally {
      await alerts.stop();
    }
    expect(bodies).toHaveLength(1);
    const attempts = (await store.get(id))!.webhookAttempts;
    expect((await alertEntries(id)).map((e) => e.detail)).toEqual([{ channel: 'webhook', destination: '127.0.0.1:9', attempt: attempts }]);
  });

  it('gives an attempt cut short by stop() back to the outbox', async () => {
    await db.sql`UPDATE incidents SET webhook_done = true`;
    const id = await incident('webhook in flight at shutdown', 'flight');
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    const alerts = createAlerts({
      sql: db.sql,
      domain: DOMAIN,
      officerJids: [],
      webhookUrl: 'http://127.0.0.1:9/hook',
      send: () => {},
      log: silentLogger,
      webhook: {
        pollMs: 5,
        fetch: (_url, init) =>
          new Promise<Response>((_, reject) => {
            started();
            init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          }),
      },
    });
    alerts.start();
    await inFlight;
    await alerts.stop();
    const [row] = await db.sql<{ webhook_attempts: number; due: boolean }[]>`
      SELECT webhook_attempts, webhook_next_at <= now() AS due FROM incidents WHERE id = ${id}::bigint`;
    expect(row).toEqual({ webhook_attempts: 0, due: true });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
