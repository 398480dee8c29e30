// API tokens (admin_tokens, migrations 0001 + 0008). Only SHA-256(token) is stored: a leaked
// database does not yield usable tokens. Tokens are 32 random bytes, so their hash can be looked
// up directly (an index lookup leaks nothing useful about a 256-bit secret) — no salt, no slow KDF.
// A token belongs to a console account and acts with its role; a token with no account is a
// bootstrap token (ADMIN_TOKEN, or the one printed at first start) and acts as an administrator.
// A revoked bootstrap token's hash is remembered (migrations/0010), so ADMIN_TOKEN, which is
// stored again at every start, stays revoked once revoked.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Role } from '../api/principal.ts';
import type { InTransaction } from '../audit/access-log.types.ts';

export interface ApiTokenInfo {
  readonly id: string;
  /** undefined for a bootstrap token. */
  readonly account: string | undefined;
  readonly label: string;
  readonly createdAt: Date;
  /** Who created it (an actor as in the access log); undefined for bootstrap tokens and old rows. */
  readonly createdBy: string | undefined;
  readonly expiresAt: Date | undefined;
  readonly lastUsedAt: Date | undefined;
}

/** What a valid token grants: its id, account and the account's role (admin for a bootstrap token). */
export interface TokenGrant {
  readonly id: string;
  readonly account: string | undefined;
  readonly role: Role;
}

/** What ensureBootstrap() found: the token works, was stored now, or was revoked and stays so. */
export type BootstrapTokenState = 'valid' | 'added' | 'revoked';

export interface ApiTokenStore {
  /**
   * Stores SHA-256(token) with a label, for an account or none (bootstrap); returns its id.
   * Undefined, and nothing stored, for a bootstrap token that was revoked: it stays revoked.
   */
  add(
    token: string,
    label: string,
    opts?: { account?: string; expiresAt?: Date; createdBy?: string },
    inTransaction?: (tx: TransactionSql, id: string) => Promise<void>,
  ): Promise<string | undefined>;
  /** ADMIN_TOKEN at start: stores it unless it is already valid or was revoked (which it stays). */
  ensureBootstrap(token: string, label: string): Promise<BootstrapTokenState>;
  /**
   * A new random token for `account`; the token is returned once and only its hash is kept.
   * `inTransaction` runs before the commit (the access-log entry): if it throws, there is no token.
   */
  create(
    opts: { account: string; label: string; createdBy: string; expiresAt?: Date },
    inTransaction?: (tx: TransactionSql, info: ApiTokenInfo) => Promise<void>,
  ): Promise<{ token: string; info: ApiTokenInfo }>;
  /** What the token grants, or undefined (unknown, revoked, expired). Positive answers are cached briefly. */
  lookup(token: string): Promise<TokenGrant | undefined>;
  /** True when the token is valid (any account). */
  verify(token: string): Promise<boolean>;
  get(id: string): Promise<ApiTokenInfo | undefined>;
  /** Ordered by id; `after` is exclusive. */
  list(opts: { account?: string; limit: number; after?: string }): Promise<ApiTokenInfo[]>;
  /**
   * Deletes the token; false when there was none. Takes effect at once in this process. A
   * bootstrap token's hash is remembered with `revokedBy`, so it can never be stored again.
   * `inTransaction` runs only when a token was deleted, before the commit; if it throws, the
   * token stays valid.
   */
  revoke(id: string, revokedBy?: string, inTransaction?: InTransaction): Promise<boolean>;
  count(): Promise<number>;
  /** Forgets cached grants (after deleting an account, whose tokens the database removed). */
  clearCache(): void;
}

export interface ApiTokenStoreOptions {
  /**
   * How long a positive lookup() is remembered in memory, so each API call does not hit the
   * database. A token revoked by another process keeps working in this one for at most this
   * long (revocation through this process clears the cache). Default 10 s; 0 disables it.
   */
  readonly cacheMs?: number;
  /** Clock for the cache and expiry (tests). */
  readonly now?: () => number;
}

const DEFAULT_CACHE_MS = 10_000;
const MAX_CACHE_ENTRIES = 1024;
// generateToken() gives 43 characters; anything far longer is not ours and is not hashed.
const MAX_TOKEN_LENGTH = 512;

/** A new token: 32 random bytes, base64url (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

interface InfoRow {
  id: string;
  account: string | null;
  label: string;
  created_at: Date;
  created_by: string | null;
  expires_at: Date | null;
  last_used_at: Date | null;
}
const toInfo = (r: InfoRow): ApiTokenInfo => ({
  id: String(r.id),
  account: r.account ?? undefined,
  label: r.label,
  createdAt: r.created_at,
  createdBy: r.created_by ?? undefined,
  expiresAt: r.expires_at ?? undefined,
  lastUsedAt: r.last_used_at ?? undefined,
});

export const isTokenId = (id: string) => /^[1-9][0-9]{0,17}$/.test(id);

export function createApiTokenStore(sql: Sql, opts: ApiTokenStoreOptions = {}): ApiTokenStore {
  const cacheMs = opts.cacheMs ?? DEFAULT_CACHE_MS;
  const now = opts.now ?? Date.now;
  // hex(SHA-256(token)) → grant and until when it may be trusted without the database. Only
  // valid tokens are cached; unknown ones always reach the database (the API throttles those).
  const cache = new Map<string, { grant: TokenGrant; until: number }>();

  const lookup = async (token: string): Promise<TokenGrant | undefined> => {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return undefined;
    const hash = hashToken(token);
    const key = hash.toString('hex');
    const t = now();
    const cached = cache.get(key);
    if (cached !== undefined) {
      if (cached.until > t) return cached.grant;
      cache.delete(key);
    }
    // Look up and record the use in one statement; runs at most once per cacheMs per token.
    const [row] = await sql<{ id: string; account: string | null; role: Role | null; expires_at: Date | null }[]>`
      UPDATE admin_tokens t SET last_used_at = now()
      FROM (SELECT t2.id, a.role FROM admin_tokens t2 LEFT JOIN console_accounts a ON a.username = t2.account WHERE t2.token_hash = ${hash}) x
      WHERE t.id = x.id AND (t.expires_at IS NULL OR t.expires_at > ${new Date(t)})
      RETURNING t.id, t.account, x.role, t.expires_at`;
    if (row === undefined) return undefined;
    // A token whose account vanished between the join and now has no role: refuse it.
    if (row.account !== null && row.role === null) return undefined;
    const grant: TokenGrant = { id: String(row.id), account: row.account ?? undefined, role: row.role ?? 'admin' };
    if (cacheMs > 0) {
      if (cache.size >= MAX_CACHE_ENTRIES) cache.clear();
      const expiry = row.expires_at?.getTime() ?? Number.POSITIVE_INFINITY;
      cache.set(key, { grant, until: Math.min(t + cacheMs, expiry) });
    }
    return grant;
  };

  const add: ApiTokenStore['add'] = async (token, label, o = {}, inTransaction) => {
    const hash = hashToken(token);
    return sql.begin(async (tx) => {
      // One statement: a bootstrap token is inserted only if its hash was never revoked.
      const [row] = await tx<{ id: string }[]>`
        INSERT INTO admin_tokens (token_hash, label, account, expires_at, created_by)
        SELECT ${hash}, ${label}, ${o.account ?? null}, ${o.expiresAt ?? null}, ${o.createdBy ?? null}
        WHERE ${o.account !== undefined} OR NOT EXISTS (SELECT 1 FROM revoked_bootstrap_tokens WHERE token_hash = ${hash})
        RETURNING id`;
      if (row === undefined) return undefined;
      await inTransaction?.(tx, String(row.id));
      return String(row.id);
    });
  };

  return {
    add,
    async ensureBootstrap(token, label) {
      if ((await lookup(token)) !== undefined) return 'valid';
      return (await add(token, label)) === undefined ? 'revoked' : 'added';
    },
    async create({ account, label, expiresAt, createdBy }, inTransaction) {
      const token = generateToken();
      const info = await sql.begin(async (tx) => {
        const [row] = await tx<InfoRow[]>`
          INSERT INTO admin_tokens (token_hash, label, account, expires_at, created_by)
          VALUES (${hashToken(token)}, ${label}, ${account}, ${expiresAt ?? null}, ${createdBy})
          RETURNING id, account, label, created_at, created_by, expires_at, last_used_at`;
        if (row === undefined) throw new Error('token insert returned no row');
        const made = toInfo(row);
        await inTransaction?.(tx, made);
        return made;
      });
      return { token, info };
    },
    lookup,
    async verify(token) {
      return (await lookup(token)) !== undefined;
    },
    async get(id) {
      if (!isTokenId(id)) return undefined;
      const [row] = await sql<InfoRow[]>`SELECT id, account, label, created_at, created_by, expires_at, last_used_at FROM admin_tokens WHERE id = ${id}`;
      return row === undefined ? undefined : toInfo(row);
    },
    async list({ account, limit, after }) {
      const rows = await sql<InfoRow[]>`
        SELECT id, account, label, created_at, created_by, expires_at, last_used_at FROM admin_tokens
        WHERE true
          ${account === undefined ? sql`` : sql`AND account = ${account}`}
          ${after === undefined ? sql`` : sql`AND id > ${after}`}
        ORDER BY id LIMIT ${limit}`;
      return rows.map(toInfo);
    },
    async revoke(id, revokedBy = 'unknown', inTransaction) {
      if (!isTokenId(id)) return false;
      const revoked = await sql.begin(async (tx) => {
        const rows = await tx`
          WITH gone AS (DELETE FROM admin_tokens WHERE id = ${id} RETURNING token_hash, account),
          remembered AS (
            INSERT INTO revoked_bootstrap_tokens (token_hash, revoked_by)
            SELECT token_hash, ${revokedBy} FROM gone WHERE account IS NULL
            ON CONFLICT (token_hash) DO NOTHING
          )
          SELECT 1 FROM gone`;
        if (rows.length === 1) await inTransaction?.(tx);
        return rows.length === 1;
      });
      // The cache is keyed by token hash, which we no longer know: drop it all (revocations are rare).
      cache.clear();
      return revoked;
    },
    async count() {
      const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM admin_tokens`;
      return row?.n ?? 0;
    },
    clearCache() {
      cache.clear();
    },
  };
}
