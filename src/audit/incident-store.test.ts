// The incident store over real SQL: incidents are opened by the ArchiveWriter exactly as in
// production (same statement as the archive rows), then listed, read, decided and sent.
import { randomUUID } from 'node:crypto';
import type { TransactionSql } from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { NS } from '../ns.ts';
import { xml } from '../xml.ts';
import type { ArchiveEntry, RuleMatch, Verdict } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { ArchiveWriter } from './archive-writer.ts';
import { createIncidentStore, incidentJson, isIncidentId, type IncidentStore } from './incident-store.ts';
import { InvalidCursorError } from './invalid-cursor-error.ts';

let db: TestDatabase;
let writer: ArchiveWriter;
let store: IncidentStore;

beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
  writer = new ArchiveWriter(db.sql, 'incident-store-test', silentLogger);
  store = createIncidentStore(db.sql);
});
afterAll(async () => {
  await writer?.close();
  await db?.close();
});

const match = (ruleId: string, severity: RuleMatch['severity'], action: RuleMatch['action'], body: string, word: string): RuleMatch => {
  const start = body.indexOf(word);
  return { ruleId, ruleName: `Rule ${ruleId}`, action, severity, start, end: start + word.length, match: word };
};

/** Archives one message; returns its incident id (undefined for 'allow'). */
async function archive(verdict: Verdict, opts: { body?: string; rules?: Array<[string, RuleMatch['severity']]>; from?: string; to?: string } = {}) {
  const body = opts.body ?? 'please send the secret plan today';
  const fromJid = opts.from ?? 'alice@example.org/phone';
  const toJid = opts.to ?? 'bob@example.org';
  const clientId = `c-${randomUUID()}`;
  const raw = xml('message', { xmlns: NS.client, from: fromJid, to: toJid, type: 'chat', id: clientId }, xml('body', {}, body)).toString();
  const action = verdict === 'allow' ? 'flag' : verdict;
  const entry: ArchiveEntry = {
    ts: new Date(),
    stanzaId: randomUUID(),
    originId: null,
    clientId,
    fromJid,
    toJid,
    fromBare: fromJid.split('/')[0]!,
    toBare: toJid.split('/')[0]!,
    type: 'chat',
    thread: null,
    body,
    redactedBody: null,
    raw,
    direction: 'internal',
    verdict,
    reason: null,
    matches: verdict === 'allow' ? [] : (opts.rules ?? [['r-secret', 'high']]).map(([id, sev]) => match(id, sev, action, body, 'secret')),
    policyVersion: 1,
  };
  const row = await writer.append(entry);
  return { incidentId: row.incidentId, entry };
}

describe('incident ids', () => {
  it.each([
    ['1', true],
    ['9223372036854775807', true],
    ['9223372036854775808', false],
    ['0', false],
    ['-1', false],
    ['1e3', false],
    ['', false],
  ])('%j is an incident id: %s', (id, ok) => {
    expect(isIncidentId(id)).toBe(ok);
  });
});

describe('listing incidents', () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    ids.flagLow = (await archive('flag', { rules: [['r-low', 'low']] })).incidentId!;
    expect((await archive('allow')).incidentId).toBeUndefined();
    ids.blockCritical = (await archive('block', { rules: [['r-crit', 'critical'], ['r-secret', 'medium']] })).incidentId!;
    ids.hold = (await archive('hold', { rules: [['r-hold', 'high']] })).incidentId!;
    await db.sql`UPDATE incidents SET status = 'resolved', resolved_at = now() WHERE id = ${ids.flagLow!}::bigint`;
  });

  it('lists newest first and never lists allowed messages', async () => {
    const page = await store.list({ limit: 100 });
    const mine = page.items.map((i) => i.id).filter((id) => Object.values(ids).includes(id));
    expect(mine).toEqual([ids.hold, ids.blockCritical, ids.flagLow]);
    expect(page.items.every((i) => i.verdict !== ('allow' as string))).toBe(true);
  });

  it('filters by status, severity, rule and hold state', async () => {
    expect((await store.list({ limit: 100, status: 'resolved' })).items.map((i) => i.id)).toEqual([ids.flagLow]);
    expect((await store.list({ limit: 100, severity: 'critical' })).items.map((i) => i.id)).toEqual([ids.blockCritical]);
    expect((await store.list({ limit: 100, rule: 'r-crit' })).items.map((i) => i.id)).toEqual([ids.blockCritical]);
    expect((await store.list({ limit: 100, rule: 'r-secret' })).items.map((i) => i.id)).toContain(ids.blockCritical);
    expect((await store.list({ limit: 100, hold: 'held' })).items.map((i) => i.id)).toContain(ids.hold);
    expect((await store.list({ limit: 100, status: 'open', severity: 'low' })).items).toEqual([]);
  });

  it('pages with a cursor until next is null', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await store.list({ limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((x) => x.id));
      if (page.next === null) break;
      cursor = page.next;
    }
    const all = (await store.list({ limit: 100 })).items.map((i) => i.id);
    expect(seen).toEqual(all);
  });

  it('refuses a cursor it did not hand out', async () => {
    await expect(store.list({ limit: 1, cursor: 'abc' })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('reads one incident with its archived message', async () => {
    const found = await store.getWithMessage(ids.blockCritical!);
    expect(found?.incident).toMatchObject({ verdict: 'block', severity: 'critical', ruleIds: ['r-crit', 'r-secret'], fromBare: 'alice@example.org', toBare: 'bob@example.org', status: 'open', holdState: null });
    expect(found?.message).toMatchObject({ fromJid: 'alice@example.org/phone', toJid: 'bob@example.org', body: 'please send the secret plan today', verdict: 'block', type: 'chat' });
    expect(found?.message?.ts.getTime()).toBe(found?.incident.messageTs.getTime());
    expect(found?.message?.matches).toHaveLength(2);
    expect(await store.getWithMessage('999999999')).toBeUndefined();
    expect(await store.getWithMessage('x')).toBeUndefined();
  });

  it('serialises an incident to JSON with ISO dates', async () => {
    const incident = (await store.get(ids.hold!))!;
    const json = incidentJson(incident);
    expect(json).toMatchObject({ id: ids.hold, verdict: 'hold', holdState: 'held', from: 'alice@example.org', to: 'bob@example.org', holdDecidedAt: null });
    expect(new Date(json.createdAt).toISOString()).toBe(json.createdAt);
  });
});

describe('deciding a held message', () => {
  it('releases once, records the event in the same statement, then answers already-decided', async () => {
    const { incidentId } = await archive('hold');
    const first = await store.decideHold(incidentId!, 'release', 'admin', { note: 'fine' });
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    expect(first.incident).toMatchObject({ holdState: 'released', holdDecidedBy: 'admin' });
    expect(first.incident.holdDecidedAt).toBeInstanceOf(Date);
    expect(first.message?.raw).toContain('secret plan');
    expect(await store.events(incidentId!)).toMatchObject([{ actor: 'admin', action: 'released', detail: { note: 'fine' } }]);

    const second = await store.decideHold(incidentId!, 'reject', 'admin');
    expect(second).toMatchObject({ ok: false, reason: 'already-decided', incident: { holdState: 'released' } });
    expect(await store.events(incidentId!)).toHaveLength(1);
  });

  it('answers not-held for an incident that is not a hold, and not-found for none', async () => {
    const { incidentId } = await archive('flag');
    expect(await store.decideHold(incidentId!, 'release', 'admin')).toMatchObject({ ok: false, reason: 'not-held' });
    expect(await store.decideHold('987654321', 'release', 'admin')).toEqual({ ok: false, reason: 'not-found' });
    expect(await store.decideHold('nope', 'release', 'admin')).toEqual({ ok: false, reason: 'not-found' });
  });

  it('lets exactly one of two simultaneous decisions win', async () => {
    const { incidentId } = await archive('hold');
    const results = await Promise.all([store.decideHold(incidentId!, 'release', 'officer-1'), store.decideHold(incidentId!, 'reject', 'officer-2')]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'already-decided')).toHaveLength(1);
    expect(await store.events(incidentId!)).toHaveLength(1);
  });
});

describe('the review workflow', () => {
  beforeAll(async () => {
    await db.sql`
      INSERT INTO console_accounts (username, role, password_hash, created_by)
      VALUES ('olivia', 'officer', 'x', 'test'), ('audrey', 'auditor', 'x', 'test')`;
  });

  it('lists each incident with its message body, and filters by assignee', async () => {
    const { incidentId, entry } = await archive('flag', { body: '请把秘密 secret 计划发给我' });
    const { incidentId: other } = await archive('flag');
    expect((await store.assign(incidentId!, 'olivia', 'olivia')).ok).toBe(true);
    const page = await store.list({ limit: 100, assignee: 'olivia' });
    expect(page.items.map((i) => [i.id, i.assignee, i.body])).toEqual([[incidentId, 'olivia', entry.body]]);
    const unassigned = await store.list({ limit: 100, unassigned: true });
    expect(unassigned.items.map((i) => i.id)).toContain(other);
    expect(unassigned.items.every((i) => i.assignee === null)).toBe(true);
    const assigned = await store.list({ limit: 100, unassigned: false });
    expect(assigned.items.map((i) => i.id)).toEqual([incidentId]);
    await store.assign(incidentId!, null, 'olivia');
  });

  it('knows which accounts are officers', async () => {
    expect(await store.isOfficer('olivia')).toBe(true);
    expect(await store.isOfficer('audrey')).toBe(false);
    expect(await store.isOfficer('nobody')).toBe(false);
  });

  it('assigns only to officers, recording the previous assignee', async () => {
    const { incidentId } = await archive('flag');
    expect(await store.assign(incidentId!, 'audrey', 'olivia')).toMatchObject({ ok: false, reason: 'no-such-officer', incident: { assignee: null } });
    expect(await store.assign(incidentId!, 'olivia', 'olivia')).toMatchObject({ ok: true, incident: { assignee: 'olivia' } });
    expect(await store.assign(incidentId!, null, 'olivia')).toMatchObject({ ok: true, incident: { assignee: null } });
    expect(await store.assign('987654321', 'olivia', 'olivia')).toEqual({ ok: false, reason: 'not-found' });
    expect((await store.events(incidentId!)).map((e) => [e.action, e.detail])).toEqual([
      ['assign', { assignee: 'olivia', previous: null }],
      ['assign', { assignee: null, previous: 'olivia' }],
    ]);
  });

  it('adds comments as events', async () => {
    const { incidentId } = await archive('flag');
    const event = await store.comment(incidentId!, 'olivia', '需要升级 🚨');
    expect(event).toMatchObject({ incidentId, actor: 'olivia', action: 'comment', detail: { text: '需要升级 🚨' } });
    expect(await store.events(incidentId!)).toEqual([event]);
    expect(await store.comment('987654321', 'olivia', 'x')).toBeUndefined();
    expect(await store.comment('x', 'olivia', 'x')).toBeUndefined();
  });

  it('resolves once, refuses a held message, and reopens', async () => {
    const { incidentId } = await archive('flag');
    const resolved = await store.resolve(incidentId!, 'false_positive', 'olivia', 'harmless');
    expect(resolved).toMatchObject({ ok: true, incident: { status: 'resolved', disposition: 'false_positive' } });
    if (resolved.ok) expect(resolved.incident.resolvedAt).toBeInstanceOf(Date);
    expect(await store.resolve(incidentId!, 'true_positive', 'olivia')).toMatchObject({ ok: false, reason: 'already-resolved', incident: { disposition: 'false_positive' } });
    expect(await store.reopen(incidentId!, 'olivia')).toMatchObject({ ok: true, incident: { status: 'open', disposition: null, resolvedAt: null } });
    expect(await store.reopen(incidentId!, 'olivia')).toMatchObject({ ok: false, reason: 'not-resolved' });
    expect((await store.events(incidentId!)).map((e) => [e.action, e.detail])).toEqual([
      ['resolve', { disposition: 'false_positive', note: 'harmless' }],
      ['reopen', { previousDisposition: 'false_positive' }],
    ]);

    const { incidentId: heldId } = await archive('hold');
    expect(await store.resolve(heldId!, 'true_positive', 'olivia')).toMatchObject({ ok: false, reason: 'still-held' });
    await store.decideHold(heldId!, 'reject', 'olivia');
    expect((await store.resolve(heldId!, 'true_positive', 'olivia')).ok).toBe(true);
    expect(await store.resolve('987654321', 'true_positive', 'olivia')).toEqual({ ok: false, reason: 'not-found' });
    expect(await store.reopen('987654321', 'olivia')).toEqual({ ok: false, reason: 'not-found' });
  });

  it('lets exactly one of two simultaneous resolves win', async () => {
    const { incidentId } = await archive('flag');
    const results = await Promise.all([store.resolve(incidentId!, 'true_positive', 'officer-1'), store.resolve(incidentId!, 'escalated', 'officer-2')]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.reason === 'already-resolved')).toHaveLength(1);
    expect((await store.events(incidentId!)).filter((e) => e.action === 'resolve')).toHaveLength(1);
  });

  describe('a step in the action\'s own transaction (the access-log entry)', () => {
    /** A step that writes a marker row in the transaction, or fails after writing it. */
    const marks = (fail = false) => async (tx: TransactionSql) => {
      await tx`INSERT INTO step_marks DEFAULT VALUES`;
      if (fail) throw new Error('the access log is down');
    };
    const markCount = async () => Number((await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM step_marks`)[0]!.n);
    beforeAll(async () => {
      await db.sql`CREATE TABLE step_marks (id serial PRIMARY KEY)`;
    });

    it('runs, and commits, only when the action took effect', async () => {
      const { incidentId } = await archive('flag');
      const { incidentId: heldId } = await archive('hold');
      const before = await markCount();
      expect((await store.assign(incidentId!, 'olivia', 'olivia', marks())).ok).toBe(true);
      expect((await store.assign(incidentId!, 'audrey', 'olivia', marks())).ok).toBe(false);
      expect(await store.comment(incidentId!, 'olivia', 'hm', marks())).toBeDefined();
      expect(await store.comment('987654321', 'olivia', 'hm', marks())).toBeUndefined();
      expect((await store.resolve(incidentId!, 'escalated', 'olivia', undefined, marks())).ok).toBe(true);
      expect((await store.resolve(incidentId!, 'escalated', 'olivia', undefined, marks())).ok).toBe(false);
      expect((await store.reopen(incidentId!, 'olivia', marks())).ok).toBe(true);
      expect((await store.reopen(incidentId!, 'olivia', marks())).ok).toBe(false);
      expect((await store.decideHold(heldId!, 'release', 'olivia', {}, marks())).ok).toBe(true);
      expect((await store.decideHold(heldId!, 'reject', 'olivia', {}, marks())).ok).toBe(false);
      expect(await markCount()).toBe(before + 5);
    });

    it('undoes the action when it fails: state and events as before', async () => {
      const { incidentId } = await archive('flag');
      const { incidentId: heldId } = await archive('hold');
      const before = await markCount();
      await expect(store.assign(incidentId!, 'olivia', 'olivia', marks(true))).rejects.toThrow('the access log is down');
      await expect(store.comment(incidentId!, 'olivia', 'hm', marks(true))).rejects.toThrow('the access log is down');
      await expect(store.resolve(incidentId!, 'true_positive', 'olivia', 'n', marks(true))).rejects.toThrow('the access log is down');
      await expect(store.decideHold(heldId!, 'release', 'olivia', {}, marks(true))).rejects.toThrow('the access log is down');
      expect(await store.get(incidentId!)).toMatchObject({ assignee: null, status: 'open', disposition: null });
      expect(await store.get(heldId!)).toMatchObject({ holdState: 'held', holdDecidedBy: null });
      expect(await store.events(incidentId!)).toEqual([]);
      expect(await store.events(heldId!)).toEqual([]);
      await store.resolve(incidentId!, 'true_positive', 'olivia');
      await expect(store.reopen(incidentId!, 'olivia', marks(true))).rejects.toThrow('the access log is down');
      expect(await store.get(incidentId!)).toMatchObject({ status: 'resolved', disposition: 'true_positive' });
      expect(await markCount()).toBe(before);
    });
  });

  it('counts incidents per rule', async () => {
    const { incidentId } = await archive('flag', { rules: [['r-stats-a', 'low'], ['r-stats-b', 'high']] });
    await archive('flag', { rules: [['r-stats-a', 'low']] });
    await store.resolve(incidentId!, 'false_positive', 'olivia');
    const stats = (await store.ruleStats({})).filter((r) => r.ruleId.startsWith('r-stats-'));
    // Neither rule is in the rules table: named by its id and marked as no longer a rule.
    expect(stats).toEqual([
      { ruleId: 'r-stats-a', name: 'r-stats-a', deleted: true, hits: 2, open: 1, truePositive: 0, falsePositive: 1, escalated: 0 },
      { ruleId: 'r-stats-b', name: 'r-stats-b', deleted: true, hits: 1, open: 0, truePositive: 0, falsePositive: 1, escalated: 0 },
    ]);
    expect((await store.ruleStats({ until: new Date(Date.now() - 86_400_000) })).filter((r) => r.ruleId.startsWith('r-stats-'))).toEqual([]);
  });
});

describe('webhook outbox', () => {
  // Earlier tests left incidents pending; mark them delivered so these see only their own.
  beforeAll(async () => {
    await db.sql`UPDATE incidents SET webhook_done = true`;
  });

  it('claims a due incident once, counts the attempt, and holds it for the lease', async () => {
    const { incidentId } = await archive('flag');
    const claimed = await store.webhooks.claim(10, 60_000, 10);
    expect(claimed.map((i) => i.id)).toEqual([incidentId]);
    expect(claimed[0]!.webhookAttempts).toBe(1);
    expect(await store.webhooks.claim(10, 60_000, 10)).toEqual([]);
    await store.webhooks.delivered(incidentId!);
    expect((await store.get(incidentId!))?.webhookDone).toBe(true);
  });

  it('makes a failed attempt due again after the delay, and parks it when giving up', async () => {
    const { incidentId } = await archive('flag');
    await store.webhooks.claim(10, 60_000, 10);
    await store.webhooks.failed(incidentId!, 0);
    const again = await store.webhooks.claim(10, 60_000, 10);
    expect(again.map((i) => [i.id, i.webhookAttempts])).toEqual([[incidentId, 2]]);
    await store.webhooks.failed(incidentId!, null);
    await db.sql`UPDATE incidents SET webhook_attempts = 0 WHERE id = ${incidentId!}::bigint`;
    expect(await store.webhooks.claim(10, 60_000, 10)).toEqual([]);
    expect((await store.get(incidentId!))?.webhookDone).toBe(false);
    await store.webhooks.delivered(incidentId!);
  });

  it('stops at the attempt limit', async () => {
    const { incidentId } = await archive('flag');
    await db.sql`UPDATE incidents SET webhook_attempts = 3 WHERE id = ${incidentId!}::bigint`;
    expect(await store.webhooks.claim(10, 60_000, 3)).toEqual([]);
    expect((await store.webhooks.claim(10, 60_000, 4)).map((i) => i.id)).toEqual([incidentId]);
    await store.webhooks.delivered(incidentId!);
  });

  it('gives an unfinished attempt back with unclaim', async () => {
    const { incidentId } = await archive('flag');
    await store.webhooks.claim(10, 60_000, 10);
    await store.webhooks.unclaim(incidentId!);
    const again = await store.webhooks.claim(10, 60_000, 10);
    expect(again.map((i) => [i.id, i.webhookAttempts])).toEqual([[incidentId, 1]]);
    await store.webhooks.delivered(incidentId!);
  });

  it('hands disjoint rows to claimers running at once', async () => {
    const mine = new Set<string>();
    for (let i = 0; i < 6; i++) mine.add((await archive('flag')).incidentId!);
    const [a, b, c] = await Promise.all([store.webhooks.claim(2, 60_000, 10), store.webhooks.claim(2, 60_000, 10), store.webhooks.claim(2, 60_000, 10)]);
    const all = [...a!, ...b!, ...c!].map((i) => i.id);
    expect(new Set(all).size).toBe(all.length);
    expect(new Set(all)).toEqual(mine);
    for (const id of mine) await store.webhooks.delivered(id);
  });
});
