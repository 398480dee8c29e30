import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import type { ScramCredential, ScramHash } from '../auth/scram-credential.ts';
import { createUserStore, type UserStore } from './user-store.ts';

// One database for the file; each test uses its own usernames.
let db: TestDatabase;
let users: UserStore;

beforeAll(async () => {
  db = await openTestDatabase();
  users = createUserStore(db.sql);
});
afterAll(async () => {
  await db?.close();
});

function credential(hash: ScramHash, iterations = 4096): ScramCredential {
  const len = hash === 'SHA-1' ? 20 : 32;
  return { hash, salt: randomBytes(16), iterations, storedKey: randomBytes(len), serverKey: randomBytes(len) };
}

async function credentialCount(username: string): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM user_credentials WHERE username = ${username}`;
  return row?.n ?? 0;
}

describe('UserStore', () => {
  it('creates a user whose credentials come back byte for byte', async () => {
    const sha1 = credential('SHA-1');
    const sha256 = credential('SHA-256', 10000);
    expect(await users.create('juliet', [sha1, sha256])).toBe(true);
    expect(await users.exists('juliet')).toBe(true);
    expect(await users.credential('juliet', 'SHA-1')).toEqual(sha1);
    const got = await users.credential('juliet', 'SHA-256');
    expect(got).toEqual(sha256);
    expect(Buffer.isBuffer(got?.salt)).toBe(true);
  });

  it('answers undefined for an unknown user or a hash the user has no credential for', async () => {
    await users.create('only-sha256', [credential('SHA-256')]);
    expect(await users.credential('only-sha256', 'SHA-1')).toBeUndefined();
    expect(await users.credential('nobody', 'SHA-256')).toBeUndefined();
    expect(await users.exists('nobody')).toBe(false);
  });

  it('refuses a taken username and leaves the existing account untouched', async () => {
    const original = credential('SHA-256');
    expect(await users.create('romeo', [original])).toBe(true);
    expect(await users.create('romeo', [credential('SHA-256'), credential('SHA-1')])).toBe(false);
    expect(await users.credential('romeo', 'SHA-256')).toEqual(original);
    expect(await users.credential('romeo', 'SHA-1')).toBeUndefined();
  });

  it('lets exactly one of many concurrent creates of the same name win', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => users.create('race', [credential('SHA-1')])));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await credentialCount('race')).toBe(1);
  });

  it('lists every user once, in byte order, page by page', async () => {
    // 'a-b' before 'ab' is byte order; a locale collation would put them the other way round.
    const names = ['ab', 'a-b', 'zoë', 'zz', 'b', '中文', 'user10', 'user2', 'user1'];
    for (const n of names) await users.create(n, []);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await users.list({ limit: 4, ...(after !== undefined ? { after } : {}) });
      expect(page.length).toBeLessThanOrEqual(4);
      if (page.length === 0) break;
      for (const u of page) expect(u.createdAt).toBeInstanceOf(Date);
      seen.push(...page.map((u) => u.username));
      after = page[page.length - 1]?.username;
    }
    const byteOrder = [...seen].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(seen).toEqual(byteOrder);
    expect(new Set(seen).size).toBe(seen.length);
    for (const n of names) expect(seen).toContain(n);
    expect(seen.indexOf('a-b')).toBeLessThan(seen.indexOf('ab'));
  });

  it('bounds the page size', async () => {
    expect(await users.list({ limit: 1 })).toHaveLength(1);
    expect((await users.list({ limit: 0 })).length).toBe(1);
    expect((await users.list()).length).toBeGreaterThan(1);
  });

  it('deletes a user together with the credentials', async () => {
    await users.create('mercutio', [credential('SHA-1'), credential('SHA-256')]);
    expect(await credentialCount('mercutio')).toBe(2);
    expect(await users.delete('mercutio')).toBe(true);
    expect(await users.exists('mercutio')).toBe(false);
    expect(await credentialCount('mercutio')).toBe(0);
    expect(await users.delete('mercutio')).toBe(false);
  });

  it('replaces all credentials, and reports a missing user', async () => {
    await users.create('tybalt', [credential('SHA-1'), credential('SHA-256')]);
    const fresh = credential('SHA-256', 20000);
    expect(await users.setCredentials('tybalt', [fresh])).toBe(true);
    expect(await users.credential('tybalt', 'SHA-1')).toBeUndefined();
    expect(await users.credential('tybalt', 'SHA-256')).toEqual(fresh);
    expect(await users.setCredentials('tybalt', [])).toBe(true);
    expect(await credentialCount('tybalt')).toBe(0);
    expect(await users.setCredentials('ghost', [fresh])).toBe(false);
    expect(await users.exists('ghost')).toBe(false);
  });
});
