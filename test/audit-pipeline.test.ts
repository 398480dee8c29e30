// The audit pipeline seen by real clients: alice sends, bob receives (or not), the archive and
// the incident list say what happened. Rules are managed over the admin API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';
import { api, connectParty, isMessage, xml, type Party } from './support/xmpp.ts';

let t: TestServer;
let alice: Party;
let bob: Party;
let officer: Party;

beforeAll(async () => {
  t = await startTestServer({ OFFICER_JIDS: 'officer@localhost' });
  await t.addUser('alice', 'alice-pw');
  await t.addUser('bob', 'bob-pw');
  await t.addUser('officer', 'officer-pw');
  const created = await Promise.all([
    api(t, 'POST', '/api/v1/rules', { name: 'weapons', type: 'keywords', keywords: ['炸弹', 'detonator'], action: 'block', severity: 'critical' }),
    api(t, 'POST', '/api/v1/rules', { name: 'cards', type: 'detector', detector: 'credit_card', action: 'redact', severity: 'high' }),
    api(t, 'POST', '/api/v1/rules', { name: 'gossip', type: 'keywords', keywords: ['rumour'], action: 'flag', severity: 'low' }),
    api(t, 'POST', '/api/v1/rules', { name: 'merger', type: 'keywords', keywords: ['收购计划', 'acquisition plan'], action: 'hold', severity: 'high' }),
  ]);
  for (const c of created) expect(c.status).toBe(201);
  alice = await connectParty(t, 'alice', 'alice-pw', 'phone');
  bob = await connectParty(t, 'bob', 'bob-pw', 'desk');
  officer = await connectParty(t, 'officer', 'officer-pw', 'console');
});
afterAll(async () => {
  await alice?.stop();
  await bob?.stop();
  await officer?.stop();
  await t?.close();
});

async function archived(clientId: string) {
  const rows = await t.db.sql<{ body: string; redacted_body: string | null; verdict: string; policy_version: string; matches: unknown[]; stanza_id: string }[]>`
    SELECT body, redacted_body, verdict, policy_version, matches, stanza_id FROM archive WHERE client_id = ${clientId}`;
  return rows;
}

describe('the audit pipeline with real clients', () => {
  it('blocks a Chinese keyword hidden by zero-width spaces; the sender gets <policy-violation/>, bob nothing', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'zw1' }, xml('body', {}, '这里有炸\u200b弹，小心')));
    const error = await alice.next((el) => el.is('message') && el.attrs.id === 'zw1' && el.attrs.type === 'error');
    expect(error.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(error.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/blocked/);
    const [row] = await archived('zw1');
    expect(row?.verdict).toBe('block');
    expect(row?.body).toBe('这里有炸\u200b弹，小心');
    // A later message arrives, the blocked one never did.
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'after-zw1' }, xml('body', {}, 'hello')));
    await bob.next(isMessage('after-zw1'));
    expect(bob.inbox.some((el) => el.attrs.id === 'zw1')).toBe(false);
  });

  it('redacts a Luhn-valid card number for bob and keeps it whole in the archive', async () => {
    const body = 'my card is 4111 1111 1111 1111, exp 12/29';
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'cc1' }, xml('body', {}, body)));
    const got = await bob.next(isMessage('cc1'));
    expect(got.getChildText('body')).toBe('my card is ███████████████████, exp 12/29');
    const [row] = await archived('cc1');
    expect(row?.body).toBe(body);
    expect(row?.redacted_body).toBe(got.getChildText('body'));
    expect(row?.verdict).toBe('redact');
    expect(got.getChild('stanza-id', 'urn:xmpp:sid:0')?.attrs.id).toBe(row?.stanza_id);
  });

  it('does not redact a Luhn-invalid number', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'cc2' }, xml('body', {}, 'order 4111 1111 1111 1112')));
    expect((await bob.next(isMessage('cc2'))).getChildText('body')).toBe('order 4111 1111 1111 1112');
  });

  it('delivers a flagged message and opens an incident recording the policy version', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'fl1' }, xml('body', {}, 'have you heard the rumour?')));
    await bob.next(isMessage('fl1'));
    const [row] = await archived('fl1');
    expect(row?.verdict).toBe('flag');
    expect(Number(row?.policy_version)).toBe(t.server.policy.version);
    const incidents = await t.db.sql`SELECT verdict, severity FROM incidents WHERE stanza_id = ${row!.stanza_id}`;
    expect(incidents).toEqual([{ verdict: 'flag', severity: 'low' }]);
  });

  it('holds a message until an officer releases it; then bob gets it with <delay/>, and the officer was alerted', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'hold1' }, xml('body', {}, '关于收购计划的文件')));
    const alert = await officer.next((el) => el.is('message') && el.attrs.type === 'headline' && /merger/.test(el.getChildText('body') ?? ''));
    expect(alert.attrs.from).toBe('localhost');
    const [row] = await archived('hold1');
    expect(row?.verdict).toBe('hold');
    const [incident] = await t.db.sql<{ id: string }[]>`SELECT id FROM incidents WHERE stanza_id = ${row!.stanza_id}`;
    // Nothing reaches bob while it is held (a later message overtakes it).
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'after-hold1' }, xml('body', {}, 'ping')));
    await bob.next(isMessage('after-hold1'));
    expect(bob.inbox.some((el) => el.attrs.id === 'hold1')).toBe(false);

    const released = await api(t, 'POST', `/api/v1/incidents/${incident!.id}/release`, undefined, 'officer');
    expect(released.status).toBe(200);
    const got = await bob.next(isMessage('hold1'));
    expect(got.getChildText('body')).toBe('关于收购计划的文件');
    expect(got.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp).toBeDefined();
    expect((await api(t, 'POST', `/api/v1/incidents/${incident!.id}/release`, undefined, 'officer')).status).toBe(409);
  });

  it('tells the sender when an officer rejects a held message, and never delivers it', async () => {
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'hold2' }, xml('body', {}, 'the acquisition plan is attached')));
    let incidentId: string | undefined;
    for (let i = 0; i < 50 && !incidentId; i++) {
      [{ id: incidentId } = { id: undefined }] = await t.db.sql<{ id: string }[]>`
        SELECT i.id FROM incidents i JOIN archive a ON a.stanza_id = i.stanza_id WHERE a.client_id = 'hold2'`;
      if (!incidentId) await new Promise((r) => setTimeout(r, 50));
    }
    expect((await api(t, 'POST', `/api/v1/incidents/${incidentId}/reject`, undefined, 'officer')).status).toBe(200);
    const error = await alice.next((el) => el.attrs.id === 'hold2' && el.attrs.type === 'error');
    expect(error.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/rejected/);
    await new Promise((r) => setTimeout(r, 200));
    expect(bob.inbox.some((el) => el.attrs.id === 'hold2')).toBe(false);
  });

  it('refuses an OMEMO-encrypted message and archives it with the verdict', async () => {
    await alice.xmpp.send(
      xml('message', { to: 'bob@localhost', type: 'chat', id: 'om1' }, xml('encrypted', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('payload', {}, 'AAAA')), xml('body', {}, 'I sent you an OMEMO encrypted message')),
    );
    const error = await alice.next((el) => el.attrs.id === 'om1' && el.attrs.type === 'error');
    expect(error.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/encrypted/i);
    const [row] = await archived('om1');
    expect(row?.verdict).toBe('block');
  });

  it('refuses publishing an OMEMO device list, so the client falls back to plaintext', async () => {
    await alice.xmpp.send(
      xml('iq', { type: 'set', id: 'pep1' }, xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' },
        xml('publish', { node: 'eu.siacs.conversations.axolotl.devicelist' }, xml('item', { id: 'current' }, xml('list', { xmlns: 'eu.siacs.conversations.axolotl' }, xml('device', { id: '1' })))))),
    );
    const error = await alice.next((el) => el.is('iq') && el.attrs.id === 'pep1');
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(error.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toMatch(/encrypted/i);
  });

  it('gives in a dry run exactly the decision the live pipeline made', async () => {
    for (const id of ['zw1', 'cc1', 'cc2', 'fl1']) {
      const [row] = await archived(id);
      const dry = await api(t, 'POST', '/api/v1/audit/scan', { text: row!.body, from: 'alice@localhost', to: 'bob@localhost', type: 'chat' }, 'officer');
      expect(dry.status).toBe(200);
      expect(dry.json.verdict).toBe(row!.verdict);
      expect(dry.json.matches).toEqual(row!.matches);
      if (row!.redacted_body) expect(dry.json.redacted).toBe(row!.redacted_body);
    }
  });

  it('applies a rule change to the next message without a restart, under a new policy version', async () => {
    const before = t.server.policy.version;
    const created = await api(t, 'POST', '/api/v1/rules', { name: 'new', type: 'regex', pattern: 'project\\s+x', flags: 'i', action: 'block', severity: 'medium' });
    expect(created.json.policyVersion).toBeGreaterThan(before);
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'px1' }, xml('body', {}, 'about PROJECT   X')));
    await alice.next((el) => el.attrs.id === 'px1' && el.attrs.type === 'error');
    const [row] = await archived('px1');
    expect(Number(row?.policy_version)).toBe(created.json.policyVersion);
    expect((await api(t, 'DELETE', `/api/v1/rules/${created.json.id}`)).status).toBe(204);
    await alice.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'px2' }, xml('body', {}, 'about PROJECT X again')));
    await bob.next(isMessage('px2'));
  });
});

describe('what the officer sees afterwards', () => {
  it('finds the messages by a Chinese substring through the search API', async () => {
    const found = await api(t, 'GET', `/api/v1/messages?q=${encodeURIComponent('收购计划')}&user=alice`, undefined, 'officer');
    expect(found.status).toBe(200);
    expect(found.json.items.map((m: { body: string }) => m.body)).toContain('关于收购计划的文件');
  });

  it('verifies the hash chain, and names the row a person edited by hand in SQL', async () => {
    const before = await api(t, 'GET', '/api/v1/archive/verify', undefined, 'auditor');
    expect(before.status).toBe(200);
    expect(before.json.ok).toBe(true);
    const [row] = await archived('cc2');
    await t.db.sql`UPDATE archive SET body = 'nothing to see here' WHERE stanza_id = ${row!.stanza_id}`;
    const after = await api(t, 'GET', '/api/v1/archive/verify', undefined, 'auditor');
    expect(after.json.ok).toBe(false);
    const broken = after.json.chains.find((c: { ok: boolean }) => !c.ok);
    expect(broken.firstBroken.stanzaId).toBe(row!.stanza_id);
    // Put it back so later tests see an intact chain.
    await t.db.sql`UPDATE archive SET body = ${row!.body} WHERE stanza_id = ${row!.stanza_id}`;
    expect((await api(t, 'GET', '/api/v1/archive/verify', undefined, 'auditor')).json.ok).toBe(true);
  });
});

describe('iq between clients', () => {
  it('refuses in-band bytestreams (a file transfer that would bypass the archive) with <policy-violation/>', async () => {
    await alice.xmpp.send(
      xml('iq', { to: bob.jid, type: 'set', id: 'ibb1' }, xml('open', { xmlns: 'http://jabber.org/protocol/ibb', sid: 's1', 'block-size': '4096' })),
    );
    const error = await alice.next((el) => el.is('iq') && el.attrs.id === 'ibb1');
    expect(error.attrs.type).toBe('error');
    expect(error.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    expect(bob.inbox.some((el) => el.attrs.id === 'ibb1')).toBe(false);
  });

  it('forwards a disco#info query to another client', async () => {
    await alice.xmpp.send(xml('iq', { to: bob.jid, type: 'get', id: 'disco1' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    await bob.next((el) => el.is('iq') && el.attrs.id === 'disco1');
  });
});

describe('the rules API', () => {
  it.each([
    [{ name: 'bad', type: 'regex', pattern: '(unclosed', action: 'flag', severity: 'low' }, /pattern/],
    [{ name: 'bad', type: 'detector', detector: 'horoscope', action: 'flag', severity: 'low' }, /detector/],
    [{ name: 'bad', type: 'keywords', keywords: [], action: 'flag', severity: 'low' }, /keywords/],
    [{ name: 'bad', type: 'keywords', keywords: ['x'], action: 'explode', severity: 'low' }, /action/],
  ])('rejects an invalid rule with a JSON error naming the field (%#)', async (body, field) => {
    const res = await api(t, 'POST', '/api/v1/rules', body);
    expect(res.status).toBe(400);
    expect(res.json.detail).toMatch(field);
    expect(Array.isArray(res.json.errors)).toBe(true);
  });

  it('lists, reads, updates and deletes rules; 404 for an unknown one; 401 without the token', async () => {
    const list = await api(t, 'GET', '/api/v1/rules');
    expect(list.json.items.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['weapons', 'cards', 'gossip']));
    const gossip = list.json.items.find((r: { name: string }) => r.name === 'gossip');
    const updated = await api(t, 'PUT', `/api/v1/rules/${gossip.id}`, { ...gossip, id: undefined, createdAt: undefined, updatedAt: undefined, severity: 'medium' });
    expect(updated.status).toBe(200);
    expect(updated.json.severity).toBe('medium');
    expect((await api(t, 'GET', '/api/v1/rules/r_nope')).status).toBe(404);
    const anon = await fetch(`http://127.0.0.1:${t.server.ports.http}/api/v1/rules`);
    expect(anon.status).toBe(401);
  });
});
