// Admin API, unit tier: app.inject() against in-memory fakes of ApiDeps (no sockets, no SQL).
import { fakeAuthenticator } from '../../test/support/fake-auth.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ScramCredential } from '../auth/scram-credential.ts';
import { SaslPrepError } from '../auth/scram.ts';
import type { UserRecord, UserStore } from '../storage/user-store.ts';
import { createLogger } from '../log.ts';
import { buildApiApp } from './app.ts';
import type { ApiDeps, SessionDirectory, SessionInfo } from './deps.types.ts';

const TOKEN = 'test-admin-token_0123456789';

class MemoryUsers implements UserStore {
  /** Like the SQL store, a page never holds more than this many rows. */
  maxLimit = 1000;
  readonly rows = new Map<string, { createdAt: Date; credentials: readonly ScramCredential[] }>();
  async create(username: string, credentials: readonly ScramCredential[]) {
    if (this.rows.has(username)) return false;
    this.rows.set(username, { createdAt: new Date(), credentials });
    return true;
  }
  async credential(username: string, hash: ScramCredential['hash']) {
    return this.rows.get(username)?.credentials.find((c) => c.hash === hash);
  }
  async exists(username: string) {
    return this.rows.has(username);
  }
  async list(opts: { limit?: number; after?: string } = {}): Promise<UserRecord[]> {
    const names = [...this.rows.keys()].sort().filter((n) => opts.after === undefined || n > opts.after);
    return names.slice(0, Math.min(opts.limit ?? 100, this.maxLimit)).map((username) => ({ username, createdAt: this.rows.get(username)!.createdAt }));
  }
  async delete(username: string) {
    return this.rows.delete(username);
  }
  async setCredentials(username: string, credentials: readonly ScramCredential[]) {
    const row = this.rows.get(username);
    if (row === undefined) return false;
    this.rows.set(username, { ...row, credentials });
    return true;
  }
}

class FakeSessions implements SessionDirectory {
  sessions: SessionInfo[] = [];
  readonly kickedUsers: Array<{ localpart: string; text: string | undefined }> = [];
  list() {
    return this.sessions;
  }
  kick(fullJid: string) {
    const before = this.sessions.length;
    this.sessions = this.sessions.filter((s) => s.jid !== fullJid);
    return this.sessions.length < before;
  }
  kickUser(localpart: string, text?: string) {
    this.kickedUsers.push({ localpart, text });
    return 1;
  }
}

// A stand-in for RFC 7622 UsernameCaseMapped, good enough for these tests: ASCII case folding,
// and the characters §3.3.1 forbids.
const fakeNormalize = (raw: string): string | undefined =>
  raw.length === 0 || /[\s"&'/:<>@]/.test(raw) ? undefined : raw.toLowerCase();

// Records which passwords were derived, so a test can see which one was stored.
const fakeDerive = (password: string): ScramCredential[] => {
  if (password.includes('\u0007')) throw new SaslPrepError('prohibited-character', 7);
  return [{ hash: 'SHA-256', salt: Buffer.from('salt'), iterations: 4096, storedKey: Buffer.from(password), serverKey: Buffer.alloc(32) }];
};

let users: MemoryUsers;
let sessions: FakeSessions;
let app: FastifyInstance;
const auth = { authorization: `Bearer ${TOKEN}` };

beforeEach(async () => {
  users = new MemoryUsers();
  sessions = new FakeSessions();
  const deps: ApiDeps = {
    domain: 'example.org',
    users,
    sessions,
    auth: fakeAuthenticator({ [TOKEN]: 'admin' }),
    normalizeLocalpart: fakeNormalize,
    deriveCredentials: fakeDerive,
  };
  app = await buildApiApp(deps);
});
afterEach(async () => {
  await app.close();
});

const createUser = (username: string, password = 'secret') =>
  app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username, password } });

function expectProblem(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  expect(body).toEqual({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
  expect(String(body.type)).toMatch(/^(about:blank|urn:)/);
  return body as { type: string; title: string; status: number; detail: string };
}

describe('admin authentication', () => {
  it('refuses a request without a token with 401 and a Bearer challenge', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/users' });
    expectProblem(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="warden"');
  });

  it('refuses a wrong token with 401 invalid_token', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: 'Bearer nope' } });
    expectProblem(res, 401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a non-Bearer scheme', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Basic ${TOKEN}` } });
    expectProblem(res, 401);
  });

  it('checks the token before validating the body', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { username: 'a b' } });
    expectProblem(res, 401);
    expect(users.rows.size).toBe(0);
  });

  it('answers unknown /api paths with 401 to callers without a token, 404 to admins', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/api/v1/nothing' }), 401);
    expectProblem(await app.inject({ method: 'GET', url: '/api/v1/nothing', headers: auth }), 404);
  });

  // The router decodes %61 to "a": a check on the raw URL prefix would let this through.
  it('guards a percent-encoded path that the router matches to an /api route', async () => {
    expectProblem(await app.inject({ method: 'GET', url: '/%61pi/v1/users' }), 401);
  });

  it('serves /healthz without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });
});

describe('POST /api/v1/users', () => {
  it('creates a user and answers 201 with the JID', async () => {
    const res = await createUser('alice');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ username: 'alice', jid: 'alice@example.org' });
    expect(users.rows.has('alice')).toBe(true);
  });

  it('stores the normalised username', async () => {
    const res = await createUser('Alice');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({ username: 'alice', jid: 'alice@example.org' });
    expect([...users.rows.keys()]).toEqual(['alice']);
  });

  it('answers 409 when the (normalised) username is taken', async () => {
    await createUser('alice');
    const body = expectProblem(await createUser('ALICE'), 409);
    expect(body.detail).toContain('already exists');
  });

  it.each(['a b', 'a@b', ''])('rejects the invalid localpart %j with 400', async (name) => {
    expectProblem(await createUser(name), 400);
    expect(users.rows.size).toBe(0);
  });

  it('rejects an empty password and one over 1024 characters', async () => {
    expectProblem(await createUser('bob', ''), 400);
    expectProblem(await createUser('bob', 'x'.repeat(1025)), 400);
    expect((await createUser('bob', 'x'.repeat(1024))).statusCode).toBe(201);
  });

  it('rejects a password SASLprep refuses with 400', async () => {
    const body = expectProblem(await createUser('bob', 'bell\u0007'), 400);
    expect(body.type).toBe('urn:warden:problem:invalid-password');
    expect(users.rows.size).toBe(0);
  });

  it('answers schema violations as problem+json naming the field', async () => {
    const body = expectProblem(await app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username: 'bob' } }), 400);
    expect(body.detail).toContain('password');
  });

  it('answers malformed JSON without echoing the body', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"username":"bob","password":"hunter2"',
    });
    const body = expectProblem(res, 400);
    expect(body.detail).not.toContain('hunter2');
  });

  it('refuses a body over the limit with 413', async () => {
    const body = expectProblem(await createUser('bob', 'x'.repeat(70 * 1024)), 413);
    expect(body.detail).toBe('The request body is larger than this route accepts (64 KiB).');
  });

  it('refuses a non-JSON body with 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: { ...auth, 'content-type': 'application/xml' }, payload: '<alice/>' });
    expectProblem(res, 415);
  });
});

describe('input checked before every route', () => {
  it('refuses an unknown query parameter instead of ignoring it', async () => {
    const body = expectProblem(await app.inject({ method: 'GET', url: '/api/v1/users?limt=5', headers: auth }), 400);
    expect(body.detail).toContain('limt');
  });

  it('refuses an unknown body property', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username: 'bob', password: 'secret', role: 'admin' } });
    expectProblem(res, 400);
    expect(users.rows.has('bob')).toBe(false);
  });

  it('refuses U+0000 and lone surrogates in the body, naming the field', async () => {
    const nul = expectProblem(await createUser('bob', 'sec\u0000ret'), 400);
    expect(nul.detail).toContain('body.password');
    const surrogate = expectProblem(await createUser('bo\ud800b'), 400);
    expect(surrogate.detail).toContain('body.username');
    expect(users.rows.size).toBe(0);
  });

  it('refuses a text/plain body with 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'bob' });
    expectProblem(res, 415);
  });

  it('marks API answers no-store and nosniff', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('GET /api/v1/users', () => {
  it('pages through users with a cursor', async () => {
    for (const n of ['carol', 'alice', 'dave', 'bob', 'erin']) await createUser(n);
    const first = await app.inject({ method: 'GET', url: '/api/v1/users?limit=2', headers: auth });
    expect(first.statusCode).toBe(200);
    const page1 = first.json() as { items: Array<{ username: string; jid: string; createdAt: string }>; next: string | null };
    expect(page1.items.map((u) => u.username)).toEqual(['alice', 'bob']);
    expect(page1.items[0]?.jid).toBe('alice@example.org');
    expect(new Date(page1.items[0]!.createdAt).toISOString()).toBe(page1.items[0]!.createdAt);
    expect(page1.next).toBe('bob');

    const page2 = (await app.inject({ method: 'GET', url: `/api/v1/users?limit=2&after=${page1.next}`, headers: auth })).json() as typeof page1;
    expect(page2.items.map((u) => u.username)).toEqual(['carol', 'dave']);
    // `cursor` and its older spelling `after` are the same parameter.
    const page3 = (await app.inject({ method: 'GET', url: `/api/v1/users?limit=2&cursor=${page2.next}`, headers: auth })).json() as typeof page1;
    expect(page3.items.map((u) => u.username)).toEqual(['erin']);
    expect(page3.next).toBeNull();
  });

  it('answers next: null when the last page is exactly full', async () => {
    for (const n of ['a1', 'a2']) await createUser(n);
    const res = (await app.inject({ method: 'GET', url: '/api/v1/users?limit=2', headers: auth })).json() as { next: string | null };
    expect(res.next).toBeNull();
  });

  it('still finds the next page when the store caps the page size', async () => {
    users.maxLimit = 3;
    for (const n of ['a1', 'a2', 'a3', 'a4']) await createUser(n);
    const res = (await app.inject({ method: 'GET', url: '/api/v1/users?limit=3', headers: auth })).json() as { next: string | null };
    expect(res.next).toBe('a3');
  });

  it.each(['0', '501', '1000', 'ten'])('rejects limit=%s with 400', async (limit) => {
    expectProblem(await app.inject({ method: 'GET', url: `/api/v1/users?limit=${limit}`, headers: auth }), 400);
  });

  it('answers 50 users a page by default and up to 500 when asked, as every list does', async () => {
    for (let i = 0; i < 51; i++) await createUser(`u${String(i).padStart(2, '0')}`);
    const byDefault = (await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth })).json() as { items: unknown[]; next: string | null };
    expect(byDefault.items).toHaveLength(50);
    expect(byDefault.next).toBe('u49');
    const most = await app.inject({ method: 'GET', url: '/api/v1/users?limit=500', headers: auth });
    expect(most.statusCode).toBe(200);
    expect((most.json() as { items: unknown[] }).items).toHaveLength(51);
  });
});

describe('DELETE /api/v1/users/:username', () => {
  it('deletes, ends the sessions, and answers 404 the second time', async () => {
    await createUser('alice');
    const res = await app.inject({ method: 'DELETE', url: '/api/v1/users/Alice', headers: auth });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expect(users.rows.has('alice')).toBe(false);
    expect(sessions.kickedUsers).toEqual([{ localpart: 'alice', text: 'Account deleted' }]);

    expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/users/alice', headers: auth }), 404);
    expect(sessions.kickedUsers).toHaveLength(1);
  });
});

describe('PUT /api/v1/users/:username/password', () => {
  it('replaces the credentials and ends the sessions', async () => {
    await createUser('alice', 'old');
    const res = await app.inject({ method: 'PUT', url: '/api/v1/users/alice/password', headers: auth, payload: { password: 'new' } });
    expect(res.statusCode).toBe(204);
    expect((await users.credential('alice', 'SHA-256'))?.storedKey.toString()).toBe('new');
    expect(sessions.kickedUsers).toEqual([{ localpart: 'alice', text: 'Password changed' }]);
  });

  it('answers 404 for an unknown user and 400 for an empty password', async () => {
    expectProblem(await app.inject({ method: 'PUT', url: '/api/v1/users/nobody/password', headers: auth, payload: { password: 'x' } }), 404);
    await createUser('alice');
    expectProblem(await app.inject({ method: 'PUT', url: '/api/v1/users/alice/password', headers: auth, payload: { password: '' } }), 400);
  });
});

describe('/api/v1/sessions', () => {
  const since = new Date('2024-05-01T10:00:00.000Z');
  beforeEach(() => {
    sessions.sessions = [
      { jid: 'alice@example.org/phone', ip: '192.0.2.1', transport: 'tls', secure: true, since },
      { jid: 'bob@example.org/web', ip: '192.0.2.2', transport: 'websocket', secure: false, since },
    ];
  });

  it('lists the sessions', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/sessions', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { jid: 'alice@example.org/phone', ip: '192.0.2.1', transport: 'tls', secure: true, since: '2024-05-01T10:00:00.000Z' },
        { jid: 'bob@example.org/web', ip: '192.0.2.2', transport: 'websocket', secure: false, since: '2024-05-01T10:00:00.000Z' },
      ],
      next: null,
    });
  });

  it('pages the sessions in JID order with a cursor', async () => {
    sessions.sessions.push({ jid: 'aaron@example.org/desk', ip: '192.0.2.3', transport: 'tcp', secure: true, since });
    const first = (await app.inject({ method: 'GET', url: '/api/v1/sessions?limit=2', headers: auth })).json() as { items: Array<{ jid: string }>; next: string | null };
    expect(first.items.map((s) => s.jid)).toEqual(['aaron@example.org/desk', 'alice@example.org/phone']);
    // A session that ends between pages does not shift the next page.
    sessions.sessions = sessions.sessions.filter((s) => s.jid !== 'aaron@example.org/desk');
    const second = (await app.inject({ method: 'GET', url: `/api/v1/sessions?limit=2&cursor=${first.next}`, headers: auth })).json() as typeof first;
    expect(second).toMatchObject({ items: [{ jid: 'bob@example.org/web' }], next: null });
    expectProblem(await app.inject({ method: 'GET', url: '/api/v1/sessions?limit=0', headers: auth }), 400);
  });

  it.each([
    ['abc', 'not base64url of a JID'],
    [Buffer.from('alice@example.org/phone').toString('base64url') + '!', 'a stray character'],
    [Buffer.from('alice@example.org/phone').toString('base64'), 'padded base64'],
    [Buffer.from('no-resource').toString('base64url'), 'not a full JID'],
  ])('refuses cursor=%s (%s) with 400 invalid-cursor', async (cursor) => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/sessions?cursor=${encodeURIComponent(cursor)}`, headers: auth });
    expect(expectProblem(res, 400).type).toBe('urn:warden:problem:invalid-cursor');
  });

  it('hands out a cursor after a session of a long JID that it takes back', async () => {
    const long = `${'a'.repeat(1000)}@example.org/${'r'.repeat(1000)}`;
    sessions.sessions.push({ jid: long, ip: '192.0.2.4', transport: 'tcp', secure: true, since });
    const first = (await app.inject({ method: 'GET', url: '/api/v1/sessions?limit=1', headers: auth })).json() as { items: Array<{ jid: string }>; next: string };
    expect(first.items[0]?.jid).toBe(long);
    const second = await app.inject({ method: 'GET', url: `/api/v1/sessions?limit=1&cursor=${first.next}`, headers: auth });
    expect(second.statusCode).toBe(200);
    expect((second.json() as { items: Array<{ jid: string }> }).items[0]?.jid).toBe('alice@example.org/phone');
  });

  it('ends one session by its url-encoded full JID, then answers 404', async () => {
    const url = `/api/v1/sessions/${encodeURIComponent('alice@example.org/phone')}`;
    expect((await app.inject({ method: 'DELETE', url, headers: auth })).statusCode).toBe(204);
    expect(sessions.sessions.map((s) => s.jid)).toEqual(['bob@example.org/web']);
    expectProblem(await app.inject({ method: 'DELETE', url, headers: auth }), 404);
  });

  it('accepts a long full JID', async () => {
    const jid = `${'a'.repeat(500)}@example.org/${'r'.repeat(500)}`;
    expectProblem(await app.inject({ method: 'DELETE', url: `/api/v1/sessions/${encodeURIComponent(jid)}`, headers: auth }), 404);
  });
});

describe('errors', () => {
  it('answers an unknown route with 404 problem+json', async () => {
    const body = expectProblem(await app.inject({ method: 'GET', url: '/nope' }), 404);
    expect(body.type).toBe('about:blank');
    expect(body.title).toBe('Not Found');
  });

  it('answers a known path asked with the wrong method with 405 and the methods it takes', async () => {
    const collection = expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/users?limit=5', headers: auth }), 405);
    expect(collection.title).toBe('Method Not Allowed');
    expect(collection.detail).toBe('/api/v1/users does not take DELETE; it takes GET, HEAD, POST.');
    const one = await app.inject({ method: 'GET', url: '/api/v1/users/alice', headers: auth });
    expectProblem(one, 405);
    expect(one.headers.allow).toBe('DELETE');
    const session = await app.inject({ method: 'PUT', url: `/api/v1/sessions/${encodeURIComponent('alice@example.org/phone')}`, headers: auth, payload: {} });
    expect(session.statusCode).toBe(405);
    expect(session.headers.allow).toBe('DELETE');
    const health = await app.inject({ method: 'POST', url: '/healthz' });
    expectProblem(health, 405);
    expect(health.headers.allow).toBe('GET, HEAD');
  });

  it('does not tell a caller without credentials which /api paths exist', async () => {
    expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/users' }), 401);
    expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/nothing' }), 401);
    expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/nothing', headers: auth }), 404);
  });

  it('answers a badly percent-encoded URL with 400 problem+json', async () => {
    expectProblem(await app.inject({ method: 'DELETE', url: '/api/v1/sessions/%E0%A4%A', headers: auth }), 400);
  });

  it('hides the cause of a 500', async () => {
    users.list = async () => {
      throw new Error('connection to 10.0.0.5 refused');
    };
    const body = expectProblem(await app.inject({ method: 'GET', url: '/api/v1/users', headers: auth }), 500);
    expect(body.detail).not.toContain('10.0.0.5');
  });

  it('logs the cause of a 500 and never a password', async () => {
    const lines: string[] = [];
    const logged = await buildApiApp(
      { domain: 'example.org', users, sessions, auth: fakeAuthenticator({ [TOKEN]: 'admin' }), normalizeLocalpart: fakeNormalize, deriveCredentials: fakeDerive },
      { log: createLogger('debug', {}, (line) => lines.push(line)) },
    );
    try {
      await logged.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username: 'alice', password: 'hunter2-secret' } });
      await logged.inject({ method: 'PUT', url: '/api/v1/users/alice/password', headers: auth, payload: { password: 'hunter3-secret' } });
      await logged.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: 'Bearer wrong' } });
      users.list = async () => {
        throw new Error('connection to 10.0.0.5 refused');
      };
      await logged.inject({ method: 'GET', url: '/api/v1/users', headers: auth });
    } finally {
      await logged.close();
    }
    const text = lines.join('\n');
    expect(text).toContain('user created');
    expect(text).toContain('rejected an invalid or expired token');
    expect(text).toContain('10.0.0.5');
    expect(text).not.toMatch(/hunter|wrong/);
  });
});

describe('HTTPS', () => {
  it('serves the same app over TLS when given a certificate', async () => {
    const { generate } = await import('selfsigned');
    const pems = await generate([{ name: 'commonName', value: 'localhost' }]);
    const https = await import('node:https');
    const tlsApp = await buildApiApp(
      { domain: 'example.org', users, sessions, auth: fakeAuthenticator({}), normalizeLocalpart: fakeNormalize, deriveCredentials: fakeDerive },
      { https: { cert: pems.cert, key: pems.private } },
    );
    try {
      expect(tlsApp.server).toBeInstanceOf(https.Server);
      const res = await tlsApp.inject({ method: 'GET', url: '/healthz' });
      expect(res.json()).toEqual({ status: 'ok' });
      // RFC 6797: a browser that came once over HTTPS keeps to it.
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d{7,}/);
    } finally {
      await tlsApp.close();
    }
  });
});
