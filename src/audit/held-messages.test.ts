// Held messages end to end below the router: the real audit pipeline holds a message (archive
// row and incident committed, nothing delivered), an officer releases or rejects it, and a fake
// `deliver` stands in for Router.deliverMessage and records what would reach whom.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { NS } from '../ns.ts';
import { jidToString, makeJid, type Jid } from '../stanza/jid.ts';
import type { Element } from '../xml.ts';
import type { RuleMatch } from './archive-record.ts';
import { createHeldMessages, parseArchivedStanza, rejectionText, releasedStanza, type HeldMessages } from './held-messages.ts';
import { createIncidentStore, type IncidentStore } from './incident-store.ts';
import { createAuditPipeline, type AuditPipeline } from './pipeline.ts';

const DOMAIN = 'example.org';
const alicePhone = makeJid('alice', DOMAIN, 'phone');
const bob = makeJid('bob', DOMAIN);

/** Holds anything mentioning "secret", flags anything mentioning "flagme". */
const policy = {
  version: 1,
  scan(text: string) {
    const hit = (word: string, action: RuleMatch['action']): RuleMatch[] => {
      const start = text.indexOf(word);
      return start < 0 ? [] : [{ ruleId: `r-${word}`, ruleName: `Word ${word}`, action, severity: 'high', start, end: start + word.length, match: word }];
    };
    const held = hit('secret', 'hold');
    if (held.length > 0) return { verdict: 'hold' as const, matches: held, reason: 'rule r-secret' };
    const flagged = hit('flagme', 'flag');
    if (flagged.length > 0) return { verdict: 'flag' as const, matches: flagged, reason: 'rule r-flagme' };
    return { verdict: 'allow' as const, matches: [] };
  },
};

let db: TestDatabase;
let pipeline: AuditPipeline;
let store: IncidentStore;
let held: HeldMessages;
let deliveries: Array<{ stanza: Element; to: string }>;
let online: Map<string, string[]>;
let failDelivery: Error | undefined;
const opened: string[] = [];

beforeAll(async () => {
  db = await openTestDatabase();
  pipeline = await createAuditPipeline({ sql: db.sql, domain: DOMAIN, log: silentLogger, chain: 'held-test', policy, incidentOpened: (id) => opened.push(id) });
  store = createIncidentStore(db.sql);
  held = createHeldMessages({
    sql: db.sql,
    domain: DOMAIN,
    log: silentLogger,
    sessions: { resourcesOf: (local) => (online.get(local) ?? []).map((resource) => ({ resource })) },
    deliver: async (stanza: Element, to: Jid) => {
      if (failDelivery) throw failDelivery;
      deliveries.push({ stanza, to: jidToString(to) });
    },
  });
});
afterAll(async () => {
  await pipeline?.close();
  await db?.close();
});
beforeEach(() => {
  deliveries = [];
  online = new Map();
  failDelivery = undefined;
});

/** What a client sends, as the stream parser hands it to the router, with the server-stamped from. */
function clientMessage(body: string, id = 'm1'): Element {
  const stanza = parseArchivedStanza(
    `<message xmlns='jabber:client' to='Bob@example.org' type='chat' id='${id}'><body>${body}</body><origin-id xmlns='${NS.sid}' id='o-${id}'/>` +
      `<stanza-id xmlns='${NS.sid}' id='forged' by='bob@example.org'/></message>`,
  );
  stanza.attrs.from = jidToString(alicePhone);
  return stanza;
}

/** Alice sends; the pipeline must hold it. Returns the incident id. */
async function sendHeld(body: string, id?: string): Promise<string> {
  const outcome = await pipeline.inspect({ stanza: clientMessage(body, id), from: alicePhone, to: bob, direction: 'internal' });
  expect(outcome.kind).toBe('hold');
  const incident = opened[opened.length - 1]!;
  expect((await store.get(incident))?.holdState).toBe('held');
  return incident;
}

describe('parsing an archived stanza', () => {
  it('reads back exactly what Element#toString wrote, escapes and all', () => {
    const raw = clientMessage('a &lt; b &amp; “引用” 🌍 &apos;x&apos;').toString();
    const again = parseArchivedStanza(raw);
    expect(again.toString()).toBe(raw);
    expect(again.getChildText('body')).toBe('a < b & “引用” 🌍 \'x\'');
  });

  it('refuses text that is not one element', () => {
    expect(() => parseArchivedStanza('<message><body>')).toThrow(/cannot be parsed/);
    expect(() => parseArchivedStanza('not xml')).toThrow(/cannot be parsed/);
  });

  it('builds the released stanza with <delay/> and the archive stanza-id, dropping forged ones', () => {
    const ts = new Date('2024-05-01T10:00:00.123Z');
    const raw = clientMessage('hi').toString();
    const stanza = releasedStanza({ raw, stanzaId: 'sid-1', ts, toBare: 'bob@example.org' }, DOMAIN);
    expect(stanza.getChild('delay', NS.delay)?.attrs).toEqual({ xmlns: NS.delay, from: DOMAIN, stamp: '2024-05-01T10:00:00.123Z' });
    const ids = stanza.getChildren('stanza-id', NS.sid);
    expect(ids.map((e) => e.attrs.id)).toEqual(['sid-1']);
    expect(ids[0]?.attrs.by).toBe('bob@example.org');
    expect(stanza.getChild('origin-id', NS.sid)?.attrs.id).toBe('o-m1');
  });
});

describe('releasing a held message', () => {
  it('delivers nothing while held, then the original message once, delayed and with its stanza-id', async () => {
    const incident = await sendHeld('the secret plan', 'rel-1');
    expect(deliveries).toEqual([]);
    const archived = (await store.getWithMessage(incident))!;

    const result = await held.release(incident, 'admin');
    expect(result).toMatchObject({ ok: true, incident: { id: incident, holdState: 'released', holdDecidedBy: 'admin' } });
    expect(deliveries).toHaveLength(1);
    const { stanza, to } = deliveries[0]!;
    expect(to).toBe('bob@example.org');
    expect(stanza.attrs).toMatchObject({ from: 'alice@example.org/phone', to: 'Bob@example.org', type: 'chat', id: 'rel-1' });
    expect(stanza.getChildText('body')).toBe('the secret plan');
    // XEP-0203: when it was sent, not when it was released.
    expect(stanza.getChild('delay', NS.delay)?.attrs).toMatchObject({ from: DOMAIN, stamp: archived.incident.messageTs.toISOString() });
    // XEP-0359: the archive's id (the one MAM will show), never the forged one.
    expect(stanza.getChildren('stanza-id', NS.sid).map((e) => [e.attrs.id, e.attrs.by])).toEqual([[archived.incident.stanzaId, 'bob@example.org']]);

    expect((await store.events(incident)).map((e) => [e.actor, e.action])).toEqual([
      ['admin', 'released'],
      ['system', 'delivered'],
    ]);
  });

  it('does not deliver twice when released twice or rejected after release', async () => {
    const incident = await sendHeld('another secret');
    await held.release(incident, 'admin');
    expect(await held.release(incident, 'admin')).toMatchObject({ ok: false, reason: 'already-decided' });
    expect(await held.reject(incident, 'admin')).toMatchObject({ ok: false, reason: 'already-decided' });
    expect(deliveries).toHaveLength(1);
  });

  it('delivers once when two officers release at the same moment', async () => {
    const incident = await sendHeld('racing secret');
    const results = await Promise.all([held.release(incident, 'admin'), held.release(incident, 'admin')]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(deliveries).toHaveLength(1);
  });

  it('keeps the decision and records the failure when delivery fails', async () => {
    const incident = await sendHeld('secret but unlucky');
    failDelivery = new Error('router exploded');
    expect(await held.release(incident, 'admin')).toMatchObject({ ok: true });
    expect((await store.get(incident))?.holdState).toBe('released');
    const events = await store.events(incident);
    expect(events.map((e) => e.action)).toEqual(['released', 'delivery-failed']);
    expect(events[1]?.detail).toEqual({ error: 'router exploded' });
  });

  it('delivers nothing, and stays held, when the step in its transaction (the access-log entry) fails', async () => {
    const incident = await sendHeld('secret, unrecorded');
    const failing = () => Promise.reject(new Error('the access log is down'));
    await expect(held.release(incident, 'olivia', {}, failing)).rejects.toThrow('the access log is down');
    await expect(held.reject(incident, 'olivia', {}, failing)).rejects.toThrow('the access log is down');
    expect(deliveries).toEqual([]);
    expect(await store.get(incident)).toMatchObject({ holdState: 'held', holdDecidedBy: null });
    expect(await store.events(incident)).toEqual([]);
    // Once it can be recorded, the release goes ahead.
    let steps = 0;
    expect(await held.release(incident, 'olivia', {}, async () => void steps++)).toMatchObject({ ok: true });
    expect(steps).toBe(1);
    expect(deliveries).toHaveLength(1);
  });

  it('refuses an incident that is not a held message', async () => {
    const outcome = await pipeline.inspect({ stanza: clientMessage('flagme please'), from: alicePhone, to: bob, direction: 'internal' });
    expect(outcome.kind).toBe('deliver');
    const incident = opened[opened.length - 1]!;
    expect(await held.release(incident, 'admin')).toMatchObject({ ok: false, reason: 'not-held' });
    expect(await held.reject(incident, 'admin')).toMatchObject({ ok: false, reason: 'not-held' });
    expect(await held.release('424242424', 'admin')).toEqual({ ok: false, reason: 'not-found' });
    expect(deliveries).toEqual([]);
  });
});

describe('rejecting a held message', () => {
  it('never delivers it, and tells each online resource of the sender with <policy-violation/>', async () => {
    const incident = await sendHeld('my secret', 'rej-1');
    online.set('alice', ['phone', 'laptop']);
    expect(await held.reject(incident, 'admin')).toMatchObject({ ok: true, incident: { holdState: 'rejected' } });
    expect(deliveries.map((d) => d.to).sort()).toEqual(['alice@example.org/laptop', 'alice@example.org/phone']);
    for (const { stanza, to } of deliveries) {
      expect(stanza.attrs).toMatchObject({ type: 'error', id: 'rej-1', from: 'bob@example.org', to });
      const error = stanza.getChild('error')!;
      expect(error.attrs.type).toBe('modify');
      expect(error.getChild('policy-violation', NS.stanzas)).toBeDefined();
      expect(error.getChildText('text', NS.stanzas)).toBe(rejectionText('bob@example.org'));
      expect(rejectionText('bob@example.org')).toBe('Your message to bob@example.org was rejected by a compliance officer.');
    }
    expect((await store.events(incident)).map((e) => [e.actor, e.action, e.detail])).toEqual([
      ['admin', 'rejected', {}],
      ['system', 'sender-notified', { resources: 2 }],
    ]);
  });

  it('leaves an offline sender a stored notice (an error would be dropped, RFC 6121 §8.5.2.2.1)', async () => {
    const incident = await sendHeld('offline secret');
    await held.reject(incident, 'admin', { note: 'not allowed' });
    expect(deliveries).toHaveLength(1);
    const { stanza, to } = deliveries[0]!;
    expect(to).toBe('alice@example.org');
    expect(stanza.attrs).toMatchObject({ type: 'normal', from: DOMAIN, to: 'alice@example.org' });
    expect(stanza.getChildText('body')).toContain('Your message to bob@example.org was rejected by a compliance officer');
    expect((await store.events(incident))[0]?.detail).toEqual({ note: 'not allowed' });
  });
});
