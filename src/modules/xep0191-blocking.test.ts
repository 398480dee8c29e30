import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { isJidError, parseJid, type Jid } from '../stanza/jid.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { xml, type Element } from '../xml.ts';
import type { BlocklistStore } from './stores/blocklist-store.ts';
import { errorCondition, harness } from './test-kit.ts';
import { blockingModule, blocklistMatches, itemJids } from './xep0191-blocking.ts';

const jid = (s: string): Jid => {
  const j = parseJid(s);
  if (isJidError(j)) throw new Error(s);
  return j;
};

describe('XEP-0191 JID matching (after XEP-0016)', () => {
  it.each<[string[], string, boolean]>([
    [['romeo@montague.net'], 'romeo@montague.net', true],
    [['romeo@montague.net'], 'romeo@montague.net/orchard', true],
    [['romeo@montague.net/orchard'], 'romeo@montague.net/orchard', true],
    [['romeo@montague.net/orchard'], 'romeo@montague.net/garden', false],
    [['romeo@montague.net/orchard'], 'romeo@montague.net', false],
    [['montague.net/orchard'], 'montague.net/orchard', true],
    // As ejabberd reads XEP-0016: any address at that domain with that resource.
    [['montague.net/orchard'], 'romeo@montague.net/orchard', true],
    [['montague.net/orchard'], 'romeo@montague.net/garden', false],
    [['montague.net'], 'romeo@montague.net/orchard', true],
    [['montague.net'], 'montague.net', true],
    [['montague.net'], 'chat.montague.net', true],
    [['montague.net'], 'nurse@chat.montague.net', true],
    [['montague.net'], 'capulet.net', false],
    [['montague.net'], 'notmontague.net', false],
    [['chat.montague.net'], 'romeo@montague.net', false],
    [[], 'romeo@montague.net', false],
  ])('%j blocks %s: %s', (list, address, expected) => {
    expect(blocklistMatches(new Set(list), jid(address))).toBe(expected);
  });
});

describe('block/unblock items', () => {
  it('normalises JIDs', () => {
    const el = xml('block', { xmlns: NS.blocking }, xml('item', { jid: 'Romeo@Montague.NET/Orchard' }));
    expect(itemJids(el)).toEqual(['romeo@montague.net/Orchard']);
  });
  it('refuses a malformed JID and an item without one', () => {
    const bad = itemJids(xml('block', { xmlns: NS.blocking }, xml('item', { jid: 'a@b@c' })));
    expect(bad).toBeInstanceOf(StanzaError);
    expect((bad as StanzaError).condition).toBe('jid-malformed');
    expect((itemJids(xml('block', { xmlns: NS.blocking }, xml('item'))) as StanzaError).condition).toBe('bad-request');
  });
});

function memoryStore(initial: Record<string, string[]> = {}): BlocklistStore {
  const data = new Map<string, Set<string>>(Object.entries(initial).map(([k, v]) => [k, new Set(v)]));
  return {
    all: async () => new Map([...data].map(([k, v]) => [k, [...v]])),
    list: async (u) => [...(data.get(u) ?? [])].sort(),
    add: async (u, jids) => {
      const s = data.get(u) ?? new Set();
      for (const j of jids) s.add(j);
      data.set(u, s);
    },
    remove: async (u, jids) => {
      for (const j of jids) data.get(u)?.delete(j);
    },
    clear: async (u) => {
      data.delete(u);
    },
  };
}

const block = (...jids: string[]) => xml('block', { xmlns: NS.blocking }, ...jids.map((j) => xml('item', { jid: j })));
const unblock = (...jids: string[]) => xml('unblock', { xmlns: NS.blocking }, ...jids.map((j) => xml('item', { jid: j })));
const chat = (to: string, body: string) => xml('message', { to, type: 'chat' }, xml('body', {}, body));
const isPush = (name: string) => (el: Element) => el.name === 'iq' && el.attrs.type === 'set' && el.getChild(name, NS.blocking) !== undefined;

function setup(initial: Record<string, string[]> = {}) {
  const store = memoryStore(initial);
  const h = harness(({ sessions }) => [blockingModule({ store, sessions })], ['juliet', 'romeo', 'nurse']);
  return { h, store };
}

describe('XEP-0191 blocking command', () => {
  it('returns the block list, loaded at start', async () => {
    const { h } = setup({ juliet: ['romeo@localhost', 'example.org'] });
    const juliet = h.connect('juliet', 'chamber');
    const reply = await h.iq(juliet, 'get', xml('blocklist', { xmlns: NS.blocking }));
    const items = reply.getChild('blocklist', NS.blocking)?.getChildren('item').map((i) => i.attrs.jid);
    expect(items).toEqual(['example.org', 'romeo@localhost']);
  });

  it('refuses messages both ways once blocked, and delivers again after unblocking', async () => {
    const { h, store } = setup();
    const juliet = h.connect('juliet', 'chamber');
    const romeo = h.connect('romeo', 'orchard');
    expect(errorCondition(await h.iq(juliet, 'set', block('romeo@localhost')))).toBeUndefined();
    expect(await store.list('juliet')).toEqual(['romeo@localhost']);

    // 'User Blocks Contact': from the blocked contact: <service-unavailable/>, as if Juliet were offline.
    h.send(romeo, chat('juliet@localhost/chamber', 'Can you hear me?'));
    const bounced = await romeo.next((el) => el.name === 'message' && el.attrs.type === 'error');
    expect(errorCondition(bounced)).toBe('service-unavailable');
    expect(juliet.sent.some((el) => el.name === 'message')).toBe(false);

    // 'User Blocks Contact': to the blocked contact: <not-acceptable/> with <blocked/>.
    h.send(juliet, chat('romeo@localhost/orchard', 'Go away'));
    const refused = await juliet.next((el) => el.name === 'message' && el.attrs.type === 'error');
    expect(errorCondition(refused)).toBe('not-acceptable');
    expect(refused.getChild('error')?.getChild('blocked', NS.blockingErrors)).toBeDefined();

    // iq get/set from the blocked contact: <service-unavailable/>.
    const iqReply = await h.iq(romeo, 'get', xml('query', { xmlns: NS.version }), 'juliet@localhost/chamber');
    expect(errorCondition(iqReply)).toBe('service-unavailable');

    expect(errorCondition(await h.iq(juliet, 'set', unblock('romeo@localhost')))).toBeUndefined();
    h.send(romeo, chat('juliet@localhost/chamber', 'Now?'));
    const delivered = await juliet.next((el) => el.name === 'message' && el.attrs.type === 'chat');
    expect(delivered.getChildText('body')).toBe('Now?');
  });

  it('pushes changes to the resources that asked for the list, after the result', async () => {
    const { h } = setup();
    const chamber = h.connect('juliet', 'chamber');
    const balcony = h.connect('juliet', 'balcony');
    const garden = h.connect('juliet', 'garden'); // never asked for the list: no pushes
    await h.iq(chamber, 'get', xml('blocklist', { xmlns: NS.blocking }));
    await h.iq(balcony, 'get', xml('blocklist', { xmlns: NS.blocking }));
    const result = await h.iq(chamber, 'set', block('romeo@localhost', 'nurse@localhost'));
    const push = await balcony.next(isPush('block'));
    expect(push.attrs.to).toBe('juliet@localhost/balcony');
    expect(push.getChild('block', NS.blocking)?.getChildren('item').map((i) => i.attrs.jid)).toEqual(['romeo@localhost', 'nurse@localhost']);
    const own = await chamber.next(isPush('block'));
    expect(chamber.sent.indexOf(result)).toBeLessThan(chamber.sent.indexOf(own));

    await h.iq(chamber, 'set', xml('unblock', { xmlns: NS.blocking }));
    const all = await balcony.next(isPush('unblock'));
    expect(all.getChild('unblock', NS.blocking)?.children).toHaveLength(0);
    expect(garden.sent.some((el) => el.name === 'iq' && el.attrs.type === 'set')).toBe(false);
    const list = await h.iq(chamber, 'get', xml('blocklist', { xmlns: NS.blocking }));
    expect(list.getChild('blocklist', NS.blocking)?.children).toHaveLength(0);
  });

  it('matches a blocked full JID only for that resource', async () => {
    const { h } = setup();
    const juliet = h.connect('juliet', 'chamber');
    const orchard = h.connect('romeo', 'orchard');
    const garden = h.connect('romeo', 'garden');
    await h.iq(juliet, 'set', block('romeo@localhost/orchard'));
    h.send(orchard, chat('juliet@localhost/chamber', 'from the orchard'));
    h.send(garden, chat('juliet@localhost/chamber', 'from the garden'));
    const got = await juliet.next((el) => el.name === 'message');
    expect(got.getChildText('body')).toBe('from the garden');
    expect(errorCondition(await orchard.next((el) => el.name === 'message'))).toBe('service-unavailable');
  });

  it('refuses an empty block, someone else’s list, and an unknown command', async () => {
    const { h } = setup();
    const juliet = h.connect('juliet', 'chamber');
    expect(errorCondition(await h.iq(juliet, 'set', block()))).toBe('bad-request');
    expect(errorCondition(await h.iq(juliet, 'get', xml('blocklist', { xmlns: NS.blocking }), 'romeo@localhost'))).toBe('forbidden');
    expect(errorCondition(await h.iq(juliet, 'set', xml('ban', { xmlns: NS.blocking })))).toBe('bad-request');
    expect(errorCondition(await h.iq(juliet, 'set', block('not a jid@@')))).toBe('jid-malformed');
  });

  it('offers the synchronous service the presence module asks', async () => {
    const { h } = setup({ juliet: ['montague.net'] });
    h.connect('juliet', 'chamber');
    await new Promise((r) => setImmediate(r));
    const service = h.host.service('blocking');
    expect(service?.isBlocked('juliet', jid('romeo@montague.net/x'))).toBe(true);
    expect(service?.isBlocked('juliet', jid('nurse@capulet.net'))).toBe(false);
    expect(service?.isBlocked('nobody', jid('romeo@montague.net'))).toBe(false);
  });

  it('forgets a deleted user’s list', async () => {
    const { h } = setup({ juliet: ['romeo@localhost'] });
    await new Promise((r) => setImmediate(r));
    h.host.emit('user-deleted', { local: 'juliet' });
    expect(h.host.service('blocking')?.isBlocked('juliet', jid('romeo@localhost'))).toBe(false);
  });
});
