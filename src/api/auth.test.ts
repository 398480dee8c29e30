// The /api auth hook on its own (no database): which transport may carry credentials, the
// invalid-token throttle, public routes and the tokenId every token principal must carry.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { LoginThrottle } from '../auth/throttle.ts';
import { silentLogger } from '../log.ts';
import { fakeAuthenticator, principalFor } from '../../test/support/fake-auth.ts';
import { requireCredentials, transportProtectsCredentials, type CredentialPolicy } from './auth.ts';
import type { Authenticator } from './deps.types.ts';
import { sendProblem, toProblem } from './errors.ts';

const TOKEN = 'officer-token-0123456789abcdef0123456789';
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(policy: CredentialPolicy, auth: Authenticator = fakeAuthenticator({ [TOKEN]: 'officer' })): Promise<FastifyInstance> {
  app = Fastify({ trustProxy: ['127.0.0.1'] });
  app.setErrorHandler((err, request, reply) => sendProblem(reply, toProblem(err, request.id).problem));
  await app.register(async (api) => {
    requireCredentials(api, auth, silentLogger, policy);
    api.get('/me', { config: { roles: 'any' } }, async (request) => ({ actor: request.principal?.actor ?? null }));
    api.post('/open', { config: { roles: 'public' } }, async (request) => ({ principal: request.principal?.actor ?? null }));
  });
  return app;
}

const me = (a: FastifyInstance, remoteAddress: string, headers: Record<string, string> = {}) =>
  a.inject({ method: 'GET', url: '/me', remoteAddress, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });

describe('transportProtectsCredentials (the C2S_REQUIRE_TLS rule for HTTP)', () => {
  it.each([
    { protocol: 'https', ip: '192.0.2.9', requireTls: true, ok: true },
    { protocol: 'http', ip: '127.0.0.1', requireTls: true, ok: true },
    { protocol: 'http', ip: '127.10.0.1', requireTls: true, ok: true },
    { protocol: 'http', ip: '::1', requireTls: true, ok: true },
    { protocol: 'http', ip: '::ffff:127.0.0.1', requireTls: true, ok: true },
    { protocol: 'http', ip: '192.0.2.9', requireTls: true, ok: false },
    { protocol: 'http', ip: '::ffff:192.0.2.9', requireTls: true, ok: false },
    { protocol: 'http', ip: '2001:db8::1', requireTls: true, ok: false },
    { protocol: 'http', ip: '192.0.2.9', requireTls: false, ok: true },
  ] as const)('$protocol from $ip with requireTls=$requireTls: $ok', ({ protocol, ip, requireTls, ok }) => {
    expect(transportProtectsCredentials({ protocol, ip }, requireTls)).toBe(ok);
  });
});

describe('requireCredentials', () => {
  it('refuses a token over plain HTTP from another host with 403 naming the HTTPS port', async () => {
    const a = await build({ httpsPort: 8443 });
    const res = await me(a, '192.0.2.9');
    expect(res.statusCode).toBe(403);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'urn:warden:problem:https-required', detail: expect.stringContaining('HTTPS (port 8443)') });
    // A trusted proxy that terminated TLS says so.
    expect((await me(a, '127.0.0.1', { 'x-forwarded-for': '192.0.2.9', 'x-forwarded-proto': 'https' })).statusCode).toBe(200);
    // An untrusted one cannot.
    expect((await me(a, '192.0.2.7', { 'x-forwarded-proto': 'https' })).statusCode).toBe(403);
  });

  it('lets plain HTTP carry a token when requireTls is off (C2S_REQUIRE_TLS=false)', async () => {
    const a = await build({ requireTls: false });
    expect((await me(a, '192.0.2.9')).statusCode).toBe(200);
  });

  it('counts invalid tokens per address in the throttle it is given, and answers 429 with Retry-After', async () => {
    const tokenThrottle = new LoginThrottle({ maxFailures: 2, lockoutMs: 5000 });
    const a = await build({ requireTls: false, tokenThrottle });
    const bad = { authorization: 'Bearer not-a-token-0123456789abcdef0123' };
    expect((await me(a, '2001:db8:0:1::1', bad)).statusCode).toBe(401);
    expect((await me(a, '2001:db8:0:1::2', bad)).statusCode).toBe(401);
    const locked = await me(a, '2001:db8:0:1::3'); // the same /64, now with a valid token
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('5');
    expect((await me(a, '2001:db8:0:2::1')).statusCode).toBe(200);
  });

  it('does not count a request without credentials or with a valid token', async () => {
    const tokenThrottle = new LoginThrottle({ maxFailures: 1 });
    const a = await build({ tokenThrottle });
    for (let i = 0; i < 3; i++) {
      expect((await a.inject({ method: 'GET', url: '/me' })).statusCode).toBe(401);
      expect((await me(a, '127.0.0.1')).statusCode).toBe(200);
    }
    expect(tokenThrottle.size).toBe(0);
  });

  it('looks at no credential on a public route: a stale cookie without CSRF token or a bad token does not fail it', async () => {
    const a = await build({});
    for (const headers of [{ cookie: 'warden_session=stale-session-cookie' }, { authorization: 'Bearer nonsense-token' }, { authorization: 'Basic eDp5' }]) {
      const res = await a.inject({ method: 'POST', url: '/open', headers, remoteAddress: '192.0.2.9' });
      expect(res.statusCode, JSON.stringify(headers)).toBe(200);
      expect(res.json()).toEqual({ principal: null });
    }
  });

  it('refuses (500, not a silent pass) a token principal that lacks its tokenId: the access log needs it', async () => {
    const { tokenId: _dropped, ...withoutId } = principalFor('officer');
    const a = await build({}, fakeAuthenticator({ [TOKEN]: withoutId }));
    expect((await me(a, '127.0.0.1')).statusCode).toBe(500);
  });
});
