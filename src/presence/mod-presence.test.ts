// The presence module without sockets or SQL (the modules' test kit, an in-memory roster store):
// the cases a dialogue between real clients reaches only with difficulty.
import { describe, expect, it } from 'vitest';
import { errorCondition, harness, type FakeSession } from '../modules/test-kit.ts';
import { NS } from '../ns.ts';
import { rosterModule } from '../roster/mod-roster.ts';
import type { RosterItem, RosterStore } from '../roster/roster-store.ts';
import type { Jid } from '../stanza/jid.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import type { Database } from '../storage/database.types.ts';
import { xml, type Element } from '../xml.ts';
import { parsePriority, presenceModule } from './mod-presence.ts';

function memoryStore(): RosterStore & { writes: number } {
  const rows = new Map<string, Map<string, RosterItem>>();
  const versions = new Map<string, number>();
  const of = (u: string) => rows.get(u) ?? rows.set(u, new Map()).get(u)!;
  const after = (u: string, bump: boolean) => {
    if (bump) versions.set(u, (versions.get(u) ?? 0) + 1);
    return versions.get(u) ?? 0;
  };
  const store = {
    writes: 0,
    load: async (u: string) => ({ version: versions.get(u) ?? 0, items: [...of(u).values()] }),
    get: async (u: string, c: string) => of(u).get(c),
    version: async (u: string) => versions.get(u) ?? 0,
    put: async (u: string, item: RosterItem, bump: boolean) => (store.writes++, of(u).set(item.contact, item), after(u, bump)),
    remove: async (u: string, c: string, bump: boolean) => (store.writes++, of(u).delete(c), after(u, bump)),
  };
  return store;
}

/** XEP-0191's service, as a fixed list of (blocker, blocked bare JID). */
function blockingModule(pairs: Array<[string, string]>): WardenModule {
  return {
    name: 'blocking',
    load(ctx) {
      ctx.provide('blocking', { isBlocked: (local: string, other: Jid) => pairs.some(([a, b]) => a === local && b === `${other.local}@${other.domain}`) });
    },
  };
}

function setup(blocked: Array<[string, string]> = []) {
  const store = memoryStore();
  const h = harness(
    ({ sessions }) => {
      const roster = rosterModule({ db: {} as Database, sessions, config: { domain: 'localhost' }, store });
      return [blockingModule(blocked), roster, presenceModule({ config: { domain: 'localhost' }, sessions, users: { exists: async (l) => ['romeo', 'juliet', 'nurse'].includes(l) } }, roster.roster)];
    },
    ['romeo', 'juliet', 'nurse'],
  );
  return { store, h };
}

const presence = (attrs: Record<string, string> = {}, ...children: Element[]) => xml('presence', attrs, ...children);
const from = (jid: string, type?: string) => (el: Element) => el.name === 'presence' && el.attrs.from === jid && el.attrs.type === type;
const settle = () => new Promise((r) => setTimeout(r, 20));

async function online(h: ReturnType<typeof setup>['h'], local: string, resource = 'r', ...children: Element[]): Promise<FakeSession> {
  const s = h.connect(local, resource);
  h.send(s, presence({}, ...children));
  await s.next(from(s.fullJid));
  return s;
}

async function friends(h: ReturnType<typeof setup>['h'], a: FakeSession, b: FakeSession): Promise<void> {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    h.send(x, presence({ to: y.bareJid, type: 'subscribe' }));
    await y.next(from(x.bareJid, 'subscribe'));
    h.send(y, presence({ to: x.bareJid, type: 'subscribed' }));
    await x.next(from(y.bareJid, 'subscribed'));
  }
}

describe('parsePriority (RFC 6121 §4.7.2.3)', () => {
  it.each<[string | undefined, number | undefined]>([
    [undefined, 0],
    ['0', 0],
    ['5', 5],
    [' -1 ', -1],
    ['+127', 127],
    ['-128', -128],
    ['128', undefined],
    ['-129', undefined],
    ['1.5', undefined],
    ['high', undefined],
    ['', undefined],
  ])('<priority>%s</priority> is %s', (text, expected) => {
    const p = text === undefined ? presence() : presence({}, xml('priority', {}, text));
    expect(parsePriority(p)).toBe(expected);
  });
});

describe('presence', () => {
  it('writes nothing to the roster store for presence broadcasts', async () => {
    const { store, h } = setup();
    const romeo = await online(h, 'romeo');
    const juliet = await online(h, 'juliet');
    await friends(h, romeo, juliet);
    const writes = store.writes;
    for (let i = 0; i < 5; i++) h.send(romeo, presence({}, xml('status', {}, `update ${i}`)));
    await juliet.next((el) => el.name === 'presence' && el.getChildText('status') === 'update 4');
    expect(store.writes).toBe(writes);
  });

  it('answers a probe from a subscriber with the last presence, and nobody else', async () => {
    const { h } = setup();
    const romeo = await online(h, 'romeo', 'r', xml('status', {}, 'in the orchard'));
    const juliet = await online(h, 'juliet');
    await friends(h, romeo, juliet);
    const nurse = await online(h, 'nurse');
    h.send(juliet, presence({ to: 'romeo@localhost', type: 'probe' }));
    const answer = await juliet.next((el) => el.attrs.from === 'romeo@localhost/r' && el.attrs.to === 'juliet@localhost/r' && el.getChildText('status') === 'in the orchard');
    expect(answer.attrs.type).toBeUndefined();
    h.send(nurse, presence({ to: 'romeo@localhost', type: 'probe' }));
    await settle();
    expect(nurse.sent.filter((el) => String(el.attrs.from ?? '').startsWith('romeo@'))).toEqual([]);
  });

  it('routes directed presence to a connected full JID and drops it for an unknown resource (§8.5.3)', async () => {
    const { h } = setup();
    const romeo = await online(h, 'romeo');
    const juliet = await online(h, 'juliet', 'balcony');
    h.send(romeo, presence({ to: 'juliet@localhost/balcony' }, xml('status', {}, 'hello')));
    await juliet.next((el) => el.getChildText('status') === 'hello');
    h.send(romeo, presence({ to: 'juliet@localhost/nowhere' }, xml('status', {}, 'lost')));
    h.send(romeo, presence({ to: 'juliet@example.net' }, xml('status', {}, 'remote')));
    await settle();
    expect(juliet.sent.filter((el) => el.getChildText('status') === 'lost')).toEqual([]);
    expect(romeo.sent.filter((el) => el.attrs.type === 'error')).toEqual([]);
  });

  it('does not announce unavailable for a session replaced by one that is already online', async () => {
    const { h } = setup();
    const romeo = await online(h, 'romeo');
    const juliet = await online(h, 'juliet');
    await friends(h, romeo, juliet);
    const successor = await online(h, 'romeo', 'r'); // binds the same full JID
    h.disconnect(romeo);
    await settle();
    expect(juliet.sent.filter(from('romeo@localhost/r', 'unavailable'))).toEqual([]);
    h.disconnect(successor);
    await juliet.next(from('romeo@localhost/r', 'unavailable'));
  });

  it('refuses a subscription request to a blocked contact and drops one from a blocked contact (XEP-0191)', async () => {
    const { h } = setup([['romeo', 'nurse@localhost']]);
    const romeo = await online(h, 'romeo');
    const nurse = await online(h, 'nurse');
    h.send(romeo, presence({ to: 'nurse@localhost', type: 'subscribe', id: 's1' }));
    const error = await romeo.next((el) => el.attrs.id === 's1' && el.attrs.type === 'error');
    expect(errorCondition(error)).toBe('not-acceptable');
    expect(error.getChild('error')?.getChild('blocked', NS.blockingErrors)).toBeTruthy();
    h.send(nurse, presence({ to: 'romeo@localhost', type: 'subscribe' }));
    await settle();
    expect(romeo.sent.filter(from('nurse@localhost', 'subscribe'))).toEqual([]);
  });

  it('answers an unknown presence type with bad-request and ignores a subscription to oneself', async () => {
    const { h } = setup();
    const romeo = await online(h, 'romeo');
    h.send(romeo, presence({ type: 'dance', id: 'd1' }));
    expect(errorCondition(await romeo.next((el) => el.attrs.id === 'd1'))).toBe('bad-request');
    h.send(romeo, presence({ to: 'romeo@localhost', type: 'subscribe', id: 'self' }));
    await settle();
    expect(romeo.sent.filter((el) => el.attrs.id === 'self')).toEqual([]);
  });

  it('emits presence-available with initial only for the first available presence', async () => {
    const seen: boolean[] = [];
    const store = memoryStore();
    const h = harness(({ sessions }) => {
      const roster = rosterModule({ db: {} as Database, sessions, config: { domain: 'localhost' }, store });
      const listener: WardenModule = { name: 'listener', load: (ctx) => ctx.hook('presence-available', ({ initial }) => void seen.push(initial)) };
      return [roster, presenceModule({ config: { domain: 'localhost' }, sessions, users: { exists: async () => true } }, roster.roster), listener];
    });
    const s = await online(h, 'romeo');
    h.send(s, presence({}, xml('show', {}, 'away')));
    h.send(s, presence({ type: 'unavailable' }));
    h.send(s, presence());
    await settle();
    expect(seen).toEqual([true, false, true]);
  });
});
