// GET /api/v1/rules/stats over a real database: incidents opened by the ArchiveWriter (and by a
// retro-scan), resolved through the incident store, counted per rule.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../../test/support/database.ts';
import { archiveEntry } from '../../../test/support/archive.ts';
import { fakeApiDeps } from '../../../test/support/fake-auth.ts';
import type { RuleMatch } from '../../audit/archive-record.ts';
import { ArchiveWriter } from '../../audit/archive-writer.ts';
import { createIncidentStore, type Disposition, type IncidentStore } from '../../audit/incident-store.ts';
import { queueRetroScan, RetroScanner } from '../../audit/retro-scan.ts';
import { silentLogger } from '../../log.ts';
import { buildApiApp } from '../app.ts';
import { falsePositiveRate, ruleStatsRoutes } from './rule-stats.ts';

const headers = (token: string) => ({ authorization: `Bearer ${token}` });
const OFFICER = headers('officer-token_0123456789');
const ADMIN = headers('admin-token_0123456789');
const AUDITOR = headers('auditor-token_0123456789');

describe('falsePositiveRate', () => {
  it.each([
    [{ truePositive: 0, falsePositive: 0, escalated: 0 }, null],
    [{ truePositive: 3, falsePositive: 0, escalated: 0 }, 0],
    [{ truePositive: 0, falsePositive: 2, escalated: 0 }, 1],
    [{ truePositive: 1, falsePositive: 1, escalated: 2 }, 0.25],
    [{ truePositive: 0, falsePositive: 1, escalated: 2 }, 1 / 3],
  ])('%j → %s', (counts, rate) => {
    expect(falsePositiveRate(counts)).toBe(rate);
  });
});

describe('GET /api/v1/rules/stats', () => {
  let db: TestDatabase;
  let writer: ArchiveWriter;
  let store: IncidentStore;
  let app: FastifyInstance;

  const MARCH = Date.parse('2024-03-01T00:00:00Z');
  const day = (n: number) => new Date(MARCH + n * 86_400_000);

  /** An incident on day `n` matched by `rules`, resolved with `disposition` when given. */
  async function incident(n: number, rules: string[], disposition?: Disposition): Promise<void> {
    const body = 'the secret plan';
    const matches: RuleMatch[] = rules.map((ruleId) => ({ ruleId, ruleName: ruleId, action: 'flag', severity: 'high', start: 4, end: 10, match: 'secret' }));
    const row = await writer.append(
      archiveEntry({ ts: day(n), stanzaId: randomUUID(), fromBare: 'alice@example.org', toBare: 'bob@example.org', body, verdict: 'flag', matches }),
    );
    if (disposition !== undefined) expect((await store.resolve(row.incidentId!, disposition, 'olivia')).ok).toBe(true);
  }

  beforeAll(async () => {
    db = await openTestDatabase();
    writer = new ArchiveWriter(db.sql, 'rule-stats-test', silentLogger);
    store = createIncidentStore(db.sql);
    await db.sql`
      INSERT INTO rules (id, name, type, keywords, action, severity, deleted_at) VALUES
        ('r-cards', 'Card numbers', 'keywords', '{card}', 'flag', 'high', NULL),
        ('r-noisy', 'Noisy words', 'keywords', '{plan}', 'flag', 'low', NULL),
        ('r-quiet', 'Never fires', 'keywords', '{xyzzy}', 'flag', 'low', NULL),
        ('r-old', 'Retired rule', 'keywords', '{old}', 'flag', 'low', now()),
        ('r-old-unused', 'Retired, no hits', 'keywords', '{older}', 'flag', 'low', now())`;
    // r-noisy: 5 hits (1 open, 1 TP, 3 FP); r-cards: 3 hits (1 open, 1 TP, 1 escalated); r-old: 1 open hit.
    await incident(1, ['r-noisy', 'r-cards'], 'true_positive');
    await incident(2, ['r-noisy'], 'false_positive');
    await incident(3, ['r-noisy'], 'false_positive');
    await incident(4, ['r-noisy'], 'false_positive');
    await incident(5, ['r-noisy']);
    await incident(5, ['r-cards'], 'escalated');
    await incident(6, ['r-cards']);
    await incident(7, ['r-old']);
    app = await buildApiApp(
      fakeApiDeps('example.org', { 'officer-token_0123456789': 'officer', 'admin-token_0123456789': 'admin', 'auditor-token_0123456789': 'auditor' }),
      { resources: [{ prefix: '/v1/rules/stats', plugin: ruleStatsRoutes({ store }) }] },
    );
  });
  afterAll(async () => {
    await app?.close();
    await writer?.close();
    await db?.close();
  });

  const stats = async (query = '', as = OFFICER) => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/rules/stats${query}`, headers: as });
    expect(res.statusCode).toBe(200);
    return (res.json() as { items: Array<Record<string, unknown>> }).items;
  };

  it('counts hits and dispositions per rule, most hits first, with the false-positive rate', async () => {
    expect(await stats()).toEqual([
      { ruleId: 'r-noisy', name: 'Noisy words', deleted: false, hits: 5, open: 1, truePositive: 1, falsePositive: 3, escalated: 0, falsePositiveRate: 0.75 },
      { ruleId: 'r-cards', name: 'Card numbers', deleted: false, hits: 3, open: 1, truePositive: 1, falsePositive: 0, escalated: 1, falsePositiveRate: 0 },
      // A deleted rule is listed while it has hits; one without is not.
      { ruleId: 'r-old', name: 'Retired rule', deleted: true, hits: 1, open: 1, truePositive: 0, falsePositive: 0, escalated: 0, falsePositiveRate: null },
      // A live rule that never fired is worth seeing too.
      { ruleId: 'r-quiet', name: 'Never fires', deleted: false, hits: 0, open: 0, truePositive: 0, falsePositive: 0, escalated: 0, falsePositiveRate: null },
    ]);
  });

  it('counts only messages in [since, until)', async () => {
    const items = await stats(`?since=${day(2).toISOString()}&until=${day(5).toISOString()}`);
    expect(items.map((i) => [i.ruleId, i.hits, i.falsePositive])).toEqual([
      ['r-noisy', 3, 3],
      ['r-cards', 0, 0],
      ['r-quiet', 0, 0],
    ]);
    expect((await stats(`?since=${day(7).toISOString()}`)).map((i) => [i.ruleId, i.hits])).toEqual([
      ['r-old', 1],
      ['r-cards', 0],
      ['r-noisy', 0],
      ['r-quiet', 0],
    ]);
  });

  it('moves with the review: a reopened incident is open again', async () => {
    const [row] = await db.sql<{ id: string }[]>`SELECT id FROM incidents WHERE 'r-cards' = ANY (rule_ids) AND disposition = 'escalated'`;
    await store.reopen(String(row!.id), 'olivia');
    expect((await stats()).find((i) => i.ruleId === 'r-cards')).toMatchObject({ hits: 3, open: 2, escalated: 0, truePositive: 1, falsePositiveRate: 0 });
    await store.resolve(String(row!.id), 'escalated', 'olivia');
  });

  it('is open to admins', async () => {
    expect((await stats('', ADMIN)).length).toBe(4);
  });

  it('answers 401 without credentials and 403 to an auditor', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/v1/rules/stats' })).statusCode).toBe(401);
    const res = await app.inject({ method: 'GET', url: '/api/v1/rules/stats', headers: AUDITOR });
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it.each(['since=yesterday', 'until=2024-13-01T00:00:00Z', `since=${new Date(MARCH).toISOString()}&until=${new Date(MARCH).toISOString()}`])(
    'answers 400 problem+json for %s',
    async (query) => {
      const res = await app.inject({ method: 'GET', url: `/api/v1/rules/stats?${query}`, headers: OFFICER });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    },
  );
});

describe('GET /api/v1/rules/stats after a retro-scan', () => {
  it('counts a message the rule already flagged live once, keeping the officer\'s verdict', async () => {
    const db = await openTestDatabase();
    const writer = new ArchiveWriter(db.sql, 'rule-stats-retro-test', silentLogger);
    try {
      const store = createIncidentStore(db.sql);
      await db.sql`INSERT INTO rules (id, name, type, keywords, action, severity) VALUES ('secret', 'Secrets', 'keywords', '{secret}', 'flag', 'medium')`;
      const matches: RuleMatch[] = [{ ruleId: 'secret', ruleName: 'Secrets', action: 'flag', severity: 'medium', start: 4, end: 10, match: 'secret' }];
      const ts = new Date(Date.now() - 60_000);
      const live = await writer.append(archiveEntry({ ts, stanzaId: randomUUID(), fromBare: 'alice@example.org', toBare: 'bob@example.org', body: 'the secret plan', verdict: 'flag', matches }));
      // A message the rule did not flag live (it came before the rule): the scan opens its incident.
      await writer.append(archiveEntry({ ts, stanzaId: randomUUID(), fromBare: 'alice@example.org', toBare: 'bob@example.org', body: 'another secret' }));
      expect((await store.resolve(live.incidentId!, 'false_positive', 'olivia')).ok).toBe(true);
      const app = await buildApiApp(fakeApiDeps('example.org', { 'officer-token_0123456789': 'officer' }), {
        resources: [{ prefix: '/v1/rules/stats', plugin: ruleStatsRoutes({ store }) }],
      });
      try {
        const secret = async () => ((await app.inject({ method: 'GET', url: '/api/v1/rules/stats', headers: OFFICER })).json() as { items: Array<Record<string, unknown>> }).items[0];
        expect(await secret()).toMatchObject({ ruleId: 'secret', hits: 1, open: 0, falsePositive: 1 });
        await queueRetroScan(db.sql, { ruleId: 'secret' });
        while (await new RetroScanner({ sql: db.sql, log: silentLogger }).runOnce());
        expect(await secret()).toMatchObject({ ruleId: 'secret', hits: 2, open: 1, falsePositive: 1, falsePositiveRate: 1 });
      } finally {
        await app.close();
      }
    } finally {
      await writer.close();
      await db.close();
    }
  });
});
