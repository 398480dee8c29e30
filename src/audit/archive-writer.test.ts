import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { GENESIS_HASH, canonicalForm, chainHash, type ArchiveEntry } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { ArchiveUnavailableError, ArchiveWriter } from './archive-writer.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await openTestDatabase();
  await ensureArchivePartitions(db.sql, new Date());
});
afterAll(async () => db?.close());

const entry = (i: number, extra: Partial<ArchiveEntry> = {}): ArchiveEntry => ({
  ts: new Date(),
  stanzaId: `sid-${i}`,
  originId: i % 2 ? `o-${i}` : null,
  clientId: `c-${i}`,
  fromJid: 'alice@localhost/a',
  toJid: 'bob@localhost',
  fromBare: 'alice@localhost',
  toBare: 'bob@localhost',
  type: 'chat',
  thread: null,
  body: `你好 "quoted" \\ back ${i} 🌍`,
  redactedBody: null,
  raw: `<message id='c-${i}'><body>你好 ${i}</body></message>`,
  direction: 'internal',
  verdict: i % 3 === 0 ? 'flag' : 'allow',
  reason: null,
  matches: i % 3 === 0 ? [{ ruleId: 'r1', ruleName: 'rule, "one"', action: 'flag', severity: 'high', start: 0, end: 2, match: '你好' }] : [],
  policyVersion: 7,
  ...extra,
});

describe('ArchiveWriter', () => {
  it('commits concurrent appends in batches and resolves each after its row is stored', async () => {
    const writer = new ArchiveWriter(db.sql, 'chain-a', silentLogger, { lanes: 1 });
    const rows = await Promise.all(Array.from({ length: 300 }, (_, i) => writer.append(entry(i))));
    expect(rows.map((r) => r.chainSeq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(writer.stats.batches).toBeLessThan(300); // grouped, not one commit per message
    const [count] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM archive WHERE chain = 'chain-a'`;
    expect(Number(count?.n)).toBe(300);
  });

  it('stores every field byte-exact, NULLs as NULL, and a hash chain that recomputes from the rows', async () => {
    const stored = await db.sql<
      { chain_seq: string; ts: Date; stanza_id: string; origin_id: string | null; body: string; raw: string; matches: unknown; prev_hash: Buffer; hash: Buffer }[]
    >`SELECT * FROM archive WHERE chain = 'chain-a' ORDER BY chain_seq`;
    let prev: Buffer = GENESIS_HASH;
    for (const [i, r] of stored.entries()) {
      const e = entry(i, { ts: r.ts });
      expect(r.body).toBe(e.body);
      expect(r.origin_id).toBe(e.originId);
      expect(r.prev_hash.equals(prev)).toBe(true);
      const again = chainHash(prev, canonicalForm({ ...e, ts: r.ts, chain: 'chain-a', chainSeq: Number(r.chain_seq), matches: r.matches as ArchiveEntry['matches'] }));
      expect(again.equals(r.hash)).toBe(true);
      prev = r.hash;
    }
  });

  it('opens an incident for every row whose verdict is not allow, in the same statement', async () => {
    const writer = new ArchiveWriter(db.sql, 'chain-c', silentLogger, { lanes: 1 });
    const rows = await Promise.all([
      writer.append(entry(0, { stanzaId: 'inc-flag' })), // i % 3 === 0 → flag with one match
      writer.append(entry(1, { stanzaId: 'inc-allow' })),
      writer.append(entry(2, { stanzaId: 'inc-hold', verdict: 'hold', matches: [{ ruleId: 'r9', ruleName: 'x', action: 'hold', severity: 'critical', start: 0, end: 1, match: '你' }] })),
    ]);
    expect(rows[0]!.incidentId).toBeDefined();
    expect(rows[1]!.incidentId).toBeUndefined();
    const incidents = await db.sql<{ stanza_id: string; severity: string; rule_ids: string[]; hold_state: string | null }[]>`
      SELECT stanza_id, severity, rule_ids, hold_state FROM incidents WHERE stanza_id LIKE 'inc-%' ORDER BY stanza_id`;
    expect(incidents).toEqual([
      { stanza_id: 'inc-flag', severity: 'high', rule_ids: ['r1'], hold_state: null },
      { stanza_id: 'inc-hold', severity: 'critical', rule_ids: ['r9'], hold_state: 'held' },
    ]);
  });

  it('overlaps commits on two lanes, each its own gap-free chain, and still settles in append order', async () => {
    const writer = new ArchiveWriter(db.sql, 'chain-d', silentLogger, { maxBatch: 50, lanes: 2 });
    expect(writer.chains).toEqual(['chain-d', 'chain-d/1']);
    const settled: number[] = [];
    await Promise.all(Array.from({ length: 600 }, (_, i) => writer.append(entry(i, { stanzaId: `lanes-${i}` })).then(() => settled.push(i))));
    expect(settled).toEqual(Array.from({ length: 600 }, (_, i) => i));
    const { verifyArchive } = await import('./archive-verify.ts');
    for (const chain of writer.chains) {
      const report = await verifyArchive(db.sql, { chain });
      expect(report.ok, chain).toBe(true);
      expect(report.chains[0]!.rows).toBeGreaterThan(0);
    }
    const [total] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM archive WHERE chain IN ('chain-d', 'chain-d/1')`;
    expect(Number(total?.n)).toBe(600);
  });

  it('continues its chain after a restart', async () => {
    const writer = new ArchiveWriter(db.sql, 'chain-a', silentLogger, { lanes: 1 });
    const row = await writer.append(entry(1000));
    expect(row.chainSeq).toBe(301);
  });

  it('fails closed when the database cannot commit, then recovers by itself', async () => {
    const writer = new ArchiveWriter(db.sql, 'chain-b', silentLogger, { retryAfterMs: 100, lanes: 1 });
    await writer.append(entry(1));
    await db.sql`ALTER TABLE archive ADD CONSTRAINT no_writes CHECK (chain <> 'chain-b') NOT VALID`;
    try {
      await expect(writer.append(entry(2))).rejects.toBeInstanceOf(ArchiveUnavailableError);
      // While down, new messages are refused at once rather than queued without bound.
      await expect(writer.append(entry(3))).rejects.toBeInstanceOf(ArchiveUnavailableError);
    } finally {
      await db.sql`ALTER TABLE archive DROP CONSTRAINT no_writes`;
    }
    await new Promise((r) => setTimeout(r, 150));
    const row = await writer.append(entry(4));
    expect(row.chainSeq).toBe(2); // the failed rows never entered the chain
  });
});
