// Admin API over the real stores (users, admin tokens) on a fresh test database: the create,
// list and delete path end to end, with real RFC 7622 normalisation and SCRAM derivation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { deriveCredentials } from '../auth/scram.ts';
import { normalizeLocalpart } from '../stanza/jid.ts';
import { createApiTokenStore, generateToken } from '../storage/api-token-store.ts';
import { createUserStore } from '../storage/user-store.ts';
import { buildApiApp } from './app.ts';
import { createAuthenticator } from '../accounts/authenticator.ts';
import { createConsoleSessionStore } from '../accounts/session-store.ts';

describe('admin API on the real storage', () => {
  let db: TestDatabase;
  let app: FastifyInstance;
  const kicked: string[] = [];
  const token = generateToken();
  const auth = { authorization: `Bearer ${token}` };

  beforeAll(async () => {
    db = await openTestDatabase();
    const adminTokens = createApiTokenStore(db.sql);
    await adminTokens.add(token, 'api test');
    app = await buildApiApp({
      domain: 'example.org',
      users: createUserStore(db.sql),
      auth: createAuthenticator(adminTokens, createConsoleSessionStore(db.sql, { idleMs: 60_000, absoluteMs: 3_600_000 })),
      sessions: {
        list: () => [],
        kick: () => false,
        kickUser: (localpart) => {
          kicked.push(localpart);
          return 0;
        },
      },
      normalizeLocalpart,
      deriveCredentials,
    });
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  it('rejects a token that is not in the store', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${generateToken()}` } });
    expect(res.statusCode).toBe(401);
  });

  it('creates, lists and deletes users', async () => {
    for (const username of ['Zoe', 'alice', 'bob']) {
      const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username, password: 'pencil' } });
      expect(res.statusCode).toBe(201);
    }
    expect((await app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username: 'ZOE', password: 'x' } })).statusCode).toBe(409);

    const page1 = (await app.inject({ method: 'GET', url: '/api/v1/users?limit=2', headers: auth })).json() as {
      items: Array<{ username: string; jid: string; createdAt: string }>;
      next: string | null;
    };
    expect(page1.items.map((u) => u.jid)).toEqual(['alice@example.org', 'bob@example.org']);
    expect(page1.next).toBe('bob');
    const page2 = (await app.inject({ method: 'GET', url: '/api/v1/users?limit=2&after=bob', headers: auth })).json() as typeof page1;
    expect(page2.items.map((u) => u.username)).toEqual(['zoe']);
    expect(page2.next).toBeNull();

    // Stored as SCRAM credentials for both hashes, never the password.
    const store = createUserStore(db.sql);
    expect(await store.credential('zoe', 'SHA-1')).toBeDefined();
    expect(await store.credential('zoe', 'SHA-256')).toBeDefined();

    expect((await app.inject({ method: 'DELETE', url: '/api/v1/users/zoe', headers: auth })).statusCode).toBe(204);
    expect(kicked).toEqual(['zoe']);
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/users/zoe', headers: auth })).statusCode).toBe(404);
    expect(await store.exists('zoe')).toBe(false);
  });

  it('refuses a password SASLprep does not allow', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/users', headers: auth, payload: { username: 'eve', password: 'bell\u0007' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });
});
