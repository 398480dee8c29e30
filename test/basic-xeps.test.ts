// The basic XEPs as dialogues between real clients this team did not write (@xmpp/client over
// TCP+STARTTLS, slixmpp for one scenario, a raw TLS socket for a dead connection) and a real
// Warden: service discovery, version, time, ping both ways, vCards, private storage, blocking,
// last activity, offline messages with delay, in-band registration.
//
// Offline delivery and a contact's last activity also need the presence and roster modules
// (initial presence emits 'presence-available'; subscriptions come from the roster).
import path from 'node:path';
import tls from 'node:tls';
import { xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../src/modules/xep0092-version.ts';
import { runSlixmpp, slixmppAvailable } from './support/slixmpp.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { xmppClient } from './support/xmpp.ts';

// The generated certificate is self-signed; @xmpp/client offers no way to pin it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

const NS = {
  disco: 'http://jabber.org/protocol/disco#info',
  version: 'jabber:iq:version',
  time: 'urn:xmpp:time',
  ping: 'urn:xmpp:ping',
  vcard: 'vcard-temp',
  private: 'jabber:iq:private',
  blocking: 'urn:xmpp:blocking',
  blockingErrors: 'urn:xmpp:blocking:errors',
  last: 'jabber:iq:last',
  register: 'jabber:iq:register',
  delay: 'urn:xmpp:delay',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  roster: 'jabber:iq:roster',
};
const PASSWORD = 'secret';
const OFFLINE_QUOTA = 3;

type Match = (el: Element) => boolean;

/** One connected resource; what it receives is kept for the dialogue to consume. */
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
    // Pushes (block list, roster) are acknowledged; the 'stanza' listener above records them.
    xmpp.iqCallee.set(NS.blocking, 'block', () => true);
    xmpp.iqCallee.set(NS.blocking, 'unblock', () => true);
    xmpp.iqCallee.set(NS.roster, 'query', () => true);
  }

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

  /** Nothing matching arrives within `ms`. */
  async nothing(match: Match, ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    expect(this.inbox.filter(match).map(String)).toEqual([]);
  }

  /** An iq request; resolves with the result iq, rejects with the stanza error (its .condition). */
  iq(type: 'get' | 'set', payload: Element, to?: string): Promise<Element> {
    return this.xmpp.iqCaller.request(xml('iq', to === undefined ? { type } : { type, to }, payload)) as Promise<Element>;
  }

  send(stanza: Element): Promise<void> {
    return this.xmpp.send(stanza);
  }

  stop(): Promise<void> {
    return this.xmpp.stop().then(
      () => undefined,
      () => undefined,
    );
  }
}

interface Server {
  t: TestServer;
  open: Peer[];
}

async function connect(s: Server, local: string, resource: string, password = PASSWORD): Promise<Peer> {
  const xmpp = xmppClient(s.t.server.ports.c2s, local, password, resource);
  xmpp.on('error', () => {});
  const peer = new Peer(xmpp, local, resource);
  await xmpp.start();
  s.open.push(peer);
  return peer;
}

const chat = (to: string, body: string) => xml('message', { to, type: 'chat' }, xml('body', {}, body));
const isMessage = (type: string, body?: string): Match => (el) =>
  el.name === 'message' && el.attrs.type === type && (body === undefined || el.getChildText('body') === body);
const errorCondition = (el: Element) =>
  el.getChild('error')?.children.find((c): c is Element => typeof c !== 'string' && c.attrs.xmlns === NS.stanzas && c.name !== 'text')?.name;
const conditionOf = async (p: Promise<unknown>) => p.then(() => 'no error', (err: { condition?: string }) => err.condition);

const main: Server = { t: undefined as unknown as TestServer, open: [] };

/**
 * Messages waiting in offline storage for `local`. The tests wait on it because the router does
 * not yet keep one sender's messages in order on their way to an account with no session (each
 * awaits its own accountExists query on the pool), so "sent in order" is not yet "stored in order".
 */
async function storedCount(local: string): Promise<number> {
  const [row] = await main.t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM offline_messages WHERE username = ${local}`;
  return row?.n ?? 0;
}

async function until(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hugo', 'iris'];

beforeAll(async () => {
  main.t = await startTestServer({ OFFLINE_QUOTA: String(OFFLINE_QUOTA) });
  for (const u of USERS) await main.t.addUser(u, PASSWORD);
});
afterEach(async () => {
  await Promise.all(main.open.splice(0).map((p) => p.stop()));
});
afterAll(async () => main.t?.close());

describe('service discovery', () => {
  it('lists exactly the features of the loaded modules, sorted, without in-band registration when off', async () => {
    const alice = await connect(main, 'alice', 'disco');
    const info = await alice.iq('get', xml('query', { xmlns: NS.disco }), 'localhost');
    const features = info.getChild('query', NS.disco)!.getChildren('feature').map((f) => String(f.attrs.var));
    // A module that registers a disco feature adds it here: the list is part of the server's contract.
    expect(features).toEqual(
      [
        'http://jabber.org/protocol/disco#info',
        'http://jabber.org/protocol/disco#items',
        'jabber:iq:last',
        'jabber:iq:private',
        'jabber:iq:version',
        'msgoffline',
        'urn:xmpp:blocking',
        'urn:xmpp:mam:2',
        'urn:xmpp:mam:2#extended',
        'urn:xmpp:ping',
        'urn:xmpp:time',
        'vcard-temp',
      ].sort(),
    );
  });
});

describe('server information', () => {
  it('tells its software name and version, but not its operating system (XEP-0092)', async () => {
    const alice = await connect(main, 'alice', 'version');
    const query = (await alice.iq('get', xml('query', { xmlns: NS.version }), 'localhost')).getChild('query', NS.version)!;
    expect(query.getChildText('name')).toBe('Warden');
    expect(query.getChildText('version')).toBe(packageVersion());
    expect(query.getChild('os')).toBeUndefined();
  });

  it('tells its time (XEP-0202)', async () => {
    const alice = await connect(main, 'alice', 'time');
    const time = (await alice.iq('get', xml('time', { xmlns: NS.time }), 'localhost')).getChild('time', NS.time)!;
    expect(Math.abs(Date.parse(time.getChildText('utc')!) - Date.now())).toBeLessThan(5000);
    expect(time.getChildText('tzo')).toMatch(/^[+-]\d\d:\d\d$/);
  });

  it('answers a client’s ping (XEP-0199 §4.2)', async () => {
    const alice = await connect(main, 'alice', 'ping');
    const reply = await alice.iq('get', xml('ping', { xmlns: NS.ping }), 'localhost');
    expect(reply.attrs.type).toBe('result');
  });

  it('tells its uptime to anyone, and a user’s last activity to no stranger (XEP-0012)', async () => {
    const alice = await connect(main, 'alice', 'last');
    const uptime = (await alice.iq('get', xml('query', { xmlns: NS.last }), 'localhost')).getChild('query', NS.last)!;
    expect(Number(uptime.attrs.seconds)).toBeGreaterThanOrEqual(0);
    expect(await conditionOf(alice.iq('get', xml('query', { xmlns: NS.last }), 'iris@localhost'))).toBe('forbidden');
  });
});

describe('vCards (XEP-0054)', () => {
  it('alice publishes her vCard; she and bob read it; bob cannot overwrite it', async () => {
    const alice = await connect(main, 'alice', 'vcard');
    const bob = await connect(main, 'bob', 'vcard');
    await alice.iq('set', xml('vCard', { xmlns: NS.vcard }, xml('FN', {}, 'Alice Liddell'), xml('NICKNAME', {}, 'Al & co')));
    const own = (await alice.iq('get', xml('vCard', { xmlns: NS.vcard }))).getChild('vCard', NS.vcard)!;
    expect(own.getChildText('FN')).toBe('Alice Liddell');
    const seen = (await bob.iq('get', xml('vCard', { xmlns: NS.vcard }), 'alice@localhost')).getChild('vCard', NS.vcard)!;
    expect(seen.getChildText('NICKNAME')).toBe('Al & co');
    expect(await conditionOf(bob.iq('set', xml('vCard', { xmlns: NS.vcard }, xml('FN', {}, 'Bob')), 'alice@localhost'))).toBe('forbidden');
    expect(await conditionOf(bob.iq('get', xml('vCard', { xmlns: NS.vcard }), 'iris@localhost'))).toBe('item-not-found');
  });

  it('refuses a vCard over 64 KiB with <not-acceptable/>', async () => {
    const alice = await connect(main, 'alice', 'bigvcard');
    const photo = xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, 'A'.repeat(70 * 1024)));
    expect(await conditionOf(alice.iq('set', xml('vCard', { xmlns: NS.vcard }, photo)))).toBe('not-acceptable');
  });
});

describe('private XML storage (XEP-0049)', () => {
  it('keeps bob’s bookmarks for bob alone, and refuses reserved namespaces', async () => {
    const bob = await connect(main, 'bob', 'private');
    const alice = await connect(main, 'alice', 'private');
    const bookmarks = xml('storage', { xmlns: 'storage:bookmarks' }, xml('conference', { jid: 'tea@party.localhost', autojoin: 'true' }));
    await bob.iq('set', xml('query', { xmlns: NS.private }, bookmarks));
    const got = (await bob.iq('get', xml('query', { xmlns: NS.private }, xml('storage', { xmlns: 'storage:bookmarks' }))))
      .getChild('query', NS.private)!
      .getChild('storage', 'storage:bookmarks')!;
    expect(got.getChild('conference')?.attrs.jid).toBe('tea@party.localhost');
    expect(await conditionOf(alice.iq('get', xml('query', { xmlns: NS.private }, xml('storage', { xmlns: 'storage:bookmarks' })), 'bob@localhost'))).toBe(
      'forbidden',
    );
    expect(await conditionOf(bob.iq('set', xml('query', { xmlns: NS.private }, xml('query', { xmlns: 'jabber:iq:roster' }))))).toBe('not-acceptable');
  });
});

describe('blocking (XEP-0191)', () => {
  it('bob blocks alice: her messages bounce, his are refused, his other resource hears of it; unblocking restores delivery', async () => {
    const alice = await connect(main, 'alice', 'block');
    const bob = await connect(main, 'bob', 'desk');
    const bobPhone = await connect(main, 'bob', 'phone');
    // Pushes go to the resources that asked for the list (XEP-0191 'User Blocks Contact').
    await bobPhone.iq('get', xml('blocklist', { xmlns: NS.blocking }));
    await bob.iq('set', xml('block', { xmlns: NS.blocking }, xml('item', { jid: 'alice@localhost' })));
    const push = await bobPhone.next((el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('block', NS.blocking), 'a block push');
    expect(push.getChild('block', NS.blocking)!.getChild('item')?.attrs.jid).toBe('alice@localhost');
    const list = (await bob.iq('get', xml('blocklist', { xmlns: NS.blocking }))).getChild('blocklist', NS.blocking)!;
    expect(list.getChildren('item').map((i) => i.attrs.jid)).toEqual(['alice@localhost']);

    await alice.send(chat(bob.full, 'Knock knock'));
    const bounce = await alice.next(isMessage('error'), 'an error for her blocked message');
    expect(errorCondition(bounce)).toBe('service-unavailable');
    await bob.nothing(isMessage('chat'));

    await bob.send(chat(alice.full, 'Not you'));
    const refused = await bob.next(isMessage('error'), 'an error for messaging someone he blocked');
    expect(errorCondition(refused)).toBe('not-acceptable');
    expect(refused.getChild('error')!.getChild('blocked', NS.blockingErrors)).toBeDefined();

    await bob.iq('set', xml('unblock', { xmlns: NS.blocking }, xml('item', { jid: 'alice@localhost' })));
    await bobPhone.next((el) => el.name === 'iq' && el.attrs.type === 'set' && !!el.getChild('unblock', NS.blocking), 'an unblock push');
    await alice.send(chat(bob.full, 'Who is there?'));
    const delivered = await bob.next(isMessage('chat', 'Who is there?'), 'alice’s message after unblocking');
    expect(delivered.attrs.from).toBe(alice.full);
  });
});

describe('offline messages (XEP-0160, XEP-0203)', () => {
  it('keeps messages for dave while he is offline and refuses the one past the quota', async () => {
    const alice = await connect(main, 'alice', 'quota');
    const notes = Array.from({ length: OFFLINE_QUOTA + 1 }, (_, i) => `note ${i + 1}`);
    for (const note of notes) await alice.send(chat('dave@localhost', note));
    const bounce = await alice.next(isMessage('error'), 'a quota error');
    expect(errorCondition(bounce)).toBe('resource-constraint');
    expect(bounce.getChild('error')?.attrs.type).toBe('wait');
    // Which note is refused depends on the order the router hands them over (see storedCount).
    expect(notes).toContain(bounce.getChildText('body'));
    await alice.nothing(isMessage('error'));
    expect(await storedCount('dave')).toBe(OFFLINE_QUOTA);
  });

  it('delivers erin’s messages at her next login, in order, with <delay/>, and only once', async () => {
    const alice = await connect(main, 'alice', 'sender');
    const sentAt = Date.now();
    // One at a time, each stored before the next is sent (see storedCount).
    for (const [i, body] of ['first', 'second', 'third'].entries()) {
      await alice.send(chat('erin@localhost', body));
      await until(async () => (await storedCount('erin')) === i + 1, `message ${i + 1} stored`);
    }

    const erin = await connect(main, 'erin', 'home');
    await erin.send(xml('presence'));
    const got: Element[] = [];
    for (let i = 0; i < 3; i++) got.push(await erin.next(isMessage('chat'), `offline message ${i + 1} (needs the presence module)`));
    expect(got.map((m) => m.getChildText('body'))).toEqual(['first', 'second', 'third']);
    for (const m of got) {
      expect(m.attrs.from).toBe(alice.full);
      const delay = m.getChild('delay', NS.delay)!;
      expect(delay.attrs.from).toBe('localhost');
      const stamp = Date.parse(String(delay.attrs.stamp));
      expect(stamp).toBeGreaterThanOrEqual(sentAt - 1000);
      expect(stamp).toBeLessThanOrEqual(Date.now());
    }
    await erin.stop();

    const again = await connect(main, 'erin', 'again');
    await again.send(xml('presence'));
    await again.nothing(isMessage('chat'), 500);
  });
});

describe('last activity of a contact (XEP-0012)', () => {
  it('frank, subscribed to gina, learns how long ago she left and what she said (needs the roster and presence modules)', async () => {
    const frank = await connect(main, 'frank', 'r');
    const gina = await connect(main, 'gina', 'r');
    await frank.send(xml('presence'));
    await gina.send(xml('presence'));
    // RFC 6121 §3.1: frank asks, gina approves: gina's roster has frank with subscription 'from'.
    await frank.send(xml('presence', { to: 'gina@localhost', type: 'subscribe' }));
    await gina.next((el) => el.name === 'presence' && el.attrs.type === 'subscribe', 'frank’s subscription request');
    await gina.send(xml('presence', { to: 'frank@localhost', type: 'subscribed' }));
    await frank.next((el) => el.name === 'presence' && el.attrs.type === 'subscribed', 'gina’s approval');

    const online = (await frank.iq('get', xml('query', { xmlns: NS.last }), 'gina@localhost')).getChild('query', NS.last)!;
    expect(online.attrs.seconds).toBe('0');

    await gina.send(xml('presence', { type: 'unavailable' }, xml('status', {}, 'Off to tea')));
    await gina.stop();
    await new Promise((r) => setTimeout(r, 1200));
    const last = (await frank.iq('get', xml('query', { xmlns: NS.last }), 'gina@localhost')).getChild('query', NS.last)!;
    expect(Number(last.attrs.seconds)).toBeGreaterThanOrEqual(1);
    expect(last.getText()).toBe('Off to tea');

    // hugo is no contact of gina's.
    const hugo = await connect(main, 'hugo', 'r');
    expect(await conditionOf(hugo.iq('get', xml('query', { xmlns: NS.last }), 'gina@localhost'))).toBe('forbidden');
  });
});

const slixmpp = slixmppAvailable();
describe.skipIf(!slixmpp)('slixmpp', () => {
  it('receives an offline message with its delay stamp at login (needs the presence module)', async () => {
    const alice = await connect(main, 'alice', 'to-carol');
    await alice.send(chat('carol@localhost', 'Tea at four'));
    await until(async () => (await storedCount('carol')) === 1, 'the message stored');
    const events = await runSlixmpp({
      jid: 'carol@localhost/slix',
      password: PASSWORD,
      host: '127.0.0.1',
      port: main.t.server.ports.c2s,
      ca: path.join(main.t.config.dataDir, 'tls', 'localhost.crt'),
      steps: [{ presence: true }, { expect_messages: 1, timeout: 10 }],
    });
    const message = events.find((e) => e.event === 'message');
    expect(message).toMatchObject({ frm: 'alice@localhost/to-carol', body: 'Tea at four', type: 'chat' });
    expect(typeof message?.delay).toBe('string');
    expect(Math.abs(Date.parse(String(message?.delay)) - Date.now())).toBeLessThan(60_000);
  });
});

// A second server: an idle session is pinged after 300 ms and must answer within 2 s (generous:
// a loaded test machine must not make live clients look dead); in-band registration on.
describe('with short pings and in-band registration', () => {
  const fast: Server = { t: undefined as unknown as TestServer, open: [] };
  beforeAll(async () => {
    fast.t = await startTestServer({ PING_INTERVAL_MS: '300', PING_TIMEOUT_MS: '2000', REGISTRATION_ENABLED: 'true' });
    for (const u of ['live', 'dead', 'bill', 'ben']) await fast.t.addUser(u, PASSWORD);
  });
  afterEach(async () => {
    await Promise.all(fast.open.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => fast.t?.close());

  it('pings an idle @xmpp/client, which answers and stays connected (XEP-0199 §4.1)', async () => {
    const live = await connect(fast, 'live', 'r');
    const ping = await live.next((el) => el.name === 'iq' && el.attrs.type === 'get' && !!el.getChild('ping', NS.ping), 'a server ping', 3000);
    expect(ping.attrs.from).toBe('localhost');
    // Longer than interval + timeout: had it not answered, it would be gone by now.
    await new Promise((r) => setTimeout(r, 2600));
    expect(live.xmpp.status).toBe('online');
    expect(fast.t.server.sessions.get('live', 'r')).toBeDefined();
  });

  it('closes a connection that authenticated and then went silent with <connection-timeout/>', async () => {
    const dead = await rawLogin(fast.t.server.ports.c2sTls, 'dead', PASSWORD, 'gone');
    expect(fast.t.server.sessions.get('dead', 'gone')).toBeDefined();
    const ended = await dead.closed(8000);
    expect(ended).toContain('<connection-timeout');
    expect(fast.t.server.sessions.get('dead', 'gone')).toBeUndefined();
  });

  it('advertises in-band registration and lets bill change his password', async () => {
    const bill = await connect(fast, 'bill', 'r');
    const info = await bill.iq('get', xml('query', { xmlns: NS.disco }), 'localhost');
    expect(info.getChild('query', NS.disco)!.getChildren('feature').map((f) => f.attrs.var)).toContain(NS.register);
    await bill.iq('set', xml('query', { xmlns: NS.register }, xml('username', {}, 'bill'), xml('password', {}, 'new-secret')), 'localhost');
    await bill.stop();
    const relogged = await connect(fast, 'bill', 'again', 'new-secret');
    expect(relogged.xmpp.status).toBe('online');
    await expect(connect(fast, 'bill', 'old', PASSWORD)).rejects.toMatchObject({ condition: 'not-authorized' });
  });

  it('lets ben remove his account, closing his streams', async () => {
    const ben = await connect(fast, 'ben', 'r');
    const streamError = new Promise<string>((resolve) => ben.xmpp.on('error', (err: { condition?: string }) => resolve(String(err.condition))));
    await ben.iq('set', xml('query', { xmlns: NS.register }, xml('remove')));
    expect(await streamError).toBe('not-authorized');
    await expect(connect(fast, 'ben', 'again')).rejects.toMatchObject({ condition: 'not-authorized' });
  });
});

/** A client that logs in over direct TLS by hand, binds, and then never answers anything. */
async function rawLogin(port: number, user: string, password: string, resource: string): Promise<{ closed(ms: number): Promise<string> }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['xmpp-client'] });
  let received = '';
  let onData: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    received += d.toString('utf8');
    onData?.();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => {});
  const until = (text: string, from: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${text} in ${received}`)), 5000);
      onData = () => {
        if (received.indexOf(text, from) >= 0) {
          clearTimeout(timer);
          onData = undefined;
          resolve();
        }
      };
      onData();
    });
  const header = `<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`;
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  let mark = received.length;
  socket.write(header);
  await until('</stream:features>', mark);
  mark = received.length;
  socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${Buffer.from(`\0${user}\0${password}`).toString('base64')}</auth>`);
  await until('<success', mark);
  mark = received.length;
  socket.write(header);
  await until('</stream:features>', mark);
  mark = received.length;
  socket.write(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${resource}</resource></bind></iq>`);
  await until('</iq>', mark);
  return {
    closed: async (ms) => {
      await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error(`still open; received ${received}`)), ms))]);
      return received;
    },
  };
}
