import { describe, expect, it } from 'vitest';
import { concurrencyLimit, DUMMY_PASSWORD_HASH, hashPassword, needsRehash, newPasswordProblem, parsePasswordHash, verifyPassword } from './password-hash.ts';

const FAST = { N: 1024, r: 8, p: 1 };

describe('console password hashing (scrypt)', () => {
  it('verifies the password it hashed and no other', async () => {
    const encoded = await hashPassword('correct horse 马 battery', FAST);
    expect(encoded).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword('correct horse 马 battery', encoded)).toBe(true);
    expect(await verifyPassword('correct horse 马 batterY', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
  });

  it('salts: the same password hashes differently twice', async () => {
    expect(await hashPassword('same password', FAST)).not.toBe(await hashPassword('same password', FAST));
  });

  it('treats NFC and NFD spellings of a password as the same password', async () => {
    const encoded = await hashPassword('caf\u00e9 au lait', FAST);
    expect(await verifyPassword('cafe\u0301 au lait', encoded)).toBe(true);
  });

  it('uses OWASP\'s minimum (N=2^17, r=8, p=1) when no parameters are given, and reads them back', async () => {
    const encoded = await hashPassword('default cost password');
    expect(parsePasswordHash(encoded)?.params).toEqual({ N: 131072, r: 8, p: 1 });
    expect(await verifyPassword('default cost password', encoded)).toBe(true);
    expect(needsRehash(encoded)).toBe(false);
  });

  it('still verifies a hash stored with the earlier default (N=2^15), and marks it for rehashing', async () => {
    const old = await hashPassword('stored before the raise', { N: 2 ** 15, r: 8, p: 1 });
    expect(await verifyPassword('stored before the raise', old)).toBe(true);
    expect(await verifyPassword('stored before the raisE', old)).toBe(false);
    expect(needsRehash(old)).toBe(true);
    expect(needsRehash('bcrypt$2b$10$abc')).toBe(false);
  });

  it.each([
    ['not ours', 'bcrypt$2b$10$abc'],
    ['N not a power of two', 'scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
    ['N absurdly large', 'scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
    ['key of the wrong size', 'scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA'],
    ['too few fields', 'scrypt$1024$8$1'],
  ])('refuses an encoded hash that is %s', async (_why, encoded) => {
    expect(parsePasswordHash(encoded)).toBeUndefined();
    expect(await verifyPassword('anything', encoded)).toBe(false);
  });

  it('has a dummy hash that parses (so an unknown account costs a real scrypt) and matches nothing', async () => {
    expect(parsePasswordHash(DUMMY_PASSWORD_HASH)).toBeDefined();
    expect(await verifyPassword('', DUMMY_PASSWORD_HASH)).toBe(false);
  });
});

describe('newPasswordProblem', () => {
  it.each([
    ['short', 'at least 10 characters'],
    ['马'.repeat(9), 'at least 10 characters'], // 27 bytes, but nine characters
    ['x'.repeat(1025), 'at most 1024 characters'],
    ['correct horse battery', undefined],
    ['马'.repeat(10), undefined],
    ['x'.repeat(1024), undefined],
  ])('%s: %s', (password, problem) => {
    expect(newPasswordProblem(password)).toBe(problem);
  });
});

describe('concurrencyLimit', () => {
  it('runs at most the limit at once and the rest in the order they came', async () => {
    const limit = concurrencyLimit(2);
    let active = 0;
    let most = 0;
    const order: number[] = [];
    const job = (i: number) =>
      limit(async () => {
        active += 1;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 5));
        order.push(i);
        active -= 1;
        if (i === 3) throw new Error('a failing job frees its slot');
        return i;
      });
    const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map(job));
    expect(most).toBe(2);
    expect(order).toEqual([1, 2, 3, 4, 5, 6]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
  });
});
