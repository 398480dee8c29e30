import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { xml } from '../xml.ts';
import type { PrivateStore } from './stores/private-store.ts';
import { errorCondition, harness } from './test-kit.ts';
import { isReservedNamespace, privateKeyOf, privateStorageModule } from './xep0049-private.ts';

describe('XEP-0049 reserved namespaces', () => {
  it.each([
    ['jabber:iq:roster', true],
    ['jabber:x:data', true],
    ['http://jabber.org/protocol/disco#info', true],
    ['vcard-temp', true],
    ['storage:bookmarks', false],
    ['exodus:prefs', false],
    ['urn:xmpp:bookmarks:1', false],
  ])('%s reserved: %s', (ns, reserved) => {
    expect(isReservedNamespace(ns)).toBe(reserved);
  });

  it('keys an element by namespace and local name, and needs a namespace of its own', () => {
    const query = xml('query', { xmlns: NS.privateStorage, 'xmlns:p': 'urn:p' }, xml('p:prefs'), xml('plain'));
    const [prefixed, plain] = query.getChildElements();
    expect(privateKeyOf(prefixed!)).toEqual({ namespace: 'urn:p', name: 'prefs' });
    expect((privateKeyOf(plain!) as StanzaError).condition).toBe('not-acceptable');
  });
});

function setup() {
  const data = new Map<string, string>();
  const key = (u: string, ns: string, name: string) => `${u} ${ns} ${name}`;
  const store: PrivateStore = {
    get: async (u, k) => data.get(key(u, k.namespace, k.name)),
    set: async (u, entries) => {
      for (const e of entries) {
        if (e.element === undefined) data.delete(key(u, e.namespace, e.name));
        else data.set(key(u, e.namespace, e.name), e.element);
      }
    },
  };
  return { h: harness(() => [privateStorageModule({ store })]), data };
}

const query = (...children: ReturnType<typeof xml>[]) => xml('query', { xmlns: NS.privateStorage }, ...children);
const stored = (reply: ReturnType<typeof xml>) => reply.getChild('query', NS.privateStorage)?.getChildElements()[0];

describe('XEP-0049 private XML storage', () => {
  it('stores an element and returns it; an unknown one comes back empty', async () => {
    const { h } = setup();
    const hamlet = h.connect('hamlet', 'denmark');
    const prefs = xml('exodus', { xmlns: 'exodus:prefs' }, xml('defaultnick', {}, 'Hamlet'));
    expect(errorCondition(await h.iq(hamlet, 'set', query(prefs)))).toBeUndefined();
    const got = stored(await h.iq(hamlet, 'get', query(xml('exodus', { xmlns: 'exodus:prefs' }))));
    expect(got?.getChildText('defaultnick')).toBe('Hamlet');
    const none = stored(await h.iq(hamlet, 'get', query(xml('other', { xmlns: 'urn:other' }))));
    expect(none?.toString()).toBe('<other xmlns="urn:other"/>');
  });

  it('keeps a prefixed element readable outside its request', async () => {
    const { h } = setup();
    const hamlet = h.connect('hamlet', 'denmark');
    const set = xml('query', { xmlns: NS.privateStorage, 'xmlns:b': 'storage:bookmarks' }, xml('b:storage', {}, xml('b:conference', { jid: 'room@muc' })));
    expect(errorCondition(await h.iq(hamlet, 'set', set))).toBeUndefined();
    const got = stored(await h.iq(hamlet, 'get', query(xml('storage', { xmlns: 'storage:bookmarks' }))));
    expect(got?.getNS()).toBe('storage:bookmarks');
    expect(got?.getChildElements()[0]?.getNS()).toBe('storage:bookmarks');
  });

  it('deletes with an empty element, and the last of two equal elements wins', async () => {
    const { h, data } = setup();
    const hamlet = h.connect('hamlet', 'denmark');
    await h.iq(hamlet, 'set', query(xml('n', { xmlns: 'urn:n' }, '1'), xml('n', { xmlns: 'urn:n' }, '2')));
    expect(stored(await h.iq(hamlet, 'get', query(xml('n', { xmlns: 'urn:n' }))))?.getText()).toBe('2');
    await h.iq(hamlet, 'set', query(xml('n', { xmlns: 'urn:n' })));
    expect(data.size).toBe(0);
  });

  it('refuses reserved namespaces, empty queries, other users and multi-element gets', async () => {
    const { h } = setup();
    const hamlet = h.connect('hamlet', 'denmark');
    expect(errorCondition(await h.iq(hamlet, 'set', query(xml('vCard', { xmlns: NS.vcard }))))).toBe('not-acceptable');
    expect(errorCondition(await h.iq(hamlet, 'get', query(xml('query', { xmlns: 'jabber:iq:roster' }))))).toBe('not-acceptable');
    expect(errorCondition(await h.iq(hamlet, 'set', query()))).toBe('not-acceptable');
    expect(errorCondition(await h.iq(hamlet, 'get', query()))).toBe('bad-request');
    expect(errorCondition(await h.iq(hamlet, 'get', query(xml('a', { xmlns: 'urn:a' }), xml('b', { xmlns: 'urn:b' }))))).toBe('bad-request');
    const other = await h.iq(hamlet, 'set', query(xml('exodus', { xmlns: 'exodus:prefs' })), 'macbeth@localhost');
    expect(errorCondition(other)).toBe('forbidden');
  });
});
