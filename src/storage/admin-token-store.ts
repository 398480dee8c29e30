// Admin API tokens. Only SHA-256(token) is stored: a leaked database does not yield usable
// tokens. Tokens are 32 random bytes, so their hash can be looked up directly (an index
// lookup leaks nothing useful about a 256-bit secret) — no per-token salt, no slow KDF.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';

export interface AdminTokenStore {
  /** Stores SHA-256(token) with a label; throws if the same token is already stored. */
  add(token: string, label: string): Promise<void>;
  /** True when the token is known. Positive answers are cached briefly (see cacheMs). */
  verify(token: string): Promise<boolean>;
  count(): Promise<number>;
}

export interface AdminTokenStoreOptions {
  /**
   * How long a positive verify() is remembered in memory, so each API call does not hit
   * the database. A token deleted in the database (by another process) keeps working in
   * this process for at most this long. Default 30 s; 0 disables the cache.
   */
  readonly cacheMs?: number;
  /** Clock for the cache (tests). */
  readonly now?: () => number;
}

const DEFAULT_CACHE_MS = 30_000;
const MAX_CACHE_ENTRIES = 1024;
// generateToken() gives 43 characters; anything far longer is not ours and is not hashed.
const MAX_TOKEN_LENGTH = 512;

/** A new admin token: 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export function createAdminTokenStore(sql: Sql, opts: AdminTokenStoreOptions = {}): AdminTokenStore {
  const cacheMs = opts.cacheMs ?? DEFAULT_CACHE_MS;
  const now = opts.now ?? Date.now;
  // hex(SHA-256(token)) → expiry time. Only known tokens are cached; unknown ones always
  // reach the database (rate limiting failed attempts is the API's job).
  const cache = new Map<string, number>();

  return {
    async add(token, label) {
      await sql`INSERT INTO admin_tokens (token_hash, label) VALUES (${hashToken(token)}, ${label})`;
    },

    async verify(token) {
      if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return false;
      const hash = hashToken(token);
      const key = hash.toString('hex');
      const t = now();
      const until = cache.get(key);
      if (until !== undefined) {
        if (until > t) return true;
        cache.delete(key);
      }
      // Look up and record the use in one statement; runs at most once per cacheMs per token.
      const rows = await sql`UPDATE admin_tokens SET last_used_at = now() WHERE token_hash = ${hash} RETURNING id`;
      if (rows.length === 0) return false;
      if (cacheMs > 0) {
        if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
        cache.set(key, t + cacheMs);
      }
      return true;
    },

    async count() {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM admin_tokens`;
      return row?.n ?? 0;
    },
  };
}
