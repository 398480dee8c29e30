// The roster store on a real database (embedded PGlite, or PostgreSQL with DATABASE_URL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserStore } from '../storage/user-store.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { emptyItem } from './mod-roster.ts';
import { createRosterStore, type RosterItem, type RosterStore } from './roster-store.ts';

let db: TestDatabase;
let store: RosterStore;

beforeAll(async () => {
  db = await openTestDatabase();
  store = createRosterStore(db.sql);
  const users = createUserStore(db.sql);
  for (const u of ['alice', 'bob', 'carol', 'gone']) await users.create(u, []);
});
afterAll(async () => db?.close());

const romeo: RosterItem = {
  ...emptyItem('romeo@example.net'),
  name: 'Romeo',
  subscription: 'both',
  groups: ['Friends', '朋友'],
};

describe('RosterStore', () => {
  it('starts with an empty roster at version 0', async () => {
    expect(await store.load('alice')).toEqual({ version: 0, items: [] });
    expect(await store.get('alice', 'romeo@example.net')).toBeUndefined();
  });

  it('stores an item with name, groups and state, and bumps the version', async () => {
    expect(await store.put('alice', romeo, true)).toBe(1);
    expect(await store.get('alice', 'romeo@example.net')).toEqual(romeo);
    expect(await store.load('alice')).toEqual({ version: 1, items: [romeo] });
  });

  it('replaces an item in place', async () => {
    const changed: RosterItem = { ...romeo, name: undefined, subscription: 'from', ask: true, approved: false, groups: [] };
    expect(await store.put('alice', changed, true)).toBe(2);
    expect(await store.get('alice', 'romeo@example.net')).toEqual(changed);
  });

  it('keeps an unlisted pending request with its status, without moving the version', async () => {
    const pending: RosterItem = { ...emptyItem('mallory@localhost'), listed: false, pendingIn: true, pendingStatus: 'hi, it is me' };
    expect(await store.put('alice', pending, false)).toBe(2);
    expect(await store.get('alice', 'mallory@localhost')).toEqual(pending);
    expect((await store.load('alice')).items.map((i) => i.contact)).toEqual(['mallory@localhost', 'romeo@example.net']);
  });

  it('drops the status of a request that is no longer pending', async () => {
    await store.put('bob', { ...emptyItem('carol@localhost'), pendingIn: false, pendingStatus: 'stale' }, true);
    expect((await store.get('bob', 'carol@localhost'))?.pendingStatus).toBeUndefined();
  });

  it('refuses an unlisted row that is not a pending request', async () => {
    await expect(store.put('bob', { ...emptyItem('x@localhost'), listed: false }, false)).rejects.toThrow();
  });

  it('removes an item and bumps the version; removing nothing keeps it', async () => {
    expect(await store.remove('alice', 'romeo@example.net', true)).toBe(3);
    expect(await store.get('alice', 'romeo@example.net')).toBeUndefined();
    expect(await store.remove('alice', 'nobody@example.net', false)).toBe(3);
    expect(await store.version('alice')).toBe(3);
  });

  it('keeps rosters apart', async () => {
    await store.put('carol', { ...emptyItem('alice@localhost'), subscription: 'to' }, true);
    expect((await store.load('carol')).items).toHaveLength(1);
    expect(await store.get('bob', 'alice@localhost')).toBeUndefined();
  });

  it('deletes a roster with its account', async () => {
    await store.put('gone', romeo, true);
    await db.sql`DELETE FROM users WHERE username = 'gone'`;
    expect(await store.load('gone')).toEqual({ version: 0, items: [] });
  });

  it('needs an account', async () => {
    await expect(store.put('nobody', romeo, true)).rejects.toThrow();
  });
});
