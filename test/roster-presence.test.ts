// Rosters, presence and subscriptions (RFC 6121 §2–4) as dialogues between real clients this
// team did not write: @xmpp/client over TCP+STARTTLS, and slixmpp for one scenario. Each test
// uses its own accounts, so rosters left behind by one test do not leak into another.
import path from 'node:path';
import { xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSlixmpp, slixmppAvailable } from './support/slixmpp.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { xmppClient } from './support/xmpp.ts';

// The generated certificate is self-signed; @xmpp/client offers no way to pin it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const ROSTER = 'jabber:iq:roster';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const PASSWORD = 'secret';
const USERS = [
  'alice', 'bob', // handshake
  'ann', 'ben', // broadcast
  'lia', 'leo', // socket loss
  'cat', 'cid', // directed presence
  'dan', 'dot', // roster set / validation
  'eve', 'eli', // roster remove
  'fay', // versioning
  'gus', 'gia', // offline subscription request
  'hal', 'hue', // priority
  'ida', 'ivo', // pre-approval
  'jay', 'joy', // blocking
  'sam', 'tess', // slixmpp
  'kim', // unknown account / remote domain
];

let t: TestServer;
const open: Peer[] = [];

beforeAll(async () => {
  t = await startTestServer();
  for (const u of USERS) await t.addUser(u, PASSWORD);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.stop()));
});
afterAll(async () => t?.close());

type Match = (el: Element) => boolean;

/** One connected resource, with everything it receives kept for the dialogue to consume. */
class Peer {
  private readonly inbox: Element[] = [];
  private readonly waiters: Array<{ match: Match; resolve: (el: Element) => void }> = [];
  readonly bare: string;
  readonly full: string;

  constructor(
    readonly xmpp: Client,
    readonly local: string,
    readonly resource: string,
  ) {
    this.bare = `${local}@localhost`;
    this.full = `${this.bare}/${resource}`;
    xmpp.on('stanza', (el: Element) => {
      const i = this.waiters.findIndex((w) => w.match(el));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(el);
      else this.inbox.push(el);
    });
    // Roster pushes are acknowledged (RFC 6121 §2.1.6); the 'stanza' listener above records them.
    xmpp.iqCallee.set(ROSTER, 'query', () => true);
  }

  /** The first stanza (received or to come) that matches; fails after `ms`. */
  next(match: Match, what: string, ms = 5000): Promise<Element> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (el: Element) => (clearTimeout(timer), resolve(el)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.full} did not receive ${what}; it has: ${this.inbox.map(String).join('\n')}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** Fails if a matching stanza arrived or arrives within `ms`. */
  async nothing(match: Match, what: string, ms = 400): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    const found = this.inbox.find(match);
    if (found) throw new Error(`${this.full} received ${what}: ${String(found)}`);
  }

  send(el: Element): Promise<void> {
    return this.xmpp.send(el);
  }

  presence(attrs: Record<string, string> = {}, ...children: Element[]): Promise<void> {
    return this.send(xml('presence', attrs, ...children));
  }

  async rosterGet(ver?: string): Promise<Element> {
    return this.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', ver === undefined ? { xmlns: ROSTER } : { xmlns: ROSTER, ver })));
  }

  async rosterItems(): Promise<Record<string, Record<string, unknown>>> {
    const result = await this.rosterGet();
    const items: Record<string, Record<string, unknown>> = {};
    for (const item of result.getChild('query')?.getChildren('item') ?? []) {
      const { jid, ...attrs } = item.attrs as Record<string, string>;
      items[jid!] = { ...attrs, groups: item.getChildren('group').map((g) => g.getText()) };
    }
    return items;
  }

  rosterSet(item: Element): Promise<Element> {
    return this.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, item)));
  }

  /** Ends the TCP connection without closing the stream, as a dropped network would. */
  loseSocket(): void {
    this.xmpp.reconnect.stop();
    // After STARTTLS, xmpp.js wraps the TLS socket: destroy the real one underneath.
    const wrapper = (this.xmpp as unknown as { socket: { socket: { destroy(): void } } }).socket;
    wrapper.socket.destroy();
  }

  async stop(): Promise<void> {
    this.xmpp.reconnect.stop();
    await this.xmpp.stop().catch(() => {});
  }
}

async function connect(local: string, resource = 'res'): Promise<Peer> {
  const xmpp = xmppClient(t.server.ports.c2s, local, PASSWORD, resource);
  xmpp.on('error', () => {});
  const peer = new Peer(xmpp, local, resource);
  await xmpp.start();
  open.push(peer);
  return peer;
}

/** Online the way a client usually is: roster requested (interested), initial presence sent. */
async function online(local: string, resource = 'res', ...presenceChildren: Element[]): Promise<Peer> {
  const peer = await connect(local, resource);
  await peer.rosterGet();
  await peer.presence({}, ...presenceChildren);
  await peer.next(isPresence(peer.full), 'its own presence back');
  return peer;
}

// --- what to look for ----------------------------------------------------------------------------

const isPresence =
  (from: string, type?: string): Match =>
  (el) =>
    el.name === 'presence' && el.attrs.from === from && el.attrs.type === type;

const isPush =
  (jid: string, subscription?: string, ask?: string): Match =>
  (el) => {
    if (el.name !== 'iq' || el.attrs.type !== 'set') return false;
    const item = el.getChild('query', ROSTER)?.getChild('item');
    return item?.attrs.jid === jid && (subscription === undefined || item.attrs.subscription === subscription) && item.attrs.ask === ask;
  };

const isChat =
  (body: string): Match =>
  (el) =>
    el.name === 'message' && el.getChildText('body') === body;

/** a asks b, b approves; then b asks a, a approves: both rosters at 'both'. */
async function befriend(a: Peer, b: Peer): Promise<void> {
  await a.presence({ to: b.bare, type: 'subscribe' });
  await b.next(isPresence(a.bare, 'subscribe'), 'the request');
  await b.presence({ to: a.bare, type: 'subscribed' });
  await a.next(isPresence(b.bare, 'subscribed'), 'the approval');
  await b.presence({ to: a.bare, type: 'subscribe' });
  await a.next(isPresence(b.bare, 'subscribe'), 'the request back');
  await a.presence({ to: b.bare, type: 'subscribed' });
  await b.next(isPresence(a.bare, 'subscribed'), 'the approval back');
}

async function stanzaError(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { condition?: string }).condition;
  }
}

// --- the dialogues -------------------------------------------------------------------------------

describe('subscriptions (RFC 6121 §3)', () => {
  it('alice and bob subscribe to each other and both rosters say both, with a push at every step', async () => {
    const alice = await online('alice');
    const bob = await online('bob');

    // alice asks: her roster gets bob with ask='subscribe'; bob receives the request from her bare JID.
    await alice.presence({ to: 'bob@localhost', type: 'subscribe' }, xml('status', {}, 'Hi Bob'));
    await alice.next(isPush('bob@localhost', 'none', 'subscribe'), 'push none+ask');
    const request = await bob.next(isPresence('alice@localhost', 'subscribe'), 'the request');
    expect(request.getChildText('status')).toBe('Hi Bob');
    // A request is not a roster item until bob answers it.
    expect(await bob.rosterItems()).toEqual({});

    // bob approves: his roster says from; alice's says to; alice sees bob online.
    await bob.presence({ to: 'alice@localhost', type: 'subscribed' });
    await bob.next(isPush('alice@localhost', 'from'), 'push from');
    await alice.next(isPresence('bob@localhost', 'subscribed'), 'the approval');
    await alice.next(isPush('bob@localhost', 'to'), 'push to');
    await alice.next(isPresence('bob@localhost/res'), "bob's presence");

    // and back: bob asks alice, alice approves.
    await bob.presence({ to: 'alice@localhost', type: 'subscribe' });
    await bob.next(isPush('alice@localhost', 'from', 'subscribe'), 'push from+ask');
    await alice.next(isPresence('bob@localhost', 'subscribe'), 'the request back');
    await alice.presence({ to: 'bob@localhost', type: 'subscribed' });
    await alice.next(isPush('bob@localhost', 'both'), 'push both');
    await bob.next(isPresence('alice@localhost', 'subscribed'), 'the approval back');
    await bob.next(isPush('alice@localhost', 'both'), 'push both');
    await bob.next(isPresence('alice@localhost/res'), "alice's presence");

    expect(await alice.rosterItems()).toEqual({ 'bob@localhost': { subscription: 'both', groups: [] } });
    expect(await bob.rosterItems()).toEqual({ 'alice@localhost': { subscription: 'both', groups: [] } });
  });

  it('delivers a request to an offline user at each login until it is answered', async () => {
    const gus = await online('gus');
    await gus.presence({ to: 'gia@localhost', type: 'subscribe' }, xml('status', {}, "I'm Gus"));
    await gus.next(isPush('gia@localhost', 'none', 'subscribe'), 'push none+ask');

    const first = await connect('gia', 'phone');
    await first.nothing(isPresence('gus@localhost', 'subscribe'), 'a request before initial presence', 200);
    await first.presence();
    const request = await first.next(isPresence('gus@localhost', 'subscribe'), 'the stored request');
    expect(request.getChildText('status')).toBe("I'm Gus");
    await first.stop();

    // Not answered: it comes again at the next login.
    const again = await online('gia', 'laptop');
    await again.next(isPresence('gus@localhost', 'subscribe'), 'the request again');
    await again.presence({ to: 'gus@localhost', type: 'subscribed' });
    await gus.next(isPresence('gia@localhost', 'subscribed'), 'the approval');
    await gus.next(isPush('gia@localhost', 'to'), 'push to');
    await gus.next(isPresence('gia@localhost/laptop'), "gia's presence");
    await again.stop();

    // Answered: no more.
    const third = await online('gia', 'tablet');
    await third.nothing(isPresence('gus@localhost', 'subscribe'), 'an answered request');
  });

  it('approves a pre-approved request on the user’s behalf (RFC 6121 §3.4)', async () => {
    const ida = await online('ida');
    await ida.presence({ to: 'ivo@localhost', type: 'subscribed' });
    const push = await ida.next(isPush('ivo@localhost', 'none'), 'push with approved');
    expect(push.getChild('query')?.getChild('item')?.attrs.approved).toBe('true');

    const ivo = await online('ivo');
    await ivo.presence({ to: 'ida@localhost', type: 'subscribe' });
    await ivo.next(isPresence('ida@localhost', 'subscribed'), 'the automatic approval');
    await ivo.next(isPush('ida@localhost', 'to'), 'push to');
    await ivo.next(isPresence('ida@localhost/res'), "ida's presence");
    await ida.next(isPush('ivo@localhost', 'from'), 'push from');
    await ida.nothing(isPresence('ivo@localhost', 'subscribe'), 'the request itself');
  });

  it('answers a request to an account that does not exist with unsubscribed, and refuses other domains', async () => {
    const kim = await online('kim');
    await kim.presence({ to: 'nobody@localhost', type: 'subscribe' });
    await kim.next(isPush('nobody@localhost', 'none', 'subscribe'), 'push none+ask');
    await kim.next(isPresence('nobody@localhost', 'unsubscribed'), 'the refusal');
    await kim.next(isPush('nobody@localhost', 'none'), 'push none');

    await kim.presence({ to: 'romeo@example.net', type: 'subscribe' });
    const error = await kim.next((el) => el.name === 'presence' && el.attrs.type === 'error', 'an error');
    expect(error.getChild('error')?.getChild('remote-server-not-found', STANZAS)).toBeTruthy();
  });
});

describe('presence (RFC 6121 §4)', () => {
  it('shows ben that ann came online, with her show and status, and her updates', async () => {
    const ann = await online('ann');
    const ben = await online('ben');
    await befriend(ann, ben);
    await ann.stop();

    const annAgain = await online('ann', 'phone', xml('show', {}, 'away'), xml('status', {}, 'At lunch'));
    const seen = await ben.next(isPresence('ann@localhost/phone'), "ann's initial presence");
    expect(seen.getChildText('show')).toBe('away');
    expect(seen.getChildText('status')).toBe('At lunch');
    // The probe on ann's behalf was answered from ben's session.
    await annAgain.next(isPresence('ben@localhost/res'), "ben's presence");

    await annAgain.presence({}, xml('show', {}, 'dnd'));
    const update = await ben.next(isPresence('ann@localhost/phone'), 'the update');
    expect(update.getChildText('show')).toBe('dnd');
  });

  it('tells contacts a resource is unavailable when its socket is lost', async () => {
    const lia = await online('lia', 'flaky');
    const leo = await online('leo');
    await befriend(lia, leo);
    await leo.next(isPresence('lia@localhost/flaky'), "lia's presence");
    lia.loseSocket();
    await leo.next(isPresence('lia@localhost/flaky', 'unavailable'), 'unavailable');
    expect(t.server.sessions.get('lia', 'flaky')).toBeUndefined();
  });

  it('remembers directed presence and sends unavailable there too (§4.6)', async () => {
    const cat = await online('cat');
    const cid = await online('cid');
    await cat.presence({ to: 'cid@localhost' }, xml('status', {}, 'just for you'));
    const directed = await cid.next(isPresence('cat@localhost/res'), 'the directed presence');
    expect(directed.getChildText('status')).toBe('just for you');
    // No subscription: a broadcast does not reach cid …
    await cat.presence({}, xml('show', {}, 'xa'));
    await cid.nothing(isPresence('cat@localhost/res'), 'a broadcast');
    // … but the unavailable does.
    await cat.stop();
    await cid.next(isPresence('cat@localhost/res', 'unavailable'), 'unavailable');
  });

  it('sends bare-JID chat to the highest-priority resource and none to a negative one', async () => {
    const hue = await online('hue');
    const pos = await online('hal', 'pos', xml('priority', {}, '1'));
    const neg = await online('hal', 'neg', xml('priority', {}, '-1'));
    expect(t.server.sessions.get('hal', 'neg')?.priority).toBe(-1);
    await hue.send(xml('message', { to: 'hal@localhost', type: 'chat' }, xml('body', {}, 'to the bare JID')));
    await pos.next(isChat('to the bare JID'), 'the chat');
    await neg.nothing(isChat('to the bare JID'), 'the chat');

    await neg.presence({}, xml('priority', {}, '200'));
    const error = await neg.next((el) => el.name === 'presence' && el.attrs.type === 'error', 'an error');
    expect(error.getChild('error')?.getChild('bad-request', STANZAS)).toBeTruthy();
  });

  it('does not deliver presence between a user and a contact they block (XEP-0191 §3.3)', async () => {
    const jay = await online('jay');
    const joy = await online('joy');
    await befriend(jay, joy);
    await joy.xmpp.iqCaller.request(
      xml('iq', { type: 'set' }, xml('block', { xmlns: 'urn:xmpp:blocking' }, xml('item', { jid: 'jay@localhost' }))),
    );
    await jay.presence({}, xml('status', {}, 'blocked?'));
    await joy.nothing((el) => el.name === 'presence' && el.getChildText('status') === 'blocked?', 'presence from a blocked contact');
    await joy.presence({}, xml('status', {}, 'hidden'));
    await jay.nothing((el) => el.name === 'presence' && el.getChildText('status') === 'hidden', 'presence from someone blocking us');
  });
});

describe('the roster (RFC 6121 §2)', () => {
  it('sets an item with name and groups and pushes it to every interested resource', async () => {
    const one = await online('dan', 'one');
    const two = await online('dan', 'two');
    const item = xml('item', { jid: 'Dot@LocalHost', name: 'Dot' }, xml('group', {}, 'Work'), xml('group', {}, '朋友'));
    await one.rosterSet(item);
    for (const r of [one, two]) {
      const push = await r.next(isPush('dot@localhost', 'none'), 'the push');
      expect(push.getChild('query')?.getChild('item')?.attrs.name).toBe('Dot');
    }
    expect(await two.rosterItems()).toEqual({ 'dot@localhost': { name: 'Dot', subscription: 'none', groups: ['Work', '朋友'] } });

    // A resource that never asked for the roster is not interested: no pushes.
    const quiet = await connect('dan', 'quiet');
    await one.rosterSet(xml('item', { jid: 'dot@localhost', name: 'Dorothy' }));
    await two.next(isPush('dot@localhost', 'none'), 'the second push');
    await quiet.nothing(isPush('dot@localhost', 'none'), 'a push');
  });

  it.each([
    ['two items', [xml('item', { jid: 'a@localhost' }), xml('item', { jid: 'b@localhost' })], 'bad-request'],
    ['an unknown subscription value', [xml('item', { jid: 'a@localhost', subscription: 'sometimes' })], 'bad-request'],
    ['a duplicate group', [xml('item', { jid: 'a@localhost' }, xml('group', {}, 'G'), xml('group', {}, 'G'))], 'bad-request'],
    ['an empty group', [xml('item', { jid: 'a@localhost' }, xml('group', {}, ''))], 'not-acceptable'],
    ['a name too long', [xml('item', { jid: 'a@localhost', name: 'x'.repeat(2000) })], 'not-acceptable'],
    ['a malformed JID', [xml('item', { jid: 'a@b@c' })], 'jid-malformed'],
    ['a full JID', [xml('item', { jid: 'a@localhost/r' })], 'jid-malformed'],
    ['yourself', [xml('item', { jid: 'dan@localhost' })], 'not-allowed'],
  ])('refuses a roster set with %s', async (_what, items, condition) => {
    const dan = await connect('dan', 'validator');
    const iq = xml('iq', { type: 'set' }, xml('query', { xmlns: ROSTER }, ...items));
    expect(await stanzaError(dan.xmpp.iqCaller.request(iq))).toBe(condition);
  });

  it('ignores a subscription value other than remove in a set (§2.1.2.5)', async () => {
    const dan = await connect('dan', 'ignorer');
    await dan.rosterSet(xml('item', { jid: 'zed@localhost', subscription: 'both' }));
    expect((await dan.rosterItems())['zed@localhost']).toMatchObject({ subscription: 'none' });
  });

  it('removes an item and cancels the subscription both ways (§2.5.2)', async () => {
    const eve = await online('eve');
    const eli = await online('eli');
    await befriend(eve, eli);
    await eli.next(isPresence('eve@localhost/res'), "eve's presence");

    await eve.rosterSet(xml('item', { jid: 'eli@localhost', subscription: 'remove' }));
    await eve.next(isPush('eli@localhost', 'remove'), 'push remove');
    await eli.next(isPresence('eve@localhost', 'unsubscribe'), 'unsubscribe');
    await eli.next(isPresence('eve@localhost', 'unsubscribed'), 'unsubscribed');
    await eli.next(isPresence('eve@localhost/res', 'unavailable'), "eve's unavailable");
    await eli.next(isPush('eve@localhost', 'none'), 'push none');

    expect(await eve.rosterItems()).toEqual({});
    expect(await eli.rosterItems()).toEqual({ 'eve@localhost': { subscription: 'none', groups: [] } });
    // Removing it again: there is nothing to remove.
    expect(await stanzaError(eve.rosterSet(xml('item', { jid: 'eli@localhost', subscription: 'remove' })))).toBe('item-not-found');
  });

  it('versions the roster: the same ver gets an empty result, changes come as pushes with the new ver', async () => {
    const fay = await connect('fay');
    const first = await fay.rosterGet('');
    const ver = first.getChild('query')?.attrs.ver as string;
    expect(ver).toBeDefined();
    const same = await fay.rosterGet(ver);
    expect(same.getChildElements()).toEqual([]);

    await fay.rosterSet(xml('item', { jid: 'friend@localhost' }));
    const push = await fay.next(isPush('friend@localhost', 'none'), 'the push');
    const newVer = push.getChild('query')?.attrs.ver as string;
    expect(newVer).toBeDefined();
    expect(newVer).not.toBe(ver);

    const stale = await fay.rosterGet(ver);
    expect(stale.getChild('query')?.attrs.ver).toBe(newVer);
    expect(stale.getChild('query')?.getChildren('item').map((i) => i.attrs.jid)).toEqual(['friend@localhost']);
    expect((await fay.rosterGet(newVer)).getChildElements()).toEqual([]);
  });
});

const slixmpp = slixmppAvailable();
if (!slixmpp && process.env.CI) throw new Error('python3-slixmpp is missing: .ci/run installs it');

describe.skipIf(!slixmpp)('with slixmpp', () => {
  it('a slixmpp user and an @xmpp/client user become mutual subscribers and see each other online', async () => {
    const tess = await online('tess');
    // tess approves sam's request and asks back; slixmpp approves automatically (auto_authorize).
    const tessSide = (async () => {
      await tess.next(isPresence('sam@localhost', 'subscribe'), "sam's request", 20_000);
      await tess.presence({ to: 'sam@localhost', type: 'subscribed' });
      await tess.presence({ to: 'sam@localhost', type: 'subscribe' });
      await tess.next(isPresence('sam@localhost', 'subscribed'), "sam's approval", 20_000);
      await tess.next(isPresence('sam@localhost/slix'), "sam's presence", 20_000);
    })();
    const events = await runSlixmpp({
      jid: 'sam@localhost/slix',
      password: PASSWORD,
      host: '127.0.0.1',
      port: t.server.ports.c2s,
      ca: path.join(t.config.dataDir, 'tls', 'localhost.crt'),
      steps: [
        { roster: true },
        { presence: true },
        { subscribe: 'tess@localhost' },
        { expect_online: 'tess@localhost' },
        { wait_subscription: { jid: 'tess@localhost', subscription: 'both' } },
        { roster: true },
        { sleep: 0.3 },
      ],
    });
    await tessSide;
    expect(events.filter((e) => e.event === 'error')).toEqual([]);
    expect(events.find((e) => e.event === 'online')).toMatchObject({ jid: 'tess@localhost' });
    expect(events.filter((e) => e.event === 'roster').at(-1)).toMatchObject({ items: { 'tess@localhost': { subscription: 'both' } } });
    expect(await tess.rosterItems()).toEqual({ 'sam@localhost': { subscription: 'both', groups: [] } });
  });
});
