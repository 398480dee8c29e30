// Which archived messages a user's MAM archive holds, in which order, through real SQL (PostgreSQL
// with DATABASE_URL, else embedded). Rows are written by the real ArchiveWriter, so incidents
// (hold_state) exist exactly as the audit pipeline leaves them. Each test uses its own users.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import type { ArchiveEntry, Verdict } from '../audit/archive-record.ts';
import { ArchiveWriter } from '../audit/archive-writer.ts';
import { silentLogger } from '../log.ts';
import { NS } from '../ns.ts';
import { xml } from '../xml.ts';
import { comparePositions, createMamStore, type ArchivedMessage, type MamFilter, type MamStore } from './mam-store.ts';

let db: TestDatabase;
let writer: ArchiveWriter;
let store: MamStore;
beforeAll(async () => {
  db = await openTestDatabase();
  writer = new ArchiveWriter(db.sql, 'mam-store-test', silentLogger);
  store = createMamStore(db.sql);
});
afterAll(async () => {
  await writer?.close();
  await db?.close();
});

const D = 'localhost';
interface Msg {
  from: string;
  to: string;
  body?: string | null;
  verdict?: Verdict;
  redacted?: string;
  type?: string;
  ts?: Date;
  fromResource?: string;
  toResource?: string;
}

/** Archives one message as the pipeline would; returns its archive id. */
async function archive(m: Msg): Promise<string> {
  const stanzaId = randomUUID();
  const fromJid = `${m.from}@${D}/${m.fromResource ?? 'r'}`;
  const toJid = m.toResource ? `${m.to}@${D}/${m.toResource}` : `${m.to}@${D}`;
  const type = m.type ?? 'chat';
  const body = m.body === undefined ? `hello from ${m.from}` : m.body;
  const stanza = xml('message', { xmlns: NS.client, from: fromJid, to: toJid, type }, ...(body === null ? [xml('active', { xmlns: NS.chatStates })] : [xml('body', {}, body)]));
  const entry: ArchiveEntry = {
    ts: m.ts ?? new Date(),
    stanzaId,
    originId: null,
    clientId: null,
    fromJid,
    toJid,
    fromBare: `${m.from}@${D}`,
    toBare: `${m.to}@${D}`,
    type,
    thread: null,
    body,
    redactedBody: m.verdict === 'redact' ? (m.redacted ?? '***') : null,
    raw: stanza.toString(),
    direction: 'internal',
    verdict: m.verdict ?? 'allow',
    reason: null,
    matches: [],
    policyVersion: 0,
  };
  await writer.append(entry);
  return stanzaId;
}

const ids = (rows: ArchivedMessage[]) => rows.map((r) => r.stanzaId);
const all = (user: string, filter: MamFilter = {}) => store.page(`${user}@${D}`, filter, 'forward', 1000);

describe('who sees what', () => {
  it('the sender sees every message they sent; the recipient only what was delivered to them', async () => {
    const allow = await archive({ from: 'vs1', to: 'vr1' });
    const flag = await archive({ from: 'vs1', to: 'vr1', verdict: 'flag' });
    const block = await archive({ from: 'vs1', to: 'vr1', verdict: 'block' });
    const held = await archive({ from: 'vs1', to: 'vr1', verdict: 'hold' });
    const released = await archive({ from: 'vs1', to: 'vr1', verdict: 'hold' });
    const rejected = await archive({ from: 'vs1', to: 'vr1', verdict: 'hold' });
    const redact = await archive({ from: 'vs1', to: 'vr1', verdict: 'redact', redacted: 'my card is ****' });
    await db.sql`UPDATE incidents SET hold_state = 'released' WHERE stanza_id = ${released}`;
    await db.sql`UPDATE incidents SET hold_state = 'rejected' WHERE stanza_id = ${rejected}`;

    expect(ids(await all('vs1'))).toEqual([allow, flag, block, held, released, rejected, redact]);
    expect(ids(await all('vr1'))).toEqual([allow, flag, released, redact]);
    const redacted = (await all('vr1')).find((r) => r.stanzaId === redact)!;
    expect(redacted).toMatchObject({ verdict: 'redact', redactedBody: 'my card is ****', body: 'hello from vs1' });
    // A third party sees none of it.
    expect(await all('vx1')).toEqual([]);
  });

  it('a held message appears for the recipient once released', async () => {
    const id = await archive({ from: 'vs2', to: 'vr2', verdict: 'hold' });
    expect(ids(await all('vr2'))).toEqual([]);
    expect((await store.locate(`vr2@${D}`, [id])).size).toBe(0);
    await db.sql`UPDATE incidents SET hold_state = 'released' WHERE stanza_id = ${id}`;
    expect(ids(await all('vr2'))).toEqual([id]);
    expect((await store.locate(`vr2@${D}`, [id])).size).toBe(1);
  });

  it('serves chat and normal messages with a body, not chat states, headlines or errors', async () => {
    const chat = await archive({ from: 'ty1', to: 'ty2' });
    const normal = await archive({ from: 'ty1', to: 'ty2', type: 'normal' });
    const state = await archive({ from: 'ty1', to: 'ty2', body: null });
    await archive({ from: 'ty1', to: 'ty2', type: 'headline' });
    await archive({ from: 'ty1', to: 'ty2', type: 'error' });
    expect(ids(await all('ty1'))).toEqual([chat, normal]);
    expect(ids(await all('ty2'))).toEqual([chat, normal]);
    // Its stanza-id still names a place in the archive (a client may page from it).
    expect((await store.locate(`ty2@${D}`, [state])).has(state)).toBe(true);
  });

  it('locates only ids in the user’s own archive', async () => {
    const theirs = await archive({ from: 'lo1', to: 'lo2' });
    const blocked = await archive({ from: 'lo1', to: 'lo2', verdict: 'block' });
    expect([...(await store.locate(`lo3@${D}`, [theirs])).keys()]).toEqual([]);
    expect([...(await store.locate(`lo2@${D}`, [theirs, blocked, 'no-such-id'])).keys()]).toEqual([theirs]);
    expect([...(await store.locate(`lo1@${D}`, [theirs, blocked])).keys()].sort()).toEqual([theirs, blocked].sort());
  });
});

describe('filters', () => {
  it('with a bare JID matches either direction, a full JID exactly, the own JID notes to self', async () => {
    const toBob = await archive({ from: 'wa', to: 'wb' });
    const fromBobPhone = await archive({ from: 'wb', to: 'wa', fromResource: 'phone' });
    const fromBobDesk = await archive({ from: 'wb', to: 'wa', fromResource: 'desk' });
    const toCarol = await archive({ from: 'wa', to: 'wc' });
    const toBobPhone = await archive({ from: 'wa', to: 'wb', toResource: 'phone' });
    const note = await archive({ from: 'wa', to: 'wa' });
    expect(ids(await all('wa', { with: { kind: 'bare', jid: `wb@${D}` } }))).toEqual([toBob, fromBobPhone, fromBobDesk, toBobPhone]);
    expect(ids(await all('wa', { with: { kind: 'full', jid: `wb@${D}/phone` } }))).toEqual([fromBobPhone, toBobPhone]);
    expect(ids(await all('wa', { with: { kind: 'bare', jid: `wa@${D}` } }))).toEqual([note]);
    expect(ids(await all('wa'))).toEqual([toBob, fromBobPhone, fromBobDesk, toCarol, toBobPhone, note]);
  });

  it('start and end are inclusive', async () => {
    const t = (s: number) => new Date(Date.UTC(2021, 0, 1, 0, 0, s));
    const m = [];
    for (let s = 0; s < 5; s++) m.push(await archive({ from: 'ta', to: 'tb', ts: t(s) }));
    expect(ids(await all('ta', { start: '2021-01-01T00:00:01Z', end: '2021-01-01T00:00:03Z' }))).toEqual(m.slice(1, 4));
    // The same instant written with an offset.
    expect(ids(await all('tb', { start: '2021-01-01T01:00:03+01:00' }))).toEqual(m.slice(3));
    expect(ids(await all('tb', { end: '2020-12-31T23:59:59.999Z' }))).toEqual([]);
    expect(ids(await all('tb', { start: '2021-01-01T00:00:04Z', end: '2021-01-01T00:00:01Z' }))).toEqual([]);
  });

  it('ids fetch exactly those messages, with their span', async () => {
    const m = [];
    for (let i = 0; i < 5; i++) m.push(await archive({ from: 'ia', to: 'ib' }));
    const found = await store.locate(`ia@${D}`, [m[3]!, m[1]!]);
    const positions = [found.get(m[1]!)!, found.get(m[3]!)!];
    expect(ids(await all('ia', { ids: [m[3]!, m[1]!], span: { first: positions[0]!, last: positions[1]! } }))).toEqual([m[1], m[3]]);
  });

  it('counts what the filter matches', async () => {
    for (let i = 0; i < 3; i++) await archive({ from: 'ca', to: 'cb' });
    await archive({ from: 'cb', to: 'ca', verdict: 'block' });
    await archive({ from: 'ca', to: 'cc' });
    expect(await store.count(`ca@${D}`, {})).toBe(4);
    expect(await store.count(`ca@${D}`, { with: { kind: 'bare', jid: `cb@${D}` } })).toBe(3);
    expect(await store.count(`cb@${D}`, {})).toBe(4);
  });
});

describe('order and paging', () => {
  it('orders by time, then by archive row when times tie, and pages through ties without repeats or gaps', async () => {
    const same = new Date(Date.UTC(2022, 5, 1, 12, 0, 0));
    const m: string[] = [];
    for (let i = 0; i < 7; i++) m.push(await archive({ from: i % 2 ? 'oa' : 'ob', to: i % 2 ? 'ob' : 'oa', ts: same }));
    expect(ids(await all('oa'))).toEqual(m);
    const seen: string[] = [];
    let page = await store.page(`oa@${D}`, {}, 'forward', 3);
    while (page.length > 0) {
      seen.push(...ids(page));
      page = await store.page(`oa@${D}`, { after: [page[page.length - 1]!.position] }, 'forward', 3);
    }
    expect(seen).toEqual(m);
    // Backwards: newest first, from the end or from a position.
    expect(ids(await store.page(`oa@${D}`, {}, 'backward', 2))).toEqual([m[6], m[5]]);
    const fifth = (await all('oa'))[4]!.position;
    expect(ids(await store.page(`oa@${D}`, { before: [fifth] }, 'backward', 2))).toEqual([m[3], m[2]]);
  });

  it('keeps microseconds in positions, so a cursor neither repeats nor skips a message', async () => {
    const m: string[] = [];
    for (let i = 0; i < 4; i++) m.push(await archive({ from: 'ua', to: 'ub', ts: new Date(Date.UTC(2022, 6, 1)) }));
    // Rows written by other means can carry microseconds; make these differ by 1 µs each, in reverse id order.
    for (let i = 0; i < 4; i++) await db.sql`UPDATE archive SET ts = ts + ${`${(3 - i) * 1} microseconds`}::interval WHERE stanza_id = ${m[i]!}`;
    const rows = await all('ua');
    expect(ids(rows)).toEqual([...m].reverse());
    expect(rows[0]!.position.ts).toBe('2022-07-01T00:00:00.000000Z');
    expect(rows[3]!.position.ts).toBe('2022-07-01T00:00:00.000003Z');
    const after = await store.page(`ua@${D}`, { after: [rows[1]!.position] }, 'forward', 10);
    expect(ids(after)).toEqual(ids(rows.slice(2)));
  });

  it('compares positions by time, then numerically by row', () => {
    expect(comparePositions({ ts: '2022-01-01T00:00:00.000001Z', id: '9' }, { ts: '2022-01-01T00:00:00.000002Z', id: '1' })).toBeLessThan(0);
    expect(comparePositions({ ts: '2022-01-01T00:00:00.000000Z', id: '9' }, { ts: '2022-01-01T00:00:00.000000Z', id: '10' })).toBeLessThan(0);
    expect(comparePositions({ ts: '2022-01-01T00:00:00.000000Z', id: '10' }, { ts: '2022-01-01T00:00:00.000000Z', id: '10' })).toBe(0);
  });
});
