// The per-user stores of the basic XEPs against a real database (PGlite, or PostgreSQL with
// DATABASE_URL): migrations/0004_user_data.sql and the SQL beside each store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { createUserStore, type UserStore } from '../../storage/user-store.ts';
import { createBlocklistStore } from './blocklist-store.ts';
import { createLastActivityStore } from './last-activity-store.ts';
import { createOfflineStore } from './offline-store.ts';
import { createPrivateStore } from './private-store.ts';
import { parseStoredElement } from './stored-xml.ts';
import { createVCardStore } from './vcard-store.ts';

let db: TestDatabase;
let users: UserStore;

beforeAll(async () => {
  db = await openTestDatabase();
  users = createUserStore(db.sql);
  for (const u of ['olga', 'oscar', 'vera', 'pia', 'bert', 'bianca', 'lena', 'gone']) await users.create(u, []);
});
afterAll(async () => db?.close());

describe('OfflineStore', () => {
  it('keeps messages in order and deletes exactly the ones delivered', async () => {
    const store = createOfflineStore(db.sql);
    for (const n of [1, 2, 3]) expect(await store.add('olga', `<message><body>${n}</body></message>`, 10)).toBe(true);
    const all = await store.list('olga', { limit: 10 });
    expect(all.map((m) => m.stanza)).toEqual([1, 2, 3].map((n) => `<message><body>${n}</body></message>`));
    expect(all[0]!.storedAt).toBeInstanceOf(Date);
    const page = await store.list('olga', { after: all[0]!.id, limit: 1 });
    expect(page.map((m) => m.id)).toEqual([all[1]!.id]);
    expect(await store.remove('olga', [all[0]!.id, all[2]!.id])).toBe(2);
    expect((await store.list('olga', { limit: 10 })).map((m) => m.id)).toEqual([all[1]!.id]);
  });

  it('refuses a message past the quota and accepts again once there is room', async () => {
    const store = createOfflineStore(db.sql);
    expect(await store.add('oscar', '<message/>', 2)).toBe(true);
    expect(await store.add('oscar', '<message/>', 2)).toBe(true);
    expect(await store.add('oscar', '<message/>', 2)).toBe(false);
    expect(await store.count('oscar')).toBe(2);
    const [first] = await store.list('oscar', { limit: 1 });
    await store.remove('oscar', [first!.id]);
    expect(await store.add('oscar', '<message/>', 2)).toBe(true);
  });

  it('does not delete another account’s messages by id', async () => {
    const store = createOfflineStore(db.sql);
    await store.add('olga', '<message/>', 10);
    const [theirs] = (await store.list('olga', { limit: 10 })).slice(-1);
    expect(await store.remove('oscar', [theirs!.id])).toBe(0);
  });
});

describe('VCardStore', () => {
  it('replaces the vCard and reads it back', async () => {
    const store = createVCardStore(db.sql);
    expect(await store.get('vera')).toBeUndefined();
    await store.set('vera', "<vCard xmlns='vcard-temp'><FN>Vera</FN></vCard>");
    await store.set('vera', "<vCard xmlns='vcard-temp'><FN>Vera V.</FN></vCard>");
    expect(await store.get('vera')).toBe("<vCard xmlns='vcard-temp'><FN>Vera V.</FN></vCard>");
  });
});

describe('PrivateStore', () => {
  it('stores per (namespace, name), overwrites, and deletes', async () => {
    const store = createPrivateStore(db.sql);
    await store.set('pia', [
      { namespace: 'a:ns', name: 'prefs', element: "<prefs xmlns='a:ns'>1</prefs>" },
      { namespace: 'b:ns', name: 'prefs', element: "<prefs xmlns='b:ns'>2</prefs>" },
    ]);
    await store.set('pia', [{ namespace: 'a:ns', name: 'prefs', element: "<prefs xmlns='a:ns'>3</prefs>" }]);
    expect(await store.get('pia', { namespace: 'a:ns', name: 'prefs' })).toBe("<prefs xmlns='a:ns'>3</prefs>");
    expect(await store.get('pia', { namespace: 'b:ns', name: 'prefs' })).toBe("<prefs xmlns='b:ns'>2</prefs>");
    await store.set('pia', [{ namespace: 'b:ns', name: 'prefs', element: undefined }]);
    expect(await store.get('pia', { namespace: 'b:ns', name: 'prefs' })).toBeUndefined();
  });
});

describe('BlocklistStore', () => {
  it('adds idempotently, removes, clears, and loads every list at once', async () => {
    const store = createBlocklistStore(db.sql);
    await store.add('bert', ['a@localhost', 'b@localhost', 'a@localhost']);
    await store.add('bert', ['a@localhost']);
    await store.add('bianca', ['example.org']);
    expect(await store.list('bert')).toEqual(['a@localhost', 'b@localhost']);
    await store.remove('bert', ['a@localhost', 'never@localhost']);
    expect(await store.list('bert')).toEqual(['b@localhost']);
    const all = await store.all();
    expect(all.get('bert')).toEqual(['b@localhost']);
    expect(all.get('bianca')).toEqual(['example.org']);
    await store.clear('bert');
    expect(await store.list('bert')).toEqual([]);
  });
});

describe('LastActivityStore', () => {
  it('records a batch, overwrites, and skips accounts that no longer exist', async () => {
    const store = createLastActivityStore(db.sql);
    const t1 = new Date('2024-05-01T10:00:00.000Z');
    const t2 = new Date('2024-05-01T11:00:00.000Z');
    await store.record(new Map([['lena', { at: t1, status: 'Heading home' }]]));
    await users.delete('gone');
    await store.record(new Map([
      ['lena', { at: t2, status: undefined }],
      ['gone', { at: t2, status: 'x' }],
    ]));
    expect(await store.get('lena')).toEqual({ at: t2, status: undefined });
    expect(await store.get('gone')).toBeUndefined();
  });
});

describe('parseStoredElement', () => {
  it('reads back what Element#toString wrote, children and escapes included', () => {
    const text = `<message xmlns='jabber:client' from='a@b/c' type='chat'><body>1 &lt; 2 &amp; "x"</body><x xmlns='urn:y'/></message>`;
    const el = parseStoredElement(text);
    expect(el.name).toBe('message');
    expect(el.getChildText('body')).toBe('1 < 2 & "x"');
    expect(el.getChild('x', 'urn:y')).toBeDefined();
    expect(parseStoredElement(el.toString()).toString()).toBe(el.toString());
  });

  it('throws on text that is not one element', () => {
    expect(() => parseStoredElement('just text')).toThrow();
  });
});
