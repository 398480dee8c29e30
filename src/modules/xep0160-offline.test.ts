// Offline storage through the real router and a real database; 'presence-available' is emitted
// here by hand, as the presence module does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import { createUserStore } from '../storage/user-store.ts';
import { xml, type Element } from '../xml.ts';
import { createOfflineStore, type OfflineStore } from './stores/offline-store.ts';
import { errorCondition, harness, type FakeSession, type Harness } from './test-kit.ts';
import { offlineDecision, offlineModule } from './xep0160-offline.ts';

describe('what is kept for an offline account', () => {
  const msg = (...children: Element[]) => xml('message', { xmlns: NS.client, type: 'chat' }, ...children);
  it.each<[string, Element, boolean]>([
    ['a body', msg(xml('body', {}, 'hi')), true],
    ['a receipt request without body', msg(xml('request', { xmlns: 'urn:xmpp:receipts' })), true],
    ['an empty message', msg(), true],
    ['a chat state alone', msg(xml('composing', { xmlns: NS.chatStates })), false],
    ['a chat state with the archive’s stanza-id', msg(xml('active', { xmlns: NS.chatStates }), xml('stanza-id', { xmlns: NS.sid, id: '1', by: 'x' })), false],
    ['a chat state with a body', msg(xml('active', { xmlns: NS.chatStates }), xml('body', {}, 'hi')), true],
    ['a no-store hint', msg(xml('body', {}, 'hi'), xml('no-store', { xmlns: NS.hints })), false],
  ])('%s: %s', (_label, stanza, stored) => {
    expect(offlineDecision(stanza).store).toBe(stored);
  });

  it('refuses a no-store message with an error and drops chat states silently', () => {
    const hinted = offlineDecision(msg(xml('no-store', { xmlns: NS.hints })));
    expect(hinted.store === false && hinted.error?.condition).toBe('service-unavailable');
    const typing = offlineDecision(msg(xml('composing', { xmlns: NS.chatStates })));
    expect(typing.store === false && typing.error).toBeUndefined();
  });
});

let db: TestDatabase;
let store: OfflineStore;
beforeAll(async () => {
  db = await openTestDatabase();
  store = createOfflineStore(db.sql);
  const users = createUserStore(db.sql);
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina']) await users.create(u, []);
});
afterAll(async () => db?.close());

function setup(opts: { quota?: number; batchSize?: number; extra?: WardenModule[] } = {}): Harness {
  return harness(() => [offlineModule({ store, quota: opts.quota ?? 100, batchSize: opts.batchSize }), ...(opts.extra ?? [])], [
    'alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina',
  ]);
}

const chat = (to: string, body: string) => xml('message', { to, type: 'chat' }, xml('body', {}, body));
const bodies = (s: FakeSession) => s.sent.filter((el) => el.name === 'message' && el.attrs.type === 'chat').map((el) => el.getChildText('body'));

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function comeOnline(h: Harness, local: string, resource: string, priority = 0): FakeSession {
  const s = h.connect(local, resource, { available: true, priority });
  h.host.emit('presence-available', { session: s.asSession, initial: true });
  return s;
}

describe('XEP-0160 offline messages', () => {
  it('keeps messages for an offline account and delivers them in order with <delay/>, then deletes them', async () => {
    const h = setup();
    const alice = h.connect('alice', 'r');
    for (const n of ['one', 'two', 'three']) h.send(alice, chat('bob@localhost', n));
    await until(async () => (await store.count('bob')) === 3);

    const bob = comeOnline(h, 'bob', 'phone');
    await until(() => bodies(bob).length === 3);
    expect(bodies(bob)).toEqual(['one', 'two', 'three']);
    const first = bob.sent.find((el) => el.name === 'message')!;
    const delay = first.getChild('delay', NS.delay);
    expect(delay?.attrs.from).toBe('localhost');
    expect(Date.now() - Date.parse(String(delay?.attrs.stamp))).toBeLessThan(60_000);
    expect(first.attrs.from).toBe('alice@localhost/r');
    await until(async () => (await store.count('bob')) === 0);
  });

  it('bounces a message past the quota to its sender with <resource-constraint/>', async () => {
    const h = setup({ quota: 2 });
    const alice = h.connect('alice', 'r');
    for (const n of ['1', '2', '3']) h.send(alice, chat('carol@localhost', n));
    const bounce = await alice.next((el) => el.name === 'message' && el.attrs.type === 'error');
    expect(errorCondition(bounce)).toBe('resource-constraint');
    expect(bounce.getChild('error')?.attrs.type).toBe('wait');
    expect(bounce.getChildText('body')).toBe('3');
    expect(await store.count('carol')).toBe(2);
  });

  it('delivers nothing on a non-initial presence or to a negative priority', async () => {
    const h = setup();
    await store.add('dave', "<message xmlns='jabber:client' from='alice@localhost/r' to='dave@localhost' type='chat'><body>x</body></message>", 10);
    const negative = h.connect('dave', 'bot', { available: true, priority: -1 });
    h.host.emit('presence-available', { session: negative.asSession, initial: true });
    const again = h.connect('dave', 'desk', { available: true });
    h.host.emit('presence-available', { session: again.asSession, initial: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(bodies(negative)).toEqual([]);
    expect(bodies(again)).toEqual([]);
    expect(await store.count('dave')).toBe(1);
  });

  it('keeps what it could not write when the session closes mid-way', async () => {
    const h = setup({ batchSize: 1 });
    for (const n of ['a', 'b', 'c']) {
      await store.add('erin', `<message xmlns='jabber:client' from='alice@localhost/r' type='chat'><body>${n}</body></message>`, 10);
    }
    const erin = h.connect('erin', 'laptop', { available: true });
    erin.onSend = (el) => {
      if (el.name === 'message') h.disconnect(erin);
    };
    h.host.emit('presence-available', { session: erin.asSession, initial: true });
    await until(() => bodies(erin).length === 1);
    await until(async () => (await store.count('erin')) === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.count('erin')).toBe(2);

    const next = comeOnline(h, 'erin', 'phone');
    await until(() => bodies(next).length === 2);
    expect(bodies(next)).toEqual(['b', 'c']);
  });

  it('drops, at delivery, messages from someone the user has blocked since', async () => {
    const blocker: WardenModule = {
      name: 'fake-blocking',
      load: (ctx) => ctx.provide('blocking', { isBlocked: (local, other) => local === 'frank' && other.local === 'mallory' }),
    };
    const h = setup({ extra: [blocker] });
    await store.add('frank', "<message xmlns='jabber:client' from='mallory@localhost/x' type='chat'><body>spam</body></message>", 10);
    await store.add('frank', "<message xmlns='jabber:client' from='alice@localhost/r' type='chat'><body>hello</body></message>", 10);
    const frank = comeOnline(h, 'frank', 'r');
    await until(async () => (await store.count('frank')) === 0);
    expect(bodies(frank)).toEqual(['hello']);
  });

  it('delivers once when two resources come online together', async () => {
    const h = setup();
    await store.add('gina', "<message xmlns='jabber:client' from='alice@localhost/r' type='chat'><body>once</body></message>", 10);
    const a = comeOnline(h, 'gina', 'a');
    const b = comeOnline(h, 'gina', 'b');
    await until(async () => (await store.count('gina')) === 0);
    await new Promise((r) => setTimeout(r, 50));
    expect([...bodies(a), ...bodies(b)]).toEqual(['once']);
  });

  it('stores one account’s messages in the order they were handed over, however slow each insert', async () => {
    const order: string[] = [];
    const slow: OfflineStore = {
      ...store,
      add: async (_u, text) => {
        await new Promise((r) => setTimeout(r, Math.random() * 20));
        order.push(text);
        return true;
      },
    };
    const h = harness(() => [offlineModule({ store: slow, quota: 10 })]);
    const service = h.host.service('offline')!;
    const texts = Array.from({ length: 8 }, (_, i) => String(i));
    await Promise.all(texts.map((n) => service.store('someone', xml('message', { type: 'chat' }, xml('body', {}, n)))));
    expect(order.map((t) => /<body>(\d)<\/body>/.exec(t)![1])).toEqual(texts);
  });

  it('advertises msgoffline, and provides nothing with a quota of 0', () => {
    expect(setup().host.discoFeatures()).toEqual([NS.offline]);
    const off = setup({ quota: 0 });
    expect(off.host.discoFeatures()).toEqual([]);
    expect(off.host.service('offline')).toBeUndefined();
  });
});
