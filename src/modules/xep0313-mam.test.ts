// XEP-0313 through the real router and a real archive (rows written by the real ArchiveWriter):
// addressing, the shape of results and <fin/>, paging, extended fields, and what each party sees.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import type { ArchiveEntry, Verdict } from '../audit/archive-record.ts';
import { ArchiveWriter } from '../audit/archive-writer.ts';
import { silentLogger } from '../log.ts';
import { NS } from '../ns.ts';
import { xml, type Element } from '../xml.ts';
import { createMamStore } from './mam-store.ts';
import { DOMAIN, errorCondition, harness, type FakeSession, type Harness } from './test-kit.ts';
import { NS_FORWARD, NS_MAM_EXTENDED, RawStanzaReader, mamModule } from './xep0313-mam.ts';

let db: TestDatabase;
let writer: ArchiveWriter;
let h: Harness;
beforeAll(async () => {
  db = await openTestDatabase();
  writer = new ArchiveWriter(db.sql, 'mam-module-test', silentLogger);
  h = harness(() => [mamModule({ store: createMamStore(db.sql) })]);
});
afterAll(async () => {
  await writer?.close();
  await db?.close();
});

let clock = Date.UTC(2023, 2, 1);
let clientIds = 0;
/** Archives a message from `from` to `to` (local parts), one second after the previous one. */
async function archive(from: string, to: string, body: string, opts: { verdict?: Verdict; redacted?: string; extra?: Element[] } = {}): Promise<string> {
  const stanzaId = randomUUID();
  const clientId = `c${clientIds++}`;
  const stanza = xml('message', { xmlns: NS.client, from: `${from}@${DOMAIN}/r`, to: `${to}@${DOMAIN}`, type: 'chat', id: clientId }, xml('body', {}, body), ...(opts.extra ?? []));
  const entry: ArchiveEntry = {
    ts: new Date((clock += 1000)),
    stanzaId,
    originId: null,
    clientId,
    fromJid: `${from}@${DOMAIN}/r`,
    toJid: `${to}@${DOMAIN}`,
    fromBare: `${from}@${DOMAIN}`,
    toBare: `${to}@${DOMAIN}`,
    type: 'chat',
    thread: null,
    body,
    redactedBody: opts.verdict === 'redact' ? (opts.redacted ?? null) : null,
    raw: stanza.toString(),
    direction: 'internal',
    verdict: opts.verdict ?? 'allow',
    reason: null,
    matches: [],
    policyVersion: 0,
  };
  await writer.append(entry);
  return stanzaId;
}

interface Answer {
  iq: Element;
  results: Element[];
}

/** Sends a MAM iq and returns the answer with the result messages that came before it. */
async function mam(session: FakeSession, type: 'get' | 'set', payload: Element, to?: string): Promise<Answer> {
  const before = session.sent.length;
  const iq = await h.iq(session, type, payload, to);
  const results = session.sent.slice(before).filter((el) => el.name === 'message' && el.getChild('result', NS.mam));
  return { iq, results };
}

function query(opts: { fields?: Record<string, string | string[]>; set?: Record<string, string>; queryid?: string; flip?: boolean } = {}): Element {
  const q = xml('query', { xmlns: NS.mam, ...(opts.queryid ? { queryid: opts.queryid } : {}) });
  if (opts.fields) {
    const x = q.c('x', { xmlns: NS.dataForms, type: 'submit' });
    x.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t(NS.mam);
    for (const [name, value] of Object.entries(opts.fields)) {
      const f = x.c('field', { var: name });
      for (const v of Array.isArray(value) ? value : [value]) f.c('value').t(v);
    }
  }
  if (opts.set) {
    const s = q.c('set', { xmlns: NS.rsm });
    for (const [name, text] of Object.entries(opts.set)) s.c(name).t(text);
  }
  if (opts.flip) q.c('flip-page');
  return q;
}

const forwarded = (result: Element) => result.getChild('result', NS.mam)!.getChild('forwarded', NS_FORWARD)!.getChild('message')!;
const bodies = (a: Answer) => a.results.map((r) => forwarded(r).getChildText('body'));
const resultIds = (a: Answer) => a.results.map((r) => r.getChild('result', NS.mam)!.attrs.id as string);
const fin = (a: Answer) => a.iq.getChild('fin', NS.mam)!;
const rsmText = (a: Answer, name: string) => fin(a).getChild('set', NS.rsm)!.getChildText(name);

describe('addressing (§3.3.1, §7.1)', () => {
  it('answers a query with no to, or to the own bare JID; refuses another user’s archive with forbidden', async () => {
    const alice = h.connect('ad1', 'laptop');
    await archive('ad1', 'ad2', 'hi');
    expect((await mam(alice, 'set', query())).iq.attrs.type).toBe('result');
    expect((await mam(alice, 'set', query(), `ad1@${DOMAIN}`)).iq.attrs.type).toBe('result');
    const other = await mam(alice, 'set', query(), `ad2@${DOMAIN}`);
    expect(errorCondition(other.iq)).toBe('forbidden');
    expect(other.results).toEqual([]);
    expect(errorCondition((await mam(alice, 'get', query(), `ad2@${DOMAIN}`)).iq)).toBe('forbidden');
  });

  it('advertises urn:xmpp:mam:2 and #extended', () => {
    expect(h.host.discoFeatures()).toEqual(expect.arrayContaining([NS.mam, NS_MAM_EXTENDED]));
  });
});

describe('results (§4.2)', () => {
  it('forwards each message to the requesting resource with queryid, archive id, delay, then fin', async () => {
    const alice = h.connect('rs1', 'laptop');
    const a = await archive('rs1', 'rs2', '你好 👋');
    const b = await archive('rs2', 'rs1', 'back & forth <ok>');
    const answer = await mam(alice, 'set', query({ queryid: 'q1' }));
    expect(answer.results).toHaveLength(2);
    const [first, second] = answer.results as [Element, Element];
    expect(first.attrs).toMatchObject({ to: `rs1@${DOMAIN}/laptop`, from: `rs1@${DOMAIN}` });
    expect(first.getChild('result', NS.mam)!.attrs).toMatchObject({ queryid: 'q1', id: a });
    const fwd = first.getChild('result', NS.mam)!.getChild('forwarded', NS_FORWARD)!;
    expect(fwd.getChild('delay', NS.delay)!.attrs.stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // The original stanza, as sent: attributes, namespace and body.
    const original = forwarded(first);
    expect(original.attrs).toMatchObject({ xmlns: NS.client, from: `rs1@${DOMAIN}/r`, to: `rs2@${DOMAIN}`, type: 'chat' });
    expect(original.attrs.id).toMatch(/^c\d+$/);
    expect(bodies(answer)).toEqual(['你好 👋', 'back & forth <ok>']);
    // The sender's copy has no stanza-id (the live one did not); the recipient's has the archive's.
    expect(original.getChild('stanza-id', NS.sid)).toBeUndefined();
    expect(forwarded(second).getChild('stanza-id', NS.sid)!.attrs).toMatchObject({ id: b, by: `rs1@${DOMAIN}` });
    // fin comes after the results and names the page.
    expect(alice.sent.indexOf(answer.iq)).toBeGreaterThan(alice.sent.indexOf(second));
    expect(fin(answer).attrs.complete).toBe('true');
    expect([rsmText(answer, 'first'), rsmText(answer, 'last')]).toEqual([a, b]);
  });

  it('an empty archive gives an empty, complete set', async () => {
    const nobody = h.connect('rs-empty', 'r');
    const answer = await mam(nobody, 'set', query());
    expect(answer.results).toEqual([]);
    expect(fin(answer).attrs.complete).toBe('true');
    expect(fin(answer).getChild('set', NS.rsm)!.children).toEqual([]);
  });

  it('drops a stanza-id the sender forged in the archive’s name', async () => {
    const forged = xml('stanza-id', { xmlns: NS.sid, id: 'forged', by: `fg1@${DOMAIN}` });
    const real = await archive('fg2', 'fg1', 'trust me', { extra: [forged] });
    const answer = await mam(h.connect('fg1', 'r'), 'set', query());
    const ids = forwarded(answer.results[0]!).getChildren('stanza-id').map((s) => s.attrs.id as string);
    expect(ids).toEqual([real]);
  });
});

describe('what each party sees', () => {
  it('the recipient sees a redacted body with the stanza-id; the sender the original', async () => {
    const id = await archive('rd1', 'rd2', 'card 4111 1111 1111 1111', { verdict: 'redact', redacted: 'card ****' });
    const recipient = await mam(h.connect('rd2', 'r'), 'set', query());
    expect(bodies(recipient)).toEqual(['card ****']);
    expect(forwarded(recipient.results[0]!).getChild('stanza-id', NS.sid)!.attrs.id).toBe(id);
    expect(recipient.results[0]!.toString()).not.toContain('4111');
    const sender = await mam(h.connect('rd1', 'r'), 'set', query());
    expect(bodies(sender)).toEqual(['card 4111 1111 1111 1111']);
  });

  it('a blocked message is the sender’s only; a held one reaches the recipient’s archive when released', async () => {
    await archive('bh1', 'bh2', 'blocked', { verdict: 'block' });
    const held = await archive('bh1', 'bh2', 'held', { verdict: 'hold' });
    const recipient = h.connect('bh2', 'r');
    expect(bodies(await mam(recipient, 'set', query()))).toEqual([]);
    expect(bodies(await mam(h.connect('bh1', 'r'), 'set', query()))).toEqual(['blocked', 'held']);
    // Paging from an id the recipient may not see is as if it did not exist.
    expect(errorCondition((await mam(recipient, 'set', query({ set: { after: held } }))).iq)).toBe('item-not-found');
    await db.sql`UPDATE incidents SET hold_state = 'released' WHERE stanza_id = ${held}`;
    expect(bodies(await mam(recipient, 'set', query()))).toEqual(['held']);
  });
});

describe('paging (§4.3, XEP-0059)', () => {
  let ids: string[] = [];
  let pager: FakeSession;
  beforeAll(async () => {
    ids = [];
    for (let i = 1; i <= 5; i++) ids.push(await archive(i % 2 ? 'pg1' : 'pg2', i % 2 ? 'pg2' : 'pg1', `m${i}`));
    pager = h.connect('pg1', 'r');
  });

  it('pages forwards with after until complete', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const answer = await mam(pager, 'set', query({ set: { max: '2', ...(after ? { after } : {}) } }));
      seen.push(...resultIds(answer));
      pages++;
      after = rsmText(answer, 'last') ?? undefined;
      if (fin(answer).attrs.complete === 'true') break;
      expect(fin(answer).attrs.complete).toBe('false');
    }
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('an empty before gives the last page, in chronological order; before an id, the page before it', async () => {
    const last = await mam(pager, 'set', query({ set: { max: '2', before: '' } }));
    expect(resultIds(last)).toEqual(ids.slice(3));
    expect(fin(last).attrs.complete).toBe('false');
    const previous = await mam(pager, 'set', query({ set: { max: '2', before: ids[3]! } }));
    expect(resultIds(previous)).toEqual(ids.slice(1, 3));
    const start = await mam(pager, 'set', query({ set: { max: '2', before: ids[1]! } }));
    expect(resultIds(start)).toEqual(ids.slice(0, 1));
    expect(fin(start).attrs.complete).toBe('true');
  });

  it('flip-page sends the same page newest first; fin is unchanged', async () => {
    const flipped = await mam(pager, 'set', query({ set: { max: '3' }, flip: true }));
    expect(resultIds(flipped)).toEqual(ids.slice(0, 3).reverse());
    expect([rsmText(flipped, 'first'), rsmText(flipped, 'last')]).toEqual([ids[0], ids[2]]);
  });

  it('max 0 returns the count alone', async () => {
    const counted = await mam(pager, 'set', query({ set: { max: '0' } }));
    expect(counted.results).toEqual([]);
    expect(rsmText(counted, 'count')).toBe('5');
    expect(fin(counted).attrs.complete).toBe('false');
    // The count is of the whole result set: an RSM cursor does not narrow it, the form's after-id does.
    expect(rsmText(await mam(pager, 'set', query({ set: { max: '0', after: ids[2]! } })), 'count')).toBe('5');
    expect(rsmText(await mam(pager, 'set', query({ fields: { 'after-id': ids[2]! }, set: { max: '0' } })), 'count')).toBe('2');
  });

  it('refuses an unknown after or before id with item-not-found', async () => {
    expect(errorCondition((await mam(pager, 'set', query({ set: { after: 'nope' } }))).iq)).toBe('item-not-found');
    expect(errorCondition((await mam(pager, 'set', query({ set: { before: 'nope' } }))).iq)).toBe('item-not-found');
  });

  it('after-id and before-id bound the query; ids fetch single items (#extended)', async () => {
    const between = await mam(pager, 'set', query({ fields: { 'after-id': ids[0]!, 'before-id': ids[4]! } }));
    expect(resultIds(between)).toEqual(ids.slice(1, 4));
    const picked = await mam(pager, 'set', query({ fields: { ids: [ids[3]!, ids[0]!] } }));
    expect(resultIds(picked)).toEqual([ids[0], ids[3]]);
    expect(errorCondition((await mam(pager, 'set', query({ fields: { ids: [ids[0]!, 'nope'] } }))).iq)).toBe('item-not-found');
    expect(errorCondition((await mam(pager, 'set', query({ fields: { 'after-id': 'nope' } }))).iq)).toBe('item-not-found');
  });

  it('refuses a bad timestamp, an unknown field and an index, and sends no results', async () => {
    const bad = await mam(pager, 'set', query({ fields: { start: 'last tuesday' } }));
    expect(errorCondition(bad.iq)).toBe('bad-request');
    expect(bad.results).toEqual([]);
    expect(errorCondition((await mam(pager, 'set', query({ fields: { 'full-text-search': 'x' } }))).iq)).toBe('feature-not-implemented');
    expect(errorCondition((await mam(pager, 'set', query({ set: { index: '3' } }))).iq)).toBe('feature-not-implemented');
  });
});

describe('the get requests', () => {
  it('gives the query form (§4.1.5)', async () => {
    const answer = await mam(h.connect('gt1', 'r'), 'get', xml('query', { xmlns: NS.mam }));
    const vars = answer.iq.getChild('query', NS.mam)!.getChild('x', NS.dataForms)!.getChildren('field').map((f) => f.attrs.var as string);
    expect(vars).toEqual(['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids']);
  });

  it('gives the archive’s first and last message as metadata; an empty archive an empty element', async () => {
    const first = await archive('md1', 'md2', 'one');
    await archive('md2', 'md1', 'two');
    const last = await archive('md1', 'md2', 'three');
    const meta = (await mam(h.connect('md1', 'r'), 'get', xml('metadata', { xmlns: NS.mam }))).iq.getChild('metadata', NS.mam)!;
    expect(meta.getChild('start')!.attrs.id).toBe(first);
    expect(meta.getChild('end')!.attrs.id).toBe(last);
    expect(meta.getChild('end')!.attrs.timestamp).toMatch(/Z$/);
    const empty = (await mam(h.connect('md-none', 'r'), 'get', xml('metadata', { xmlns: NS.mam }))).iq.getChild('metadata', NS.mam)!;
    expect(empty.children).toEqual([]);
  });

  it('reports archiving preferences as always, and refuses to change them', async () => {
    const s = h.connect('pf1', 'r');
    expect((await mam(s, 'get', xml('prefs', { xmlns: NS.mam }))).iq.getChild('prefs', NS.mam)!.attrs.default).toBe('always');
    expect(errorCondition((await mam(s, 'set', xml('prefs', { xmlns: NS.mam, default: 'never' }))).iq)).toBe('not-allowed');
  });
});

describe('reading archived stanzas', () => {
  it('reads one element per call and recovers after a broken one', () => {
    const reader = new RawStanzaReader();
    const a = reader.read(`<message xmlns='jabber:client' to='a@b'><body>你好 &amp; 👋</body></message>`);
    expect(a?.getChildText('body')).toBe('你好 & 👋');
    expect(reader.read('<message><body>unclosed')).toBeUndefined();
    expect(reader.read(`<message to='c@d'/>`)?.attrs).toMatchObject({ to: 'c@d', xmlns: NS.client });
  });
});
