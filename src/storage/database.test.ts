import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { openDatabase, redactUrl } from './database.ts';

describe('openDatabase', () => {
  it('fails at open on an unreachable DATABASE_URL, without the password in the message', async () => {
    const open = openDatabase({ url: 'postgres://warden:s3cret@127.0.0.1:1/warden', dataDir: '/nonexistent', log: silentLogger });
    await expect(open).rejects.toThrow(/cannot connect to DATABASE_URL postgres:\/\/warden:\*\*\*@127\.0\.0\.1:1\/warden/);
    await expect(open).rejects.not.toThrow(/s3cret/);
  });

  it('rejects a pool size that is not a positive integer', async () => {
    await expect(openDatabase({ dataDir: '/nonexistent', log: silentLogger, poolSize: 0 })).rejects.toThrow(RangeError);
  });

  it('redacts only the password of a URL', () => {
    expect(redactUrl('postgres://u:p@h:5432/d?sslmode=require')).toBe('postgres://u:***@h:5432/d?sslmode=require');
    expect(redactUrl('postgres://u@h/d')).toBe('postgres://u@h/d');
  });
});

describe('the pool', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase({ poolSize: 10 });
  });
  afterAll(async () => {
    await db?.close();
  });

  // NOTES: pglite-socket resets connections beyond maxConnections and the pool then hangs;
  // and a transaction holds up every other connection. All of it at once must still finish.
  it('serves many concurrent queries and transactions on every connection', async () => {
    await db.sql`CREATE TABLE pool_t (n int)`;
    const queries = Array.from({ length: 60 }, (_, i) => db.sql<{ n: number }[]>`SELECT ${i}::int AS n`);
    const txs = Array.from({ length: 10 }, (_, i) =>
      db.sql.begin(async (tx) => {
        await tx`INSERT INTO pool_t VALUES (${i})`;
        await tx`SELECT pg_sleep(0.01)`;
        await tx`INSERT INTO pool_t VALUES (${i + 100})`;
      }),
    );
    const failing = db.sql.begin(async (tx) => {
      await tx`INSERT INTO pool_t VALUES (-1)`;
      throw new Error('rolled back on purpose');
    });
    await expect(failing).rejects.toThrow('rolled back on purpose');
    const results = await Promise.all(queries);
    await Promise.all(txs);
    expect(results.map((r) => r[0]?.n)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    const [row] = await db.sql<{ c: number; neg: number }[]>`
      SELECT count(*)::int AS c, count(*) FILTER (WHERE n < 0)::int AS neg FROM pool_t`;
    expect(row).toEqual({ c: 20, neg: 0 });
  });
});
