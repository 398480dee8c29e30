// Console identity over a real server: accounts, login with cookie + CSRF, throttling, API
// tokens bound to accounts (expiry, revocation), roles, and the access log that records it all.
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, removeTestDataDir } from './support/database.ts';
import { parsePasswordHash } from '../src/accounts/password-hash.ts';
import { startTestServer, TEST_CONSOLE_PASSWORD, type TestServer } from './support/server.ts';

let t: TestServer;
let base: string;
beforeAll(async () => {
  // 127.0.0.1 is a trusted proxy here, so a test can speak for a client at another address
  // (X-Forwarded-For) reached over HTTPS (X-Forwarded-Proto) and keep its throttle counts apart.
  t = await startTestServer({ LOGIN_MAX_FAILURES: '3', TRUSTED_PROXIES: '127.0.0.1' });
  base = `http://127.0.0.1:${t.server.ports.http}`;
});
afterAll(async () => {
  await t?.close();
});

interface Call {
  method?: string;
  token?: string;
  cookie?: string;
  csrf?: string;
  body?: unknown;
  /** The client's address, as the trusted proxy (127.0.0.1) reports it. */
  from?: string;
  /** What the proxy says the client used; https unless given. */
  proto?: 'http' | 'https';
}
async function call(path: string, c: Call = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (c.from !== undefined) {
    headers['x-forwarded-for'] = c.from;
    headers['x-forwarded-proto'] = c.proto ?? 'https';
  }
  if (c.token !== undefined) headers.authorization = `Bearer ${c.token}`;
  if (c.cookie !== undefined) headers.cookie = c.cookie;
  if (c.csrf !== undefined) headers['x-csrf-token'] = c.csrf;
  if (c.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method: c.method ?? 'GET', headers, body: c.body === undefined ? undefined : JSON.stringify(c.body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const admin = () => t.adminToken;

/** Runs `fn` while every insert into access_log fails, as when the log's table cannot be written. */
async function whileAccessLogDown<T>(fn: () => Promise<T>): Promise<T> {
  await t.db.sql.unsafe(`CREATE FUNCTION access_log_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'down (test)'; END $$`);
  await t.db.sql`CREATE TRIGGER access_log_down BEFORE INSERT ON access_log FOR EACH STATEMENT EXECUTE FUNCTION access_log_down()`;
  try {
    return await fn();
  } finally {
    await t.db.sql`DROP TRIGGER access_log_down ON access_log`;
    await t.db.sql`DROP FUNCTION access_log_down()`;
  }
}

async function login(username: string, password: string, more: Omit<Call, 'method' | 'body'> = {}) {
  const res = await call('/api/v1/auth/login', { ...more, method: 'POST', body: { username, password } });
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { ...res, setCookie, cookie: setCookie.split(';')[0] ?? '' };
}

describe('console accounts (admin)', () => {
  it('creates accounts with a role; refuses duplicates, bad names, short passwords and unknown roles', async () => {
    const created = await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'olivia', password: 'olivia-long-password', role: 'officer' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ username: 'olivia', role: 'officer', createdBy: expect.stringMatching(/^bootstrap-token:/) });
    expect(created.json.password).toBeUndefined();
    expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'audrey', password: 'audrey-long-password', role: 'auditor' } })).status).toBe(201);
    const dup = await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'olivia', password: 'another-long-one', role: 'admin' } });
    expect(dup.status).toBe(409);
    expect(dup.headers.get('content-type')).toContain('application/problem+json');
    for (const body of [
      { username: 'Olivia Smith', password: 'olivia-long-password', role: 'officer' },
      { username: 'short', password: 'short', role: 'officer' },
      { username: 'boss', password: 'boss-long-password', role: 'boss' },
      { username: 'nopass', role: 'officer' },
    ]) {
      const res = await call('/api/v1/accounts', { method: 'POST', token: admin(), body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.detail.length).toBeGreaterThan(5);
    }
  });

  it('lists accounts in pages', async () => {
    const first = await call('/api/v1/accounts?limit=2', { token: admin() });
    expect(first.status).toBe(200);
    expect(first.json.items.map((a: { username: string }) => a.username)).toEqual(['auditor', 'audrey']);
    const second = await call(`/api/v1/accounts?limit=2&cursor=${first.json.next}`, { token: admin() });
    expect(second.json.items.map((a: { username: string }) => a.username)).toEqual(['officer', 'olivia']);
    expect(second.json.next).toBeNull();
    expect((await call('/api/v1/accounts?cursor=!!garbage!!', { token: admin() })).status).toBe(400);
  });

  it('answers 401 without credentials and 403 to an officer or auditor', async () => {
    const none = await call('/api/v1/accounts');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="warden"');
    expect((await call('/api/v1/accounts', { token: t.tokens.officer })).status).toBe(403);
    const auditor = await call('/api/v1/accounts', { method: 'POST', token: t.tokens.auditor, body: { username: 'x1', password: 'x1-long-password', role: 'admin' } });
    expect(auditor.status).toBe(403);
    expect(auditor.json.type).toBe('urn:warden:problem:forbidden');
  });
});

describe('the last administrator', () => {
  it('cannot be deleted, even by two administrators deleting each other at the same moment', async () => {
    const made: Record<string, string> = {};
    for (const u of ['ann', 'bob']) {
      expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: u, password: `${u}-admin-long-password`, role: 'admin' } })).status).toBe(201);
      made[u] = (await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: u } })).json.token;
      expect((await call('/api/v1/auth/me', { token: made[u] })).status).toBe(200); // warm the token caches
    }
    const [annDeletesBob, bobDeletesAnn] = await Promise.all([
      call('/api/v1/accounts/bob', { method: 'DELETE', token: made.ann }),
      call('/api/v1/accounts/ann', { method: 'DELETE', token: made.bob }),
    ]);
    expect([annDeletesBob.status, bobDeletesAnn.status].sort()).toEqual([204, 409]);
    const refused = annDeletesBob.status === 409 ? annDeletesBob : bobDeletesAnn;
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.json.type).toBe('urn:warden:problem:last-admin');
    const admins = (await call('/api/v1/accounts?limit=500', { token: admin() })).json.items.filter((a: { role: string }) => a.role === 'admin');
    expect(admins).toHaveLength(1);
    // The bootstrap token cannot delete it either.
    const last = admins[0].username as string;
    expect((await call(`/api/v1/accounts/${last}`, { method: 'DELETE', token: admin() })).status).toBe(409);
  });
});

describe('console login', () => {
  it('sets an HttpOnly SameSite=Strict session cookie and answers the CSRF token', async () => {
    const res = await login('olivia', 'olivia-long-password');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ username: 'olivia', role: 'officer', csrfToken: expect.any(String) });
    expect(res.setCookie).toMatch(/^warden_session=[A-Za-z0-9_-]{43}; /);
    expect(res.setCookie).toContain('HttpOnly');
    expect(res.setCookie).toContain('SameSite=Strict');
    expect(res.setCookie).toContain('Path=/');
    expect(res.setCookie).not.toContain('Secure'); // plain HTTP here; over HTTPS it is Secure
    const me = await call('/api/v1/auth/me', { cookie: res.cookie });
    expect(me.json).toEqual({ username: 'olivia', role: 'officer', via: 'session', csrfToken: res.json.csrfToken, tokenId: null });
    // The cookie carries the officer's role: search is allowed, accounts are not.
    expect((await call('/api/v1/messages?q=x', { cookie: res.cookie })).status).toBe(200);
    expect((await call('/api/v1/accounts', { cookie: res.cookie })).status).toBe(403);
  });

  it('marks the cookie Secure when the console is reached over HTTPS', async () => {
    const setCookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ username: 'olivia', password: 'olivia-long-password' });
      const req = https.request(
        { host: '127.0.0.1', port: t.server.ports.https, path: '/api/v1/auth/login', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.headers['set-cookie'] ?? '')));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(setCookie).toMatch(/^warden_session=.*; Secure$/);
  });

  it('refuses a state-changing request made with the cookie but without the CSRF token', async () => {
    const { cookie, json } = await login('olivia', 'olivia-long-password');
    const body = { account: 'olivia', label: 'from the console' };
    const without = await call('/api/v1/tokens', { method: 'POST', cookie, body });
    expect(without.status).toBe(403);
    expect(without.json.type).toBe('urn:warden:problem:csrf');
    expect((await call('/api/v1/tokens', { method: 'POST', cookie, csrf: 'wrong', body })).status).toBe(403);
    const withToken = await call('/api/v1/tokens', { method: 'POST', cookie, csrf: json.csrfToken, body });
    expect(withToken.status).toBe(201);
  });

  it('stores a password hashed at an older, cheaper scrypt cost again at today\'s cost when its owner logs in', async () => {
    const costOf = async () => {
      const [row] = await t.db.sql<{ password_hash: string }[]>`SELECT password_hash FROM console_accounts WHERE username = 'auditor'`;
      return parsePasswordHash(row?.password_hash ?? '')?.params.N;
    };
    expect(await costOf()).toBe(1024); // the test fixture's cheap hash
    expect((await login('auditor', TEST_CONSOLE_PASSWORD, { from: '198.51.100.60' })).status).toBe(200);
    expect(await costOf()).toBe(2 ** 17);
    expect((await login('auditor', TEST_CONSOLE_PASSWORD, { from: '198.51.100.60' })).status).toBe(200);
  });

  it('gives the same 401 for a wrong password and an unknown account', async () => {
    const wrong = await login('audrey', 'not-her-password', { from: '198.51.100.10' });
    const unknown = await login('nobody', 'not-her-password', { from: '198.51.100.10' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.json).toEqual(unknown.json);
    expect(wrong.setCookie).toBe('');
  });

  it('ends the session on logout', async () => {
    const { cookie, json } = await login('audrey', 'audrey-long-password');
    expect((await call('/api/v1/auth/me', { cookie })).status).toBe(200);
    const out = await call('/api/v1/auth/logout', { method: 'POST', cookie, csrf: json.csrfToken });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^warden_session=; .*Max-Age=0/);
    expect((await call('/api/v1/auth/me', { cookie })).status).toBe(401);
  });

  it('refuses a login or logout it cannot record (503), handing out no session and ending none', async () => {
    const { cookie, json } = await login('audrey', 'audrey-long-password');
    await whileAccessLogDown(async () => {
      const sessionCount = async () => (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM console_sessions WHERE account = 'audrey'`)[0]?.n;
      const before = await sessionCount();
      const refused = await login('audrey', 'audrey-long-password');
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
      expect(refused.setCookie).toBe('');
      expect(await sessionCount()).toBe(before);
      expect((await call('/api/v1/auth/logout', { method: 'POST', cookie, csrf: json.csrfToken })).status).toBe(503);
      expect((await call('/api/v1/auth/me', { cookie })).status).toBe(200);
    });
    expect((await call('/api/v1/auth/logout', { method: 'POST', cookie, csrf: json.csrfToken })).status).toBe(204);
  });

  it('throttles repeated failures for an account with 429 and Retry-After, even with the right password', async () => {
    // LOGIN_MAX_FAILURES=3 for this server (her successful login above cleared earlier failures).
    for (const wrong of ['wrong-1', 'wrong-2', 'wrong-3']) expect((await login('audrey', wrong, { from: '198.51.100.11' })).status).toBe(401);
    const locked = await login('audrey', 'audrey-long-password', { from: '198.51.100.12' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.json.type).toBe('urn:warden:problem:too-many-attempts');
  });

  it('checks at most LOGIN_MAX_FAILURES of many wrong passwords sent at once; the rest get 429', async () => {
    expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'pat', password: 'pat-long-password', role: 'officer' } })).status).toBe(201);
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => login('pat', `wrong-guess-${i}`, { from: '198.51.100.20' }).then((r) => r.status)));
    const count = (s: number) => statuses.filter((x) => x === s).length;
    expect(count(401)).toBeLessThanOrEqual(3);
    expect(count(401) + count(429)).toBe(20);
    // Only the guesses that were checked are in the access log.
    const failed = await call('/api/v1/access-log?actor=pat&action=login.failed', { token: t.tokens.auditor });
    expect(failed.json.items.length).toBe(count(401));
  });

  it('does not forgive an address its failures when it logs in to its own account (password spraying)', async () => {
    const from = '198.51.100.30';
    expect((await login('sam1', 'spray-guess', { from })).status).toBe(401);
    expect((await login('sam2', 'spray-guess', { from })).status).toBe(401);
    expect((await login('olivia', 'olivia-long-password', { from })).status).toBe(200);
    expect((await login('sam3', 'spray-guess', { from })).status).toBe(401); // the third failure locks the address
    expect((await login('olivia', 'olivia-long-password', { from })).status).toBe(429);
    // Her account itself is not locked: she gets in from elsewhere.
    expect((await login('olivia', 'olivia-long-password', { from: '198.51.100.31' })).status).toBe(200);
  });

  it('counts every address of one IPv6 /64 as one address', async () => {
    for (const [i, from] of ['2001:db8:0:1::a', '2001:db8:0:1::b', '2001:db8:0:1:ffff::c'].entries()) {
      expect((await login(`v6-${i}`, 'spray-guess', { from })).status).toBe(401);
    }
    expect((await login('v6-x', 'spray-guess', { from: '2001:db8:0:1::d' })).status).toBe(429);
    expect((await login('v6-x', 'spray-guess', { from: '2001:db8:0:2::d' })).status).toBe(401);
  });

  it('logs in while an old session cookie is still live, ending that old session', async () => {
    const first = await login('olivia', 'olivia-long-password');
    // The console's second tab: it holds the live cookie but no CSRF token, and logs in again.
    const second = await login('olivia', 'olivia-long-password', { cookie: first.cookie });
    expect(second.status).toBe(200);
    expect(second.cookie).not.toBe(first.cookie);
    expect((await call('/api/v1/auth/me', { cookie: second.cookie })).status).toBe(200);
    expect((await call('/api/v1/auth/me', { cookie: first.cookie })).status).toBe(401);
  });
});

describe('credentials over the network', () => {
  it('refuses a password over plain HTTP from another host, naming HTTPS, and accepts it over HTTPS', async () => {
    const plain = await login('olivia', 'olivia-long-password', { from: '192.0.2.9', proto: 'http' });
    expect(plain.status).toBe(403);
    expect(plain.headers.get('content-type')).toContain('application/problem+json');
    expect(plain.json.type).toBe('urn:warden:problem:https-required');
    expect(plain.json.detail).toContain('HTTPS');
    expect(plain.setCookie).toBe('');
    expect((await login('olivia', 'olivia-long-password', { from: '192.0.2.9', proto: 'https' })).status).toBe(200);
  });

  it('refuses a bearer token or a session cookie over plain HTTP from another host', async () => {
    const { cookie } = await login('olivia', 'olivia-long-password');
    for (const creds of [{ token: admin() }, { cookie }]) {
      const res = await call('/api/v1/auth/me', { ...creds, from: '192.0.2.9', proto: 'http' });
      expect(res.status).toBe(403);
      expect(res.json.type).toBe('urn:warden:problem:https-required');
      expect((await call('/api/v1/auth/me', { ...creds, from: '192.0.2.9', proto: 'https' })).status).toBe(200);
    }
    // Without credentials the answer stays 401 (nothing was exposed).
    expect((await call('/api/v1/auth/me', { from: '192.0.2.9', proto: 'http' })).status).toBe(401);
  });

  it('throttles invalid bearer tokens per address with 429 and Retry-After, then refuses even a valid one from there', async () => {
    const from = '198.51.100.40';
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await call('/api/v1/auth/me', { token: `guess-${i}-0123456789abcdef0123456789`, from })).status);
    // INVALID_TOKENS_PER_MINUTE (20) answers of 401, then 429.
    expect(statuses.slice(0, 20)).toEqual(new Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(new Array(5).fill(429));
    const locked = await call('/api/v1/auth/me', { token: admin(), from });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(locked.json.type).toBe('urn:warden:problem:too-many-attempts');
    expect((await call('/api/v1/auth/me', { token: admin(), from: '198.51.100.41' })).status).toBe(200);
  });
});

describe('API tokens', () => {
  it('act with their account\'s role; an officer manages only their own', async () => {
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'olivia', label: 'script' } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ account: 'olivia', label: 'script', createdBy: expect.stringMatching(/^bootstrap-token:/), token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const token = made.json.token as string;
    // /me names the token, so a script can find (and revoke) the one it holds.
    expect((await call('/api/v1/auth/me', { token })).json).toMatchObject({ username: 'olivia', role: 'officer', via: 'token', csrfToken: null, tokenId: made.json.id });
    expect((await call('/api/v1/messages', { token })).status).toBe(200);
    expect((await call('/api/v1/users', { token })).status).toBe(403);
    // Own tokens only: listing shows olivia's, and creating one for someone else is refused.
    const mine = await call('/api/v1/tokens', { token });
    expect(mine.json.items.length).toBeGreaterThan(0);
    expect(mine.json.items.every((i: { account: string }) => i.account === 'olivia')).toBe(true);
    expect(mine.json.items.some((i: { token?: string }) => i.token !== undefined)).toBe(false);
    expect((await call('/api/v1/tokens?account=audrey', { token })).status).toBe(403);
    expect((await call('/api/v1/tokens', { method: 'POST', token, body: { account: 'audrey' } })).status).toBe(403);
    // Revoked: refused at once.
    expect((await call(`/api/v1/tokens/${made.json.id}`, { method: 'DELETE', token })).status).toBe(204);
    const after = await call('/api/v1/auth/me', { token });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('are neither made nor revoked off the record: 503 when the access log cannot be written', async () => {
    const count = async () => (await t.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM admin_tokens WHERE account = 'olivia'`)[0]?.n;
    const before = await count();
    const refused = await whileAccessLogDown(() => call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'olivia' } }));
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable' });
    expect(refused.json.token).toBeUndefined();
    expect(await count()).toBe(before);
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'olivia' } });
    expect(made.status).toBe(201);
    const revoke = await whileAccessLogDown(() => call(`/api/v1/tokens/${made.json.id}`, { method: 'DELETE', token: admin() }));
    expect(revoke.status).toBe(503);
    expect((await call('/api/v1/auth/me', { token: made.json.token })).status).toBe(200);
    expect((await call(`/api/v1/tokens/${made.json.id}`, { method: 'DELETE', token: admin() })).status).toBe(204);
  });

  it('expire', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'audrey', expiresAt } });
    expect(made.status).toBe(201);
    expect(made.json.expiresAt).toBe(expiresAt);
    expect((await call('/api/v1/access-log/verify', { token: made.json.token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    expect((await call('/api/v1/access-log/verify', { token: made.json.token })).status).toBe(401);
    const past = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'audrey', expiresAt: '2001-01-01T00:00:00Z' } });
    expect(past.status).toBe(400);
  });

  it('expire after 90 days when no expiry is asked for, and at most a year ahead', async () => {
    const DAY = 24 * 3600_000;
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'audrey' } });
    expect(made.status).toBe(201);
    expect(Math.abs(Date.parse(made.json.expiresAt) - (Date.now() + 90 * DAY))).toBeLessThan(60_000);
    // From a console session too: the session cannot be turned into a token that never expires.
    const { cookie, json } = await login('olivia', 'olivia-long-password');
    const own = await call('/api/v1/tokens', { method: 'POST', cookie, csrf: json.csrfToken, body: { account: 'olivia' } });
    expect(own.status).toBe(201);
    expect(own.json.expiresAt).not.toBeNull();
    const tooFar = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'audrey', expiresAt: new Date(Date.now() + 366 * DAY).toISOString() } });
    expect(tooFar.status).toBe(400);
    expect(tooFar.json.detail).toContain('365');
    const withinYear = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'audrey', expiresAt: new Date(Date.now() + 364 * DAY).toISOString() } });
    expect(withinYear.status).toBe(201);
  });

  it('minted by an admin for another account are logged naming the admin and the account, and listed with their creator', async () => {
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'olivia', label: 'minted' } });
    const me = await call('/api/v1/auth/me', { token: admin() });
    const log = await call('/api/v1/access-log?action=token.create&limit=500', { token: t.tokens.auditor });
    const entry = log.json.items.find((e: { query: { tokenId?: string } }) => e.query.tokenId === made.json.id);
    expect(entry).toMatchObject({ actor: `bootstrap-token:${me.json.tokenId}`, role: 'admin', query: { account: 'olivia', createdBy: `bootstrap-token:${me.json.tokenId}` } });
    const listed = await call('/api/v1/tokens?account=olivia&limit=500', { token: admin() });
    expect(listed.json.items.find((i: { id: string }) => i.id === made.json.id)).toMatchObject({ createdBy: `bootstrap-token:${me.json.tokenId}`, label: 'minted' });
  });

  it('die with their account', async () => {
    expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'temp', password: 'temporary-password', role: 'officer' } })).status).toBe(201);
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'temp' } });
    expect((await call('/api/v1/auth/me', { token: made.json.token })).status).toBe(200);
    expect((await call('/api/v1/accounts/temp', { method: 'DELETE', token: admin() })).status).toBe(204);
    expect((await call('/api/v1/auth/me', { token: made.json.token })).status).toBe(401);
    expect((await call('/api/v1/accounts/temp', { method: 'DELETE', token: admin() })).status).toBe(404);
  });

  it('are stored hashed: the token never appears in the database', async () => {
    const made = await call('/api/v1/tokens', { method: 'POST', token: admin(), body: { account: 'olivia' } });
    const hits = await t.db.sql`SELECT 1 FROM admin_tokens WHERE encode(token_hash, 'escape') LIKE ${'%' + made.json.token + '%'} OR label LIKE ${'%' + made.json.token + '%'}`;
    expect(hits).toHaveLength(0);
  });
});

describe('password change', () => {
  const password = (username: string, body: unknown, creds: Omit<Call, 'method' | 'body'>) =>
    call(`/api/v1/accounts/${username}/password`, { ...creds, method: 'PUT', body });

  it('lets an account change its own password with its current one, ending its other sessions but not this one', async () => {
    expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'penny', password: 'penny-first-password', role: 'officer' } })).status).toBe(201);
    const other = await login('penny', 'penny-first-password');
    const here = await login('penny', 'penny-first-password');
    const creds = { cookie: here.cookie, csrf: here.json.csrfToken as string };
    const wrong = await password('penny', { currentPassword: 'not-the-password', password: 'penny-second-password' }, creds);
    expect(wrong.status).toBe(403);
    expect(wrong.json.type).toBe('urn:warden:problem:invalid-credentials');
    expect((await password('penny', { password: 'penny-second-password' }, creds)).status).toBe(400); // currentPassword missing
    const short = await password('penny', { currentPassword: 'penny-first-password', password: 'short' }, creds);
    expect(short.status).toBe(400);
    expect(short.json.type).toBe('urn:warden:problem:invalid-password');
    const long = await password('penny', { currentPassword: 'penny-first-password', password: 'x'.repeat(1025) }, creds);
    expect(long.status).toBe(400);
    expect((await password('penny', { currentPassword: 'penny-first-password', password: 'a-second-password' }, creds)).status).toBe(204);
    expect((await call('/api/v1/auth/me', { cookie: here.cookie })).status).toBe(200);
    expect((await call('/api/v1/auth/me', { cookie: other.cookie })).status).toBe(401);
    expect((await login('penny', 'penny-first-password', { from: '198.51.100.50' })).status).toBe(401);
    expect((await login('penny', 'a-second-password', { from: '198.51.100.51' })).status).toBe(200);
  });

  it('lets an admin set anyone\'s password without the current one (ending all their sessions), and nobody else', async () => {
    expect((await call('/api/v1/accounts', { method: 'POST', token: admin(), body: { username: 'quinn', password: 'quinn-first-password', role: 'auditor' } })).status).toBe(201);
    const session = await login('quinn', 'quinn-first-password');
    // An officer may not change another account's password.
    const byOfficer = await password('quinn', { password: 'chosen-by-officer' }, { token: t.tokens.officer });
    expect(byOfficer.status).toBe(403);
    expect((await password('nobody-here', { password: 'some-new-password' }, { token: admin() })).status).toBe(404);
    expect((await password('quinn', { password: 'reset-by-the-admin' }, { token: admin() })).status).toBe(204);
    expect((await call('/api/v1/auth/me', { cookie: session.cookie })).status).toBe(401);
    expect((await login('quinn', 'reset-by-the-admin', { from: '198.51.100.52' })).status).toBe(200);
    const log = await call('/api/v1/access-log?action=account.password&limit=50', { token: t.tokens.auditor });
    expect(log.json.items.map((e: { actor: string; query: { username: string } }) => [e.actor, e.query.username])).toEqual(
      expect.arrayContaining([['penny', 'penny'], [expect.stringMatching(/^bootstrap-token:/), 'quinn']]),
    );
  });
});

describe('a revoked ADMIN_TOKEN', () => {
  it('stays revoked after a restart with the same ADMIN_TOKEN', async () => {
    const db = await openTestDatabase();
    const ADMIN_TOKEN = 'leaked-admin-token-0123456789abcdefABCDEF';
    const first = await startTestServer({ ADMIN_TOKEN }, { database: db });
    const url = (s: TestServer) => `http://127.0.0.1:${s.server.ports.http}/api/v1`;
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const me = (await (await fetch(`${url(first)}/auth/me`, { headers })).json()) as { tokenId: string };
    expect((await fetch(`${url(first)}/tokens/${me.tokenId}`, { method: 'DELETE', headers })).status).toBe(204);
    expect((await fetch(`${url(first)}/auth/me`, { headers })).status).toBe(401);
    await first.server.stop();
    await removeTestDataDir(first.config.dataDir);
    const second = await startTestServer({ ADMIN_TOKEN }, { database: db });
    try {
      expect((await fetch(`${url(second)}/auth/me`, { headers })).status).toBe(401);
    } finally {
      await second.close(); // closes db too
    }
  });
});

describe('access log (auditor)', () => {
  it('shows logins, failures, account and token changes and an officer\'s search, and verifies', async () => {
    await call(`/api/v1/messages?q=${encodeURIComponent('蓝鲸')}`, { token: t.tokens.officer });
    const page = await call('/api/v1/access-log?limit=500', { token: t.tokens.auditor });
    expect(page.status).toBe(200);
    const actions = page.json.items.map((e: { action: string }) => e.action);
    for (const a of ['login', 'login.failed', 'logout', 'account.create', 'account.delete', 'token.create', 'token.revoke', 'search']) expect(actions).toContain(a);
    const search = page.json.items.find((e: { action: string; query: { q?: string } }) => e.action === 'search' && e.query.q === '蓝鲸');
    expect(search).toMatchObject({ actor: 'officer', role: 'officer', via: 'token', ip: '127.0.0.1' });
    const unknown = page.json.items.find((e: { action: string; detail: { knownAccount?: boolean } }) => e.action === 'login.failed' && e.detail.knownAccount === false);
    expect(unknown.actor).toBe('(unknown account)'); // a mistyped name may be a password: not logged
    expect((await call('/api/v1/access-log/verify', { token: t.tokens.auditor })).json).toMatchObject({ ok: true });
  });

  it('pages with a cursor and filters by actor and action', async () => {
    const first = await call('/api/v1/access-log?limit=3', { token: t.tokens.auditor });
    const second = await call(`/api/v1/access-log?limit=3&cursor=${first.json.next}`, { token: t.tokens.auditor });
    expect(Number(second.json.items[0].seq)).toBe(Number(first.json.items[2].seq) - 1);
    const olivia = await call('/api/v1/access-log?actor=olivia&action=login', { token: t.tokens.auditor });
    expect(olivia.json.items.length).toBeGreaterThan(0);
    expect(olivia.json.items.every((e: { actor: string; action: string }) => e.actor === 'olivia' && e.action === 'login')).toBe(true);
  });

  it('is closed to officers and admins; the auditor cannot read message bodies', async () => {
    expect((await call('/api/v1/access-log', { token: t.tokens.officer })).status).toBe(403);
    expect((await call('/api/v1/access-log', { token: admin() })).status).toBe(403);
    expect((await call('/api/v1/messages?q=x', { token: t.tokens.auditor })).status).toBe(403);
  });
});
