// Message Archive Management (XEP-0313) as dialogues with a client this team did not write
// (@xmpp/client over TCP+STARTTLS): alice and bob talk, then read their history back from the
// compliance archive. Blocked, held and redacted messages are written straight into the archive
// through the server's own archive writer (the policy engine is not wired yet), and the
// recipient's and the sender's archives are compared.
import { randomUUID } from 'node:crypto';
import { xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveEntry, Verdict } from '../src/audit/archive-record.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { xmppClient } from './support/xmpp.ts';

// The generated certificate is self-signed; @xmpp/client offers no way to pin it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const FORWARD = 'urn:xmpp:forward:0';
const SID = 'urn:xmpp:sid:0';
const DELAY = 'urn:xmpp:delay';
const DATA = 'jabber:x:data';
const PASSWORD = 'secret';

let t: TestServer;
const peers: Peer[] = [];
beforeAll(async () => {
  t = await startTestServer();
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await t.addUser(u, PASSWORD);
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.xmpp.stop().catch(() => {})));
  await t?.close();
});

/** One connected, available resource that keeps what it receives. */
class Peer {
  readonly inbox: Element[] = [];
  private readonly waiters: Array<{ match: (el: Element) => boolean; resolve: (el: Element) => void }> = [];
  readonly bare: string;

  constructor(
    readonly xmpp: Client,
    readonly local: string,
  ) {
    this.bare = `${local}@localhost`;
    xmpp.on('stanza', (el: Element) => {
      const i = this.waiters.findIndex((w) => w.match(el));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(el);
      else this.inbox.push(el);
    });
  }

  next(match: (el: Element) => boolean, what: string, ms = 15_000): Promise<Element> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.bare} did not receive ${what}`)), ms);
      this.waiters.push({ match, resolve: (el) => (clearTimeout(timer), resolve(el)) });
    });
  }

  /** Sends a chat message and waits until `to` has it; returns the stanza-id `to` was given live. */
  async say(to: Peer, body: string): Promise<string> {
    await this.xmpp.send(xml('message', { to: to.bare, type: 'chat' }, xml('body', {}, body)));
    const got = await to.next((el) => el.name === 'message' && el.getChildText('body') === body, `“${body}”`);
    const sid = got.getChildren('stanza-id').find((s) => s.attrs.xmlns === SID && s.attrs.by === to.bare);
    expect(sid, 'the live copy carries the archive id').toBeDefined();
    return sid!.attrs.id as string;
  }

  /** Runs a MAM query; resolves with the forwarded results (in arrival order) and <fin/>. */
  async query(opts: { fields?: Record<string, string>; set?: Record<string, string>; to?: string } = {}): Promise<{ results: Element[]; fin: Element }> {
    const queryid = randomUUID();
    const q = xml('query', { xmlns: MAM, queryid });
    if (opts.fields) {
      const x = q.c('x', { xmlns: DATA, type: 'submit' });
      x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(MAM);
      for (const [name, value] of Object.entries(opts.fields)) x.c('field', { var: name }).c('value').t(value);
    }
    if (opts.set) {
      const s = q.c('set', { xmlns: RSM });
      for (const [name, text] of Object.entries(opts.set)) s.c(name).t(text);
    }
    const results: Element[] = [];
    const collect = (el: Element) => {
      const result = el.name === 'message' ? el.getChild('result', MAM) : undefined;
      // XEP-0313 §8.2: a client checks that results come from the archive it asked, for its query.
      if (result?.attrs.queryid === queryid && el.attrs.from === this.bare) results.push(el);
    };
    this.xmpp.on('stanza', collect);
    try {
      const iq = await this.xmpp.iqCaller.request(xml('iq', { type: 'set', ...(opts.to ? { to: opts.to } : {}) }, q));
      return { results, fin: iq.getChild('fin', MAM)! };
    } finally {
      this.xmpp.removeListener('stanza', collect);
    }
  }
}

async function online(local: string): Promise<Peer> {
  const xmpp = xmppClient(t.server.ports.c2s, local, PASSWORD, 'mam');
  xmpp.on('error', () => {});
  // @xmpp/connection waits 2 s for each stream (re)open; TLS on a loaded CI machine can take longer.
  const peer = new Peer(xmpp, local);
  await xmpp.start();
  await xmpp.send(xml('presence'));
  peers.push(peer);
  return peer;
}

const forwarded = (result: Element) => result.getChild('result', MAM)!.getChild('forwarded', FORWARD)!;
const bodyOf = (result: Element) => forwarded(result).getChild('message')!.getChildText('body');
const idOf = (result: Element) => result.getChild('result', MAM)!.attrs.id as string;
const stampOf = (result: Element) => forwarded(result).getChild('delay', DELAY)!.attrs.stamp as string;
const rsm = (fin: Element, name: string) => fin.getChild('set', RSM)!.getChildText(name);

describe('alice and bob read their conversation back', () => {
  let alice: Peer;
  let bob: Peer;
  let carol: Peer;
  const said: Array<{ body: string; id: string }> = [];
  const lines: Array<[from: 'alice' | 'bob', body: string]> = [
    ['alice', 'Hi Bob, are you there?'],
    ['bob', '在的！你好，爱丽丝 👋'],
    ['alice', 'Great 🎉 — the report is due Friday'],
    ['bob', 'OK, 周五之前发给你 📄'],
    ['alice', 'Thanks & see you <soon>'],
  ];

  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([online('alice'), online('bob'), online('carol')]);
    // Something alice says to someone else, for the 'with' filter to leave out.
    await alice.say(carol, 'Carol, lunch?');
    for (const [from, body] of lines) {
      const id = from === 'alice' ? await alice.say(bob, body) : await bob.say(alice, body);
      said.push({ body, id });
    }
  });

  it('alice gets the whole conversation in order, with the ids the live copies carried', async () => {
    const { results, fin } = await alice.query({ fields: { with: 'bob@localhost' } });
    expect(results.map(bodyOf)).toEqual(said.map((s) => s.body));
    expect(results.map(idOf)).toEqual(said.map((s) => s.id));
    expect(fin.attrs.complete).toBe('true');
    expect([rsm(fin, 'first'), rsm(fin, 'last')]).toEqual([said[0]!.id, said[said.length - 1]!.id]);
    // Each result is addressed to the querying resource and wraps the original with its time.
    for (const r of results) {
      expect(r.attrs.to).toBe('alice@localhost/mam');
      expect(Date.parse(stampOf(r))).not.toBeNaN();
    }
    // Bob's own archive holds the same conversation under the same ids.
    const bobs = await bob.query();
    expect(bobs.results.map(idOf)).toEqual(said.map((s) => s.id));
  });

  it('without a filter alice also gets what she said to carol, first', async () => {
    const { results } = await alice.query();
    expect(results.map(bodyOf)).toEqual(['Carol, lunch?', ...said.map((s) => s.body)]);
  });

  it('pages through everything two at a time until complete', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 1; ; page++) {
      expect(page).toBeLessThanOrEqual(3);
      const { results, fin } = await alice.query({ fields: { with: 'bob@localhost' }, set: { max: '2', ...(after ? { after } : {}) } });
      expect(results.length).toBeLessThanOrEqual(2);
      seen.push(...results.map(idOf));
      if (fin.attrs.complete === 'true') break;
      after = rsm(fin, 'last') ?? undefined;
    }
    expect(seen).toEqual(said.map((s) => s.id));
  });

  it('the last page comes with an empty <before/>', async () => {
    const { results } = await alice.query({ set: { max: '2', before: '' } });
    expect(results.map(idOf)).toEqual(said.slice(-2).map((s) => s.id));
  });

  it('start and end select a span of time, both ends included', async () => {
    const all = (await alice.query({ fields: { with: 'bob@localhost' } })).results;
    const { results } = await alice.query({ fields: { start: stampOf(all[1]!), end: stampOf(all[3]!) } });
    expect(results.map(idOf)).toEqual(said.slice(1, 4).map((s) => s.id));
  });

  it('a bad timestamp is a bad request', async () => {
    await expect(alice.query({ fields: { start: 'Friday' } })).rejects.toMatchObject({ condition: 'bad-request' });
  });

  it('alice may not read bob’s archive', async () => {
    await expect(alice.query({ to: 'bob@localhost' })).rejects.toMatchObject({ condition: 'forbidden' });
  });

  it('the query form lists the fields', async () => {
    const form = await alice.xmpp.iqCaller.get(xml('query', { xmlns: MAM }));
    const vars = form.getChild('x', DATA)!.getChildren('field').map((f: Element) => f.attrs.var as string);
    expect(vars).toEqual(expect.arrayContaining(['FORM_TYPE', 'with', 'start', 'end']));
  });
});

describe('blocked, held and redacted messages', () => {
  /** Writes a dave → erin message into the archive as the audit pipeline would have. */
  async function archived(body: string, verdict: Verdict, redacted?: string): Promise<string> {
    const stanzaId = randomUUID();
    const stanza = xml('message', { xmlns: 'jabber:client', from: 'dave@localhost/desk', to: 'erin@localhost', type: 'chat' }, xml('body', {}, body));
    const entry: ArchiveEntry = {
      ts: new Date(),
      stanzaId,
      originId: null,
      clientId: null,
      fromJid: 'dave@localhost/desk',
      toJid: 'erin@localhost',
      fromBare: 'dave@localhost',
      toBare: 'erin@localhost',
      type: 'chat',
      thread: null,
      body,
      redactedBody: redacted ?? null,
      raw: stanza.toString(),
      direction: 'internal',
      verdict,
      reason: null,
      matches: [],
      policyVersion: 0,
    };
    await t.server.audit.writer.append(entry);
    return stanzaId;
  }

  it('the recipient never sees a blocked message, sees a held one once released, and a redacted one redacted', async () => {
    const blocked = await archived('the merger closes Monday', 'block');
    const held = await archived('wire 50k to this account', 'hold');
    const redacted = await archived('my card is 4111 1111 1111 1111', 'redact', 'my card is ****');
    const [dave, erin] = await Promise.all([online('dave'), online('erin')]);

    const before = await erin.query();
    expect(before.results.map(idOf)).toEqual([redacted]);
    expect(bodyOf(before.results[0]!)).toBe('my card is ****');
    expect(before.results[0]!.toString()).not.toContain('4111');
    // The recipient's copy carries the archive id, as the live delivery did.
    const sid = forwarded(before.results[0]!).getChild('message')!.getChild('stanza-id', SID);
    expect(sid?.attrs).toMatchObject({ id: redacted, by: 'erin@localhost' });

    // The sender sees all three, as written.
    const sent = await dave.query();
    expect(sent.results.map(idOf)).toEqual([blocked, held, redacted]);
    expect(sent.results.map(bodyOf)).toEqual(['the merger closes Monday', 'wire 50k to this account', 'my card is 4111 1111 1111 1111']);

    // An officer releases the held message.
    await t.db.sql`UPDATE incidents SET hold_state = 'released', hold_decided_at = now(), hold_decided_by = 'officer' WHERE stanza_id = ${held}`;
    const after = await erin.query();
    expect(after.results.map(idOf)).toEqual([held, redacted]);
    // Paging from the blocked message's id is refused as if it did not exist.
    await expect(erin.query({ set: { after: blocked } })).rejects.toMatchObject({ condition: 'item-not-found' });
  });
});
