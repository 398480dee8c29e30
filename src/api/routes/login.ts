// Console login: POST /api/v1/auth/login, POST /api/v1/auth/logout, GET /api/v1/auth/me.
// Failures are throttled per address (an IPv6 client per /64) and per account name, so one
// address cannot guess many passwords, nor many addresses one password. Each attempt counts
// before its password is checked, so guesses sent in parallel cannot all pass the throttle; a
// success takes back only its own attempt and clears only the account's failures, so logging in
// to one's own account between guesses does not wash an address clean. An unknown account costs
// the same scrypt time and gets the same answer as a wrong password. Logins and failures go to
// the access log.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DUMMY_PASSWORD_HASH, MAX_PASSWORD_CHARS, hashPassword, needsRehash, verifyPassword } from '../../accounts/password-hash.ts';
import type { ConsoleAccountStore } from '../../accounts/account-store.ts';
import type { ConsoleSessionStore } from '../../accounts/session-store.ts';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { addressThrottleKey, type LoginThrottle } from '../../auth/throttle.ts';
import type { Logger } from '../../log.ts';
import { SESSION_COOKIE, cookieValue, requireProtectedTransport, sessionCookieOf, tooManyAttempts, type CredentialPolicy } from '../auth.ts';
import { ApiProblem, ProblemType, problemSchema } from '../errors.ts';
import { recordOrRefuse } from '../access-log-unavailable.ts';
import { principalOf, ROLES, type Principal } from '../principal.ts';

export interface LoginRoutesDeps {
  readonly accounts: ConsoleAccountStore;
  readonly sessions: ConsoleSessionStore;
  readonly accessLog: AccessLog;
  /** Keys 'ip:<address>' and 'account:<name>'. */
  readonly throttle: LoginThrottle;
  /** Whether plain HTTP from the network may carry a password (the API's CredentialPolicy). */
  readonly credentials?: CredentialPolicy;
  readonly log?: Logger;
}

interface LoginBody {
  username: string;
  password: string;
}

const meSchema = {
  type: 'object',
  required: ['username', 'role', 'via', 'csrfToken'],
  properties: {
    username: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    via: { type: 'string', enum: ['session', 'token'] },
    csrfToken: { type: ['string', 'null'] },
    /** The id of the bearer token used (null for the console session). */
    tokenId: { type: ['string', 'null'] },
  },
} as const;

function sessionCookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  // Secure only where the browser reached us over HTTPS (directly or via a trusted proxy):
  // over plain HTTP on localhost the browser would otherwise drop the cookie.
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

const invalidCredentials = () =>
  new ApiProblem(401, 'The username or password is wrong.', { type: ProblemType.invalidCredentials, title: 'Invalid credentials' });

export function loginRoutes(deps: LoginRoutesDeps): FastifyPluginAsync {
  const { accounts, sessions, accessLog, throttle } = deps;
  return async (app) => {
    app.post<{ Body: LoginBody }>(
      '/login',
      {
        config: { roles: 'public' },
        schema: {
          body: {
            type: 'object',
            required: ['username', 'password'],
            additionalProperties: false,
            properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_CHARS } },
          },
          response: {
            200: {
              type: 'object',
              required: ['username', 'role', 'csrfToken', 'expiresAt'],
              properties: { username: { type: 'string' }, role: { type: 'string' }, csrfToken: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
            },
            400: problemSchema,
            401: problemSchema,
            403: problemSchema,
            429: problemSchema,
          },
        },
      },
      async (request, reply) => {
        // Before anything else: a password from the network over plain HTTP has already leaked.
        requireProtectedTransport(request, deps.credentials ?? {});
        const username = request.body.username.toLowerCase();
        const ipKey = `ip:${addressThrottleKey(request.ip)}`;
        const accountKey = `account:${username}`;
        const wait = throttle.begin([ipKey, accountKey]);
        if (wait > 0) throw tooManyAttempts(wait, 'failed logins');
        // The attempt counts from here; it becomes a failure only when the password was checked
        // and is wrong (a database error is not the caller's guess).
        let failed = false;
        let stored: Awaited<ReturnType<ConsoleAccountStore['passwordHash']>>;
        try {
          stored = await accounts.passwordHash(username);
          failed = !(await verifyPassword(request.body.password, stored?.passwordHash ?? DUMMY_PASSWORD_HASH)) || stored === undefined;
        } finally {
          throttle.end(ipKey, failed);
          throttle.end(accountKey, failed);
        }
        if (failed || stored === undefined) {
          // A name that is no account is not logged: it may be a password typed in the wrong box.
          const who: Principal = { actor: stored === undefined ? '(unknown account)' : username, role: stored?.role ?? 'auditor', via: 'session', account: undefined };
          await recordOrRefuse(accessLog, { principal: who, ip: request.ip, action: 'login.failed', detail: { knownAccount: stored !== undefined } }, deps.log);
          deps.log?.warn('console login failed', { ip: request.ip });
          throw invalidCredentials();
        }
        // Only the account is forgiven: the address keeps its failures (see the top of this file).
        throttle.recordSuccess(accountKey);
        // A hash from before the scrypt cost was raised: store the password at today's cost.
        // Only now is the password known; a failure here costs the upgrade, not the login.
        if (needsRehash(stored.passwordHash)) {
          try {
            await accounts.upgradeHash(username, stored.passwordHash, await hashPassword(request.body.password));
          } catch (err) {
            deps.log?.warn('could not rehash a console password', { account: username, error: String(err) });
          }
        }
        // A cookie sent with the login belongs to an earlier session of this browser: end it, so
        // one browser holds one session (login is public, so that cookie was not checked here).
        const old = sessionCookieOf(request);
        if (old !== undefined) await sessions.end(old);
        const { cookie, session } = await sessions.create(username, stored.role, request.ip);
        // A session off the record is not handed out: it ends and the login is a 503.
        try {
          await recordOrRefuse(accessLog, { principal: { actor: username, role: stored.role, via: 'session', account: username }, ip: request.ip, action: 'login' }, deps.log);
        } catch (err) {
          await sessions.end(cookie);
          throw err;
        }
        const maxAge = Math.max(1, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000));
        void reply.header('Set-Cookie', sessionCookie(request, cookie, maxAge)).header('Cache-Control', 'no-store');
        return { username, role: stored.role, csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() };
      },
    );

    app.post(
      '/logout',
      { config: { roles: 'any' }, schema: { response: { 204: { type: 'null' }, 401: problemSchema, 403: problemSchema } } },
      async (request, reply: FastifyReply) => {
        const principal = principalOf(request);
        const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
        // On the record first: a session that ended unrecorded would look live to an auditor.
        await recordOrRefuse(accessLog, { principal, ip: request.ip, action: 'logout' }, deps.log);
        if (principal.via === 'session' && cookie !== undefined) await sessions.end(cookie);
        return reply.header('Set-Cookie', sessionCookie(request, '', 0)).code(204).send();
      },
    );

    app.get('/me', { config: { roles: 'any' }, schema: { response: { 200: meSchema, 401: problemSchema } } }, async (request, reply) => {
      const principal = principalOf(request);
      let csrfToken: string | null = null;
      if (principal.via === 'session') {
        const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
        csrfToken = cookie === undefined ? null : ((await sessions.lookup(cookie))?.csrfToken ?? null);
      }
      void reply.header('Cache-Control', 'no-store');
      return { username: principal.actor, role: principal.role, via: principal.via, csrfToken, tokenId: principal.tokenId ?? null };
    });
  };
}
