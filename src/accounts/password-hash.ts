// Console passwords, hashed with scrypt (RFC 7914) from node:crypto. The encoded form names its
// parameters ('scrypt$N$r$p$salt$hash', base64), so they can be raised without breaking stored
// hashes: an old hash still verifies with its own parameters, and login rehashes it with the
// current ones (needsRehash). Chat passwords are different: they are stored as SCRAM keys
// (src/auth/scram.ts).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/**
 * OWASP's scrypt minimum (Password Storage Cheat Sheet: N=2^17, r=8, p=1). It costs 128 MiB and
 * about a third of a second per hash on a small server (measured in the fix's report), which
 * is fine for console logins: they are rare, and throttled.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
export const MIN_PASSWORD_CHARS = 10;
export const MAX_PASSWORD_CHARS = 1024;
/**
 * Derivations running at once. Each holds 128·N·r bytes (128 MiB at the default) in a libuv
 * worker; a burst of logins from many addresses would otherwise take all four workers (which
 * file and DNS work share) and half a gigabyte. The rest wait their turn.
 */
export const MAX_CONCURRENT_DERIVATIONS = 2;

/** Runs at most `limit` of the functions it is given at once; the others wait in order. */
export function concurrencyLimit(limit: number): <T>(run: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (run) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active += 1;
    try {
      return await run();
    } finally {
      // Hand the slot straight to the next in line (active stays the same), or free it.
      const next = waiting.shift();
      if (next !== undefined) next();
      else active -= 1;
    }
  };
}

const limited = concurrencyLimit(MAX_CONCURRENT_DERIVATIONS);

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; node's default cap (32 MiB) is below the default's 128 MiB.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return limited(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
      ),
  );
}

/**
 * Why a new console password is refused, or undefined when it is acceptable: 10–1024 characters
 * (the login form accepts no longer, so a longer one could never be used). Every way a password
 * is set (API, CLI) asks this one function.
 */
export function newPasswordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < MIN_PASSWORD_CHARS) return `at least ${MIN_PASSWORD_CHARS} characters`;
  if (length > MAX_PASSWORD_CHARS) return `at most ${MAX_PASSWORD_CHARS} characters`;
  return undefined;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parses an encoded hash; undefined when it is not one this module wrote. */
export function parsePasswordHash(encoded: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0) || (N & (N - 1)) !== 0 || N > 2 ** 20) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const key = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length < 8 || key.length !== KEY_BYTES) return undefined;
  return { params: { N, r, p }, salt, key };
}

/** Whether a stored hash is weaker than the current parameters (rehash it at the next login). */
export function needsRehash(encoded: string, current: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parsePasswordHash(encoded);
  if (parsed === undefined) return false; // not ours: nothing to upgrade, and it matches nothing
  const { N, r, p } = parsed.params;
  return N * r * p < current.N * current.r * current.p || N < current.N;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parsePasswordHash(encoded);
  if (parsed === undefined) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/** A hash no password matches, for spending the same time on an unknown account as on a known one. */
export const DUMMY_PASSWORD_HASH = `scrypt$${DEFAULT_SCRYPT.N}$8$1$${Buffer.alloc(SALT_BYTES).toString('base64')}$${Buffer.alloc(KEY_BYTES).toString('base64')}`;
