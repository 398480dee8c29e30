// HTTP authentication and authorisation: one onRequest hook on the /api scope, added before any
// route there, so every /api route — and the /api 404 handler — runs it; no route can opt out.
// Each route declares who may call it (config.roles); app.ts refuses to register one that
// does not, so "forgot the role check" is a startup error, not an open door.
//
// Credentials: `Authorization: Bearer <token>` (RFC 6750) or the console's session cookie. A
// cookie is sent by the browser on its own, so a state-changing request made with it must also
// carry the session's CSRF token in X-CSRF-Token (a header another origin's page cannot set).
// A public route (login) looks at neither: its caller may hold a stale cookie and no CSRF token.
//
// Credentials cross the network only encrypted, by the rule XMPP streams follow
// (C2S_REQUIRE_TLS): over HTTPS, through a trusted proxy that terminated TLS, or from loopback;
// anything else is refused before the credential is looked at. Invalid bearer tokens are counted
// per address (a /64 for IPv6) and answered 429 once too many arrive.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { addressThrottleKey, LoginThrottle } from '../auth/throttle.ts';
import type { Logger } from '../log.ts';
import type { Authenticator } from './deps.types.ts';
import { ApiProblem, ProblemType } from './errors.ts';
import type { Principal, RouteAccess } from './principal.ts';

/** How the API treats credentials; every field has the safe default. */
export interface CredentialPolicy {
  /**
   * C2S_REQUIRE_TLS: passwords, tokens and session cookies only over HTTPS (directly or through a
   * trusted proxy that says X-Forwarded-Proto: https) or from a loopback address. Default true.
   */
  readonly requireTls?: boolean;
  /** Named in the refusal of a plain-HTTP credential, when known. */
  readonly httpsPort?: number;
  /**
   * Counts invalid bearer tokens per address. Default: a throttle of this scope's own allowing
   * INVALID_TOKENS_PER_MINUTE. Share one between the HTTP and HTTPS apps.
   */
  readonly tokenThrottle?: LoginThrottle;
}

/**
 * Invalid bearer tokens one address may send within a minute before all its tokens get 429 for
 * LoginThrottle's lockout (30 s). Generous next to LOGIN_MAX_FAILURES: tokens are 32+ characters,
 * so this only stops brute force, while scripts retrying a revoked token, or many clients behind
 * one proxy address, must not lock out every valid token from there after a handful of 401s.
 */
export const INVALID_TOKENS_PER_MINUTE = 20;

/** Longer than any token we issue; rejected before it reaches the store. */
const MAX_TOKEN_LENGTH = 512;
// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export const SESSION_COOKIE = 'warden_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function unauthorized(detail: string, invalidToken: boolean): ApiProblem {
  // RFC 6750 §3: no error attribute when the request carried no credentials at all.
  const challenge = invalidToken ? 'Bearer realm="warden", error="invalid_token"' : 'Bearer realm="warden"';
  return new ApiProblem(401, detail, { type: ProblemType.unauthorized, title: 'Unauthorized', headers: { 'WWW-Authenticate': challenge } });
}

export const forbidden = (detail: string) => new ApiProblem(403, detail, { type: ProblemType.forbidden, title: 'Forbidden' });

/** 429 with Retry-After (whole seconds, at least 1). */
export function tooManyAttempts(waitMs: number, what: string): ApiProblem {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ApiProblem(429, `Too many ${what}; try again in ${seconds} s.`, {
    type: ProblemType.tooManyAttempts,
    title: 'Too many attempts',
    headers: { 'Retry-After': String(seconds) },
  });
}

export const HTTPS_REQUIRED = 'urn:warden:problem:https-required';

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

/**
 * Whether a credential may be used on this request: always when requireTls is off; otherwise
 * over HTTPS (request.protocol believes X-Forwarded-Proto only from TRUSTED_PROXIES) or when the
 * client (request.ip, likewise) is on loopback, so it never crossed a network.
 */
export function transportProtectsCredentials(request: Pick<FastifyRequest, 'protocol' | 'ip'>, requireTls: boolean): boolean {
  return !requireTls || request.protocol === 'https' || isLoopback(request.ip);
}

/** Throws 403 https-required when a credential arrived over plain HTTP from the network. */
export function requireProtectedTransport(request: FastifyRequest, policy: CredentialPolicy): void {
  if (transportProtectsCredentials(request, policy.requireTls ?? true)) return;
  const where = policy.httpsPort === undefined ? 'the HTTPS port' : `HTTPS (port ${policy.httpsPort})`;
  throw new ApiProblem(403, `Passwords, tokens and session cookies are refused over plain HTTP from another host; use ${where}.`, {
    type: HTTPS_REQUIRED,
    title: 'HTTPS required',
  });
}

/** The session cookie of a request, when it has one of a plausible length. */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
  return cookie === undefined || cookie.length === 0 || cookie.length > MAX_TOKEN_LENGTH ? undefined : cookie;
}

/** The bearer token of a request; undefined when there is no Authorization header; throws 401 when it is malformed. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header.length === 0) return undefined;
  const match = BEARER.exec(header);
  const token = match?.[1];
  if (token === undefined || token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized('The Authorization header must be "Bearer <token>".', true);
  }
  return token;
}

/** The value of one cookie from a Cookie header (RFC 6265 §5.4), without a cookie library. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether `principal` may call a route with `access`. Pure; the table in docs/api.md. */
export function allowed(access: RouteAccess, principal: Principal | undefined): boolean {
  if (access === 'public') return true;
  if (principal === undefined) return false;
  return access === 'any' || access.includes(principal.role);
}

/** Who the request is from: bearer token first, else the session cookie (CSRF-checked). */
async function authenticate(
  request: FastifyRequest,
  auth: Authenticator,
  log: Logger,
  policy: CredentialPolicy,
  tokenThrottle: LoginThrottle,
): Promise<Principal | undefined> {
  const token = bearerToken(request);
  const cookie = token === undefined ? sessionCookieOf(request) : undefined;
  if (token === undefined && cookie === undefined) return undefined;
  requireProtectedTransport(request, policy);
  if (token !== undefined) {
    // While an address is locked out, no token of it is looked up (a right guess included).
    const key = addressThrottleKey(request.ip);
    const wait = tokenThrottle.retryAfter(key);
    if (wait > 0) throw tooManyAttempts(wait, 'invalid tokens from this address');
    const principal = await auth.token(token);
    if (principal === undefined) {
      tokenThrottle.recordFailure(key);
      // The token itself is never logged.
      log.warn('HTTP API: rejected an invalid or expired token', { ip: request.ip });
      throw unauthorized('The token is not valid (unknown, revoked or expired).', true);
    }
    // The access log ties each read to the token used (an admin may mint one for an officer).
    if (principal.tokenId === undefined) throw new Error('the authenticator returned a token principal without its tokenId');
    return principal;
  }
  if (cookie === undefined) return undefined;
  const session = await auth.session(cookie);
  if (session === undefined) return undefined;
  if (!SAFE_METHODS.has(request.method)) {
    const sent = request.headers[CSRF_HEADER];
    if (typeof sent !== 'string' || !sameSecret(sent, session.csrfToken)) {
      throw new ApiProblem(403, `A request made with the console session must send the session's CSRF token in ${CSRF_HEADER}.`, {
        type: ProblemType.csrf,
        title: 'CSRF token missing or wrong',
      });
    }
  }
  return session.principal;
}

/** Adds authentication and the per-route role check to `scope` (an encapsulated plugin context). */
export function requireCredentials(scope: FastifyInstance, auth: Authenticator, log: Logger, policy: CredentialPolicy = {}): void {
  const tokenThrottle = policy.tokenThrottle ?? new LoginThrottle({ maxFailures: INVALID_TOKENS_PER_MINUTE });
  scope.decorateRequest('principal', undefined);
  scope.addHook('onRequest', async (request: FastifyRequest, _reply: FastifyReply) => {
    const access = request.routeOptions.config.roles;
    // Unmatched /api paths reach the 404 handler: answer it only to someone with credentials.
    const effective: RouteAccess = access ?? 'any';
    // A public route does its own checks (login): a stale cookie must not make it fail on CSRF.
    if (effective === 'public') return;
    const principal = await authenticate(request, auth, log, policy, tokenThrottle);
    request.principal = principal;
    if (principal === undefined) {
      throw unauthorized('This endpoint needs credentials: send "Authorization: Bearer <token>" or log in to the console.', false);
    }
    if (!allowed(effective, principal)) {
      throw forbidden(`${principal.actor} (${principal.role}) may not ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}.`);
    }
  });
}
