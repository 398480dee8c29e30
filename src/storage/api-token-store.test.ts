import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { createApiTokenStore, generateToken, hashToken } from './api-token-store.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.close();
});

describe('generateToken', () => {
  it('gives 43 base64url characters, different every time', () => {
    const a = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
  });
});

describe('ApiTokenStore', () => {
  it('verifies a stored token and rejects others', async () => {
    const store = createApiTokenStore(db.sql);
    const token = generateToken();
    await store.add(token, 'ops laptop');
    expect(await store.verify(token)).toBe(true);
    expect(await store.verify(generateToken())).toBe(false);
    expect(await store.verify('')).toBe(false);
    expect(await store.verify('x'.repeat(10_000))).toBe(false);
  });

  it('stores only the SHA-256 of the token, and records its use', async () => {
    const store = createApiTokenStore(db.sql);
    const token = generateToken();
    await store.add(token, 'ci');
    const rows = await db.sql<{ token_hash: Buffer; label: string; last_used_at: Date | null }[]>`
      SELECT token_hash, label, last_used_at FROM admin_tokens WHERE label = 'ci'`;
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash.equals(hashToken(token))).toBe(true);
    expect(rows[0]?.last_used_at).toBeNull();
    const everything = JSON.stringify(await db.sql`SELECT id, encode(token_hash, 'escape') AS h, label FROM admin_tokens`);
    expect(everything).not.toContain(token);

    await store.verify(token);
    const [used] = await db.sql<{ last_used_at: Date | null }[]>`SELECT last_used_at FROM admin_tokens WHERE label = 'ci'`;
    expect(used?.last_used_at).toBeInstanceOf(Date);
  });

  it('refuses the same token twice', async () => {
    const store = createApiTokenStore(db.sql);
    const token = generateToken();
    await store.add(token, 'one');
    await expect(store.add(token, 'two')).rejects.toThrow();
  });

  it('counts the tokens', async () => {
    const store = createApiTokenStore(db.sql);
    const before = await store.count();
    await store.add(generateToken(), 'a');
    await store.add(generateToken(), 'b');
    expect(await store.count()).toBe(before + 2);
  });

  it('remembers a known token for cacheMs without asking the database', async () => {
    let now = 1_000_000;
    const store = createApiTokenStore(db.sql, { cacheMs: 30_000, now: () => now });
    const token = generateToken();
    await store.add(token, 'cached');
    expect(await store.verify(token)).toBe(true);
    await db.sql`DELETE FROM admin_tokens WHERE token_hash = ${hashToken(token)}`;
    now += 29_000;
    expect(await store.verify(token)).toBe(true); // from the cache
    now += 2_000;
    expect(await store.verify(token)).toBe(false); // expired: asked the database again
  });

  it('does not remember unknown tokens', async () => {
    const store = createApiTokenStore(db.sql);
    const token = generateToken();
    expect(await store.verify(token)).toBe(false);
    await store.add(token, 'late');
    expect(await store.verify(token)).toBe(true);
  });
});
