import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import { xml } from '../xml.ts';
import type { LastActivityStore, LastLogout } from './stores/last-activity-store.ts';
import { errorCondition, harness } from './test-kit.ts';
import { lastActivityAccess, lastActivityModule } from './xep0012-last.ts';

describe('who may see last activity (XEP-0012 Security Considerations)', () => {
  it.each([
    [{ self: true, blocked: false, subscription: undefined }, true],
    [{ self: false, blocked: false, subscription: 'from' }, true],
    [{ self: false, blocked: false, subscription: 'both' }, true],
    [{ self: false, blocked: false, subscription: 'to' }, false],
    [{ self: false, blocked: false, subscription: 'none' }, false],
    [{ self: false, blocked: false, subscription: undefined }, false],
    [{ self: false, blocked: true, subscription: 'both' }, false],
    [{ self: false, blocked: false, subscription: 'no-roster' }, false],
  ] as const)('%j → %s', (query, allowed) => {
    const d = lastActivityAccess(query);
    expect(d.allowed).toBe(allowed);
    expect(d.reason).not.toBe('');
  });
});

function memoryStore(): LastActivityStore & { data: Map<string, LastLogout> } {
  const data = new Map<string, LastLogout>();
  return {
    data,
    get: async (u) => data.get(u),
    record: async (entries) => {
      for (const [k, v] of entries) data.set(k, v);
    },
  };
}

/** juliet has romeo with subscription 'from' (romeo sees her presence); nurse has 'to'. */
const roster: WardenModule = {
  name: 'fake-roster',
  load: (ctx) =>
    ctx.provide('roster', {
      subscription: async (local, contact) =>
        local === 'juliet' ? ({ 'romeo@localhost': 'from', 'nurse@localhost': 'to' } as const)[contact] : undefined,
    }),
};

function setup(withRoster = true) {
  let clock = 1_700_000_000_000;
  const store = memoryStore();
  const h = harness(({ sessions }) => [lastActivityModule({ store, sessions, now: () => clock }), ...(withRoster ? [roster] : [])]);
  return { h, store, advance: (ms: number) => (clock += ms) };
}

const query = () => xml('query', { xmlns: NS.last });
const seconds = (reply: ReturnType<typeof xml>) => reply.getChild('query', NS.last)?.attrs.seconds;
const tick = () => new Promise((r) => setImmediate(r));

describe('XEP-0012 last activity', () => {
  it('answers the server’s uptime', async () => {
    const { h, advance } = setup();
    const romeo = h.connect('romeo', 'r');
    advance(123_456);
    expect(seconds(await h.iq(romeo, 'get', query(), 'localhost'))).toBe('123');
  });

  it('records the last logout with the last unavailable status and tells a subscribed contact', async () => {
    const { h, store, advance } = setup();
    const balcony = h.connect('juliet', 'balcony', { available: true });
    const chamber = h.connect('juliet', 'chamber', { available: true });
    h.host.emit('presence-out', { session: chamber.asSession, stanza: xml('presence', { type: 'unavailable' }, xml('status', {}, 'Heading Home')), to: undefined });
    h.disconnect(chamber);
    await tick();
    expect(store.data.has('juliet')).toBe(false); // balcony is still online

    const romeo = h.connect('romeo', 'orchard');
    expect(seconds(await h.iq(romeo, 'get', query(), 'juliet@localhost'))).toBe('0');

    h.host.emit('presence-out', { session: balcony.asSession, stanza: xml('presence', { type: 'unavailable' }, xml('status', {}, 'Good night')), to: undefined });
    h.disconnect(balcony);
    await tick();
    expect(store.data.get('juliet')?.status).toBe('Good night');
    advance(903_000);
    const reply = await h.iq(romeo, 'get', query(), 'juliet@localhost');
    expect(seconds(reply)).toBe('903');
    expect(reply.getChildText('query', NS.last)).toBe('Good night');
  });

  it('does not count a connected but unavailable resource as online', async () => {
    const { h, store } = setup();
    store.data.set('juliet', { at: new Date(1_700_000_000_000 - 10_000), status: undefined });
    h.connect('juliet', 'invisible', { available: false });
    const romeo = h.connect('romeo', 'orchard');
    expect(seconds(await h.iq(romeo, 'get', query(), 'juliet@localhost'))).toBe('10');
  });

  it('refuses someone not subscribed, and everyone but the user without a roster', async () => {
    const { h } = setup();
    const nurse = h.connect('nurse', 'n');
    expect(errorCondition(await h.iq(nurse, 'get', query(), 'juliet@localhost'))).toBe('forbidden');
    const bare = setup(false);
    const romeo = bare.h.connect('romeo', 'orchard');
    expect(errorCondition(await bare.h.iq(romeo, 'get', query(), 'juliet@localhost'))).toBe('forbidden');
  });

  it('refuses a contact the user blocked', async () => {
    const store = memoryStore();
    const blocking: WardenModule = { name: 'fake-blocking', load: (ctx) => ctx.provide('blocking', { isBlocked: (l, o) => l === 'juliet' && o.local === 'romeo' }) };
    const h = harness(({ sessions }) => [lastActivityModule({ store, sessions }), roster, blocking]);
    const romeo = h.connect('romeo', 'orchard');
    expect(errorCondition(await h.iq(romeo, 'get', query(), 'juliet@localhost'))).toBe('forbidden');
  });

  it('answers <item-not-found/> when nothing is known, and lets users ask about themselves', async () => {
    const { h } = setup();
    const romeo = h.connect('romeo', 'orchard');
    expect(errorCondition(await h.iq(romeo, 'get', query(), 'juliet@localhost'))).toBe('item-not-found');
    expect(errorCondition(await h.iq(romeo, 'get', query()))).toBe('item-not-found');
    romeo.available = true;
    expect(seconds(await h.iq(romeo, 'get', query()))).toBe('0');
  });
});
