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

  it('keeps a revoked bootstrap token revoked: ensureBootstrap does not store it again (ADMIN_TOKEN after a restart)', async () => {
    const store = createApiTokenStore(db.sql);
    const token = generateToken();
    expect(await store.ensureBootstrap(token, 'ADMIN_TOKEN')).toBe('added');
    expect(await store.ensureBootstrap(token, 'ADMIN_TOKEN')).toBe('valid');
    const grant = await store.lookup(token);
    expect(grant?.account).toBeUndefined();
    expect(await store.revoke(grant?.id ?? '', 'ann')).toBe(true);
    expect(await store.verify(token)).toBe(false);
    // A restart: a new store on the same database.
    const restarted = createApiTokenStore(db.sql);
    expect(await restarted.ensureBootstrap(token, 'ADMIN_TOKEN')).toBe('revoked');
    expect(await restarted.add(token, 'again')).toBeUndefined();
    expect(await restarted.verify(token)).toBe(false);
    // Only its hash is remembered, with who revoked it.
    const [row] = await db.sql<{ revoked_by: string }[]>`SELECT revoked_by FROM revoked_bootstrap_tokens WHERE token_hash = ${hashToken(token)}`;
    expect(row?.revoked_by).toBe('ann');
  });

  it('records who created a token', async () => {
    const store = createApiTokenStore(db.sql);
    await db.sql`INSERT INTO console_accounts (username, role, password_hash, created_by) VALUES ('tok-owner', 'officer', 'x', 'test') ON CONFLICT DO NOTHING`;
    const { info } = await store.create({ account: 'tok-owner', label: 'script', createdBy: 'ann', expiresAt: new Date(Date.now() + 60_000) });
    expect(info).toMatchObject({ account: 'tok-owner', createdBy: 'ann' });
    expect((await store.get(info.id))?.createdBy).toBe('ann');
    const bootstrap = await store.add(generateToken(), 'bootstrap');
    expect((await store.get(bootstrap ?? ''))?.createdBy).toBeUndefined();
  });
});
