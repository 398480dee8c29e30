import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import type { ArchiveEntry } from './archive-record.ts';
import { decodeCursor, encodeCursor, type ArchiveCursor, type ArchiveRecord } from './archive-search.ts';
import { assembleConversationPage, predecessor, readConversation, type ConversationPage, type ConversationParts } from './conversation.ts';

// ---------------------------------------------------------------------------------------------
// Pure: assembling a page

const key = (n: number): ArchiveCursor => ({ ts: `2024-03-01T00:00:${String(n).padStart(2, '0')}.000000Z`, id: String(n) });
const rec = (n: number): ArchiveRecord => ({
  key: key(n),
  message: { id: `m-${n}`, ts: new Date(0), from: 'a', to: 'b', type: 'chat', body: null, verdict: 'allow', matches: [], direction: 'internal', policyVersion: 0, thread: null },
});
const c = (n: number) => encodeCursor(key(n));
const older = (ns: number[], more: boolean) => ({ records: ns.map(rec), more }); // newest first, as read
const newer = (ns: number[], more: boolean) => ({ records: ns.map(rec), more });

describe('assembleConversationPage', () => {
  it.each<[string, ConversationParts, { ids: string[]; before: string | null; after: string | null }]>([
    ['around, more both ways', { older: older([4, 3], true), center: rec(5), newer: newer([6, 7], true) },
      { ids: ['m-3', 'm-4', 'm-5', 'm-6', 'm-7'], before: c(3), after: c(7) }],
    ['around, the start of the conversation', { older: older([], false), center: rec(1), newer: newer([2], true) },
      { ids: ['m-1', 'm-2'], before: null, after: c(2) }],
    ['around, the newest message', { older: older([4], true), center: rec(5), newer: newer([], false) },
      { ids: ['m-4', 'm-5'], before: c(4), after: null }],
    ['the newest page', { older: older([9, 8], true), newer: newer([], false) }, { ids: ['m-8', 'm-9'], before: c(8), after: null }],
    ['the whole (short) conversation', { older: older([2, 1], false), newer: newer([], false) }, { ids: ['m-1', 'm-2'], before: null, after: null }],
    ['an empty conversation', { older: older([], false), newer: newer([], false) }, { ids: [], before: null, after: null }],
    ['before a cursor', { older: older([4, 3], true), from: key(5) }, { ids: ['m-3', 'm-4'], before: c(3), after: c(4) }],
    ['before a cursor, reaching the start', { older: older([2, 1], false), from: key(3) }, { ids: ['m-1', 'm-2'], before: null, after: c(2) }],
    ['before the first message', { older: older([], false), from: key(1) }, { ids: [], before: null, after: c(1) }],
    ['after a cursor', { newer: newer([6, 7], true), from: key(5) }, { ids: ['m-6', 'm-7'], before: c(6), after: c(7) }],
    ['after a cursor, reaching the end', { newer: newer([6], false), from: key(5) }, { ids: ['m-6'], before: c(6), after: null }],
    ['after the last message', { newer: newer([], false), from: key(9) }, { ids: [], before: c(9), after: null }],
  ])('%s', (_what, parts, want) => {
    const page = assembleConversationPage(parts);
    expect({ ids: page.items.map((m) => m.id), before: page.before, after: page.after }).toEqual(want);
  });

  it('steps back one position, so (ts, id) > predecessor(k) includes k', () => {
    expect(predecessor({ ts: '2024-03-01T00:00:00.000000Z', id: '10' })).toEqual({ ts: '2024-03-01T00:00:00.000000Z', id: '9' });
    expect(predecessor({ ts: 't', id: '9223372036854775807' }).id).toBe('9223372036854775806');
  });
});

// ---------------------------------------------------------------------------------------------
// On a database

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const A = 'alice@example.org';
const B = 'bob@example.org';
const C = 'carol@example.org';

const entry = (i: number, fromBare: string, toBare: string): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, fromBare, toBare, body: `message ${i}` });

describe('readConversation', () => {
  let db: TestDatabase;
  // Alice ↔ Bob: m-1..m-20 except every fifth message, which is Alice ↔ Carol.
  const ab: string[] = [];
  beforeAll(async () => {
    const entries: ArchiveEntry[] = [];
    for (let i = 1; i <= 20; i++) {
      if (i % 5 === 0) entries.push(entry(i, i % 2 === 0 ? A : C, i % 2 === 0 ? C : A));
      else {
        entries.push(entry(i, i % 2 === 0 ? A : B, i % 2 === 0 ? B : A));
        ab.push(`m-${i}`);
      }
    }
    db = await openArchiveDatabase({ chain: 'conv', partitionsFrom: at(0), entries });
  });
  afterAll(async () => db?.close());

  const ids = (p: ConversationPage | undefined) => p?.items.map((m) => m.id);
  const read = (q: Partial<Parameters<typeof readConversation>[1]>) => readConversation(db.sql, { a: A, b: B, limit: 3, ...q });

  it('answers the newest messages of a conversation, oldest first, either way round', async () => {
    const page = await read({});
    expect(ids(page)).toEqual(['m-17', 'm-18', 'm-19']);
    expect(page?.after).toBeNull();
    expect(ids(await read({ a: B, b: A }))).toEqual(['m-17', 'm-18', 'm-19']);
  });

  it('answers `limit` messages on each side of `around`, the message itself included', async () => {
    const page = await read({ around: 'm-9' });
    expect(ids(page)).toEqual(['m-6', 'm-7', 'm-8', 'm-9', 'm-11', 'm-12', 'm-13']);
    expect(page?.before).not.toBeNull();
    expect(page?.after).not.toBeNull();
    expect(ids(await read({ around: 'm-2' }))).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-6']);
    expect((await read({ around: 'm-2' }))?.before).toBeNull();
    expect((await read({ around: 'm-19', limit: 1 }))).toEqual(expect.objectContaining({ after: null }));
  });

  it('pages outward from `around` to both ends, every message once', async () => {
    const start = await read({ around: 'm-9', limit: 2 });
    const seen = [...(ids(start) ?? [])];
    for (let cursor = start?.before ?? null; cursor !== null; ) {
      const page = await read({ before: decodeCursor(cursor), limit: 2 });
      seen.unshift(...(ids(page) ?? []));
      cursor = page?.before ?? null;
    }
    for (let cursor = start?.after ?? null; cursor !== null; ) {
      const page = await read({ after: decodeCursor(cursor), limit: 2 });
      seen.push(...(ids(page) ?? []));
      cursor = page?.after ?? null;
    }
    expect(seen).toEqual(ab);
  });

  it('pages back from a before page with its `after` cursor', async () => {
    const page = await read({ before: { ts: '2024-03-01T00:00:08.500000Z', id: '1' } });
    expect(ids(page)).toEqual(['m-6', 'm-7', 'm-8']);
    expect(ids(await read({ after: decodeCursor(page?.after ?? '') }))).toEqual(['m-9', 'm-11', 'm-12']);
  });

  it('knows no `around` message outside the conversation', async () => {
    expect(await read({ around: 'm-5' })).toBeUndefined(); // Alice ↔ Carol
    expect(await read({ around: 'nope' })).toBeUndefined();
    expect(ids(await read({ b: C, around: 'm-5' }))).toEqual(['m-5', 'm-10', 'm-15', 'm-20']);
  });

  it('refuses more than one of around, before and after, and a limit out of range', async () => {
    await expect(read({ around: 'm-9', before: { ts: '2024-03-01T00:00:09.000000Z', id: '1' } })).rejects.toThrow(/exclude each other/);
    await expect(read({ limit: 0 })).rejects.toThrow(/limit/);
    await expect(read({ limit: 201 })).rejects.toThrow(/limit/);
  });
});
