import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { InvalidCursorError } from './invalid-cursor-error.ts';
import { conversationPair, createLegalHoldStore, isLegalHoldId, type LegalHoldStore } from './legal-holds.ts';

describe('conversationPair', () => {
  it.each([
    ['alice@x', 'bob@x', { a: 'alice@x', b: 'bob@x' }],
    ['bob@x', 'alice@x', { a: 'alice@x', b: 'bob@x' }],
    // Byte order, not locale order: upper case sorts before lower case.
    ['alice@x', 'Zed@x', { a: 'Zed@x', b: 'alice@x' }],
    ['bob@x', 'bob@xy', { a: 'bob@x', b: 'bob@xy' }],
    // U+FF5E (EF BD 9E) sorts before U+1F600 (F0 9F 98 80) in UTF-8; in UTF-16 the surrogate D83D sorts first.
    ['\u{1F600}@x', '\uFF5E@x', { a: '\uFF5E@x', b: '\u{1F600}@x' }],
    ['same@x', 'same@x', undefined],
  ])('orders %s and %s', (x, y, expected) => {
    expect(conversationPair(x, y)).toEqual(expected);
  });
});

describe('isLegalHoldId', () => {
  it.each([
    ['1', true],
    ['9223372036854775807', true],
    ['9223372036854775808', false],
    ['0', false],
    ['01', false],
    ['-1', false],
    ['1.5', false],
    ['', false],
  ])('%s → %s', (raw, ok) => {
    expect(isLegalHoldId(raw)).toBe(ok);
  });
});

describe('LegalHoldStore', () => {
  let db: TestDatabase;
  let store: LegalHoldStore;
  beforeAll(async () => {
    db = await openTestDatabase();
    store = createLegalHoldStore(db.sql);
  });
  afterAll(async () => db?.close());

  it('stores a conversation in byte order whichever way it is given, and a user hold as jid', async () => {
    const c = await store.create({ kind: 'conversation', a: 'zoe@x', b: 'adam@x' }, 'case 12', 'officer-1');
    expect(c).toMatchObject({ kind: 'conversation', a: 'adam@x', b: 'zoe@x', reason: 'case 12', createdBy: 'officer-1', releasedBy: null, releasedAt: null });
    expect(c.createdAt).toBeInstanceOf(Date);
    const [row] = await db.sql<{ jid_a: string; jid_b: string }[]>`SELECT jid_a, jid_b FROM legal_holds WHERE id = ${c.id}::bigint`;
    expect(row).toEqual({ jid_a: 'adam@x', jid_b: 'zoe@x' });
    const u = await store.create({ kind: 'user', jid: 'carol@x' }, 'case 13', 'officer-2');
    expect(u).toMatchObject({ kind: 'user', jid: 'carol@x' });
    expect(await store.get(u.id)).toEqual(u);
    await expect(store.create({ kind: 'conversation', a: 'x@x', b: 'x@x' }, 'r', 'o')).rejects.toThrow(RangeError);
  });

  it('orders pairs as the database does (its CHECK jid_a < jid_b is COLLATE "C"), past U+FFFF too', async () => {
    const h = await store.create({ kind: 'conversation', a: '\u{1F600}@x', b: '\uFF5E@x' }, 'r', 'o');
    expect(h).toMatchObject({ a: '\uFF5E@x', b: '\u{1F600}@x' });
  });

  it('places no hold when the step in its transaction fails, and releases none either', async () => {
    const failing = async () => {
      throw new Error('access log down');
    };
    await expect(store.create({ kind: 'user', jid: 'undone@x' }, 'r', 'o', failing)).rejects.toThrow('access log down');
    expect(await db.sql`SELECT 1 FROM legal_holds WHERE jid_a = 'undone@x'`).toHaveLength(0);
    const h = await store.create({ kind: 'user', jid: 'kept@x' }, 'r', 'o', async (tx, placed) => {
      // The step sees the new hold inside the transaction.
      expect(await tx`SELECT 1 FROM legal_holds WHERE id = ${placed.id}::bigint`).toHaveLength(1);
    });
    await expect(store.release(h.id, 'officer', 'done', failing)).rejects.toThrow('access log down');
    expect(await store.get(h.id)).toMatchObject({ releasedAt: null });
  });

  it('releases once', async () => {
    const h = await store.create({ kind: 'user', jid: 'dave@x' }, 'r', 'o');
    expect(h.releaseReason).toBeNull();
    const first = await store.release(h.id, 'officer-3', 'matter settled');
    expect(first).toMatchObject({ ok: true, hold: { id: h.id, releasedBy: 'officer-3', releaseReason: 'matter settled' } });
    expect(first.ok && first.hold.releasedAt).toBeInstanceOf(Date);
    expect(await store.release(h.id, 'officer-4', 'again')).toMatchObject({ ok: false, reason: 'already-released', hold: { releasedBy: 'officer-3', releaseReason: 'matter settled' } });
    expect(await store.release('999999', 'o', 'r')).toEqual({ ok: false, reason: 'not-found' });
    expect(await store.release('nope', 'o', 'r')).toEqual({ ok: false, reason: 'not-found' });
  });

  it('lists newest first in pages, filtered by active', async () => {
    await db.sql`TRUNCATE legal_holds`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await store.create({ kind: 'user', jid: `u${i}@x` }, `r${i}`, 'o')).id);
    await store.release(ids[1]!, 'o', 'r');
    await store.release(ids[4]!, 'o', 'r');
    const all: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await store.list({ limit: 3, ...(cursor !== undefined && { cursor }) });
      all.push(...page.items.map((h) => h.id));
      if (page.next === null) break;
      cursor = page.next;
    }
    expect(all).toEqual([...ids].reverse());
    expect((await store.list({ limit: 50, active: true })).items.map((h) => h.id)).toEqual([ids[6], ids[5], ids[3], ids[2], ids[0]]);
    expect((await store.list({ limit: 50, active: false })).items.map((h) => h.id)).toEqual([ids[4], ids[1]]);
    // Exactly one page's worth: no empty page after it.
    expect((await store.list({ limit: 2, active: false })).next).toBeNull();
    await expect(store.list({ limit: 3, cursor: 'abc' })).rejects.toThrow(InvalidCursorError);
  });
});
