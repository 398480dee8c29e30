// The roster module without sockets or SQL: roster-set validation (RFC 6121 §2.3.3) as a table,
// and the roster service over an in-memory store (caching, versions, pushes).
import { describe, expect, it } from 'vitest';
import { errorCondition, harness } from '../modules/test-kit.ts';
import { NS } from '../ns.ts';
import type { Database } from '../storage/database.types.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { xml, type Element } from '../xml.ts';
import { parseRosterSet, rosterModule } from './mod-roster.ts';
import type { RosterItem, RosterStore } from './roster-store.ts';

/** A RosterStore in memory that counts its calls. */
function memoryRosterStore(): RosterStore & { reads: number; writes: number } {
  const rows = new Map<string, Map<string, RosterItem>>();
  const versions = new Map<string, number>();
  const of = (u: string) => rows.get(u) ?? rows.set(u, new Map()).get(u)!;
  const bump = (u: string, b: boolean) => {
    if (b) versions.set(u, (versions.get(u) ?? 0) + 1);
    return versions.get(u) ?? 0;
  };
  const store = {
    reads: 0,
    writes: 0,
    async load(u: string) {
      store.reads++;
      return { version: versions.get(u) ?? 0, items: [...of(u).values()].sort((a, b) => (a.contact < b.contact ? -1 : 1)) };
    },
    async get(u: string, c: string) {
      store.reads++;
      return of(u).get(c);
    },
    async version(u: string) {
      store.reads++;
      return versions.get(u) ?? 0;
    },
    async put(u: string, item: RosterItem, b: boolean) {
      store.writes++;
      of(u).set(item.contact, item);
      return bump(u, b);
    },
    async remove(u: string, c: string, b: boolean) {
      store.writes++;
      of(u).delete(c);
      return bump(u, b);
    },
  };
  return store;
}

const item = (attrs: Record<string, string>, ...groups: string[]) =>
  xml('item', attrs, ...groups.map((g) => xml('group', {}, g)));
const query = (...items: Element[]) => xml('query', { xmlns: NS.roster }, ...items);

describe('parseRosterSet (RFC 6121 §2.3.3)', () => {
  it.each<[string, Element, string]>([
    ['no item', query(), 'bad-request'],
    ['two items', query(item({ jid: 'a@x' }), item({ jid: 'b@x' })), 'bad-request'],
    ['an item without jid', query(item({})), 'bad-request'],
    ['a malformed jid', query(item({ jid: '@x' })), 'jid-malformed'],
    ['a full jid', query(item({ jid: 'a@x/r' })), 'jid-malformed'],
    ['the user themself', query(item({ jid: 'Me@Localhost' })), 'not-allowed'],
    ['an undefined subscription value', query(item({ jid: 'a@x', subscription: 'maybe' })), 'bad-request'],
    ['a duplicate group', query(item({ jid: 'a@x' }, 'G', 'G')), 'bad-request'],
    ['an empty group', query(item({ jid: 'a@x' }, '')), 'not-acceptable'],
    ['a long group', query(item({ jid: 'a@x' }, 'g'.repeat(1024))), 'not-acceptable'],
    ['a long name', query(item({ jid: 'a@x', name: 'n'.repeat(1024) })), 'not-acceptable'],
    ['too many groups', query(item({ jid: 'a@x' }, ...Array.from({ length: 65 }, (_, i) => `g${i}`))), 'not-acceptable'],
  ])('refuses %s', (_what, q, condition) => {
    let error: unknown;
    try {
      parseRosterSet(q, 'me@localhost');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StanzaError);
    expect((error as StanzaError).condition).toBe(condition);
  });

  it('normalises the jid and keeps name and groups in order', () => {
    expect(parseRosterSet(query(item({ jid: 'Romeo@Example.NET', name: 'Romeo' }, 'Friends', '朋友')), 'me@localhost')).toEqual({
      remove: false,
      contact: 'romeo@example.net',
      name: 'Romeo',
      groups: ['Friends', '朋友'],
    });
  });

  it('ignores the defined subscription values other than remove, and an empty name (§2.1.2.5)', () => {
    expect(parseRosterSet(query(item({ jid: 'a@x', subscription: 'both', name: '' })), 'me@localhost')).toMatchObject({ remove: false, name: undefined });
  });

  it('reads a removal', () => {
    expect(parseRosterSet(query(item({ jid: 'a@x', subscription: 'remove' })), 'me@localhost')).toEqual({ remove: true, contact: 'a@x' });
  });
});

describe('the roster service', () => {
  function setup() {
    const store = memoryRosterStore();
    const h = harness(({ sessions }) => [rosterModule({ db: {} as Database, sessions, config: { domain: 'localhost' }, store })]);
    return { store, h };
  }

  it('serves the roster of an online user from memory after the first read', async () => {
    const { store, h } = setup();
    const s = h.connect('romeo', 'orchard');
    await h.iq(s, 'set', query(item({ jid: 'juliet@localhost', name: 'Juliet' })));
    const reads = store.reads;
    for (let i = 0; i < 5; i++) await h.iq(s, 'get', query());
    expect(store.reads).toBe(reads);
  });

  it('pushes to interested resources only, with ver when they asked with one', async () => {
    const { h } = setup();
    const versioned = h.connect('romeo', 'a');
    const plain = h.connect('romeo', 'b');
    const quiet = h.connect('romeo', 'c');
    await h.iq(versioned, 'get', xml('query', { xmlns: NS.roster, ver: '' }));
    await h.iq(plain, 'get', query());
    await h.iq(plain, 'set', query(item({ jid: 'juliet@localhost' })));
    const isPush = (el: Element) => el.name === 'iq' && el.attrs.type === 'set';
    expect((await versioned.next(isPush)).getChild('query')?.attrs.ver).toBe('1');
    expect((await plain.next(isPush)).getChild('query')?.attrs.ver).toBeUndefined();
    expect(quiet.sent.filter(isPush)).toEqual([]);
  });

  it('answers item-not-found to removing what is not there, and forbidden for another account', async () => {
    const { h } = setup();
    const s = h.connect('romeo', 'orchard');
    expect(errorCondition(await h.iq(s, 'set', query(item({ jid: 'x@localhost', subscription: 'remove' }))))).toBe('item-not-found');
    expect(errorCondition(await h.iq(s, 'get', query(), 'juliet@localhost'))).toBe('forbidden');
  });
});
