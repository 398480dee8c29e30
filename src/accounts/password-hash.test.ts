import { describe, expect, it } from 'vitest';
import { DUMMY_PASSWORD_HASH, hashPassword, parsePasswordHash, verifyPassword } from './password-hash.ts';

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

  it('uses the default parameters (N=2^15) when none are given, and reads them back', async () => {
    const encoded = await hashPassword('default cost password');
    expect(parsePasswordHash(encoded)?.params).toEqual({ N: 32768, r: 8, p: 1 });
    expect(await verifyPassword('default cost password', encoded)).toBe(true);
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
