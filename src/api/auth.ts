// Admin authentication: one onRequest hook, added to the encapsulated /api scope before any route
// is registered there, so every /api route — and the /api 404 handler — runs it; no route can opt
// out. RFC 6750: `Authorization: Bearer <token>`; failures answer 401 with WWW-Authenticate.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../log.ts';
import type { AdminTokenVerifier } from './deps.types.ts';
import { ApiProblem, ProblemType } from './errors.ts';

/** Longer than any token we issue; rejected before it reaches the store. */
const MAX_TOKEN_LENGTH = 512;
// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

function unauthorized(detail: string, invalidToken: boolean): ApiProblem {
  // RFC 6750 §3: no error attribute when the request carried no credentials at all.
  const challenge = invalidToken ? 'Bearer realm="warden", error="invalid_token"' : 'Bearer realm="warden"';
  return new ApiProblem(401, detail, { type: ProblemType.unauthorized, title: 'Unauthorized', headers: { 'WWW-Authenticate': challenge } });
}

/** Returns the bearer token of a request, or throws the 401 problem. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined || header.length === 0) {
    throw unauthorized('This endpoint needs an admin token: send "Authorization: Bearer <token>".', false);
  }
  const match = BEARER.exec(header);
  const token = match?.[1];
  if (token === undefined || token.length > MAX_TOKEN_LENGTH) {
    throw unauthorized('The Authorization header must be "Bearer <token>".', true);
  }
  return token;
}

/** Adds the admin-token check to `scope` (an encapsulated plugin context). */
export function requireAdminToken(scope: FastifyInstance, verifier: AdminTokenVerifier, log: Logger): void {
  scope.addHook('onRequest', async (request) => {
    const token = bearerToken(request);
    if (!(await verifier.verify(token))) {
      // The token itself is never logged.
      log.warn('admin API: rejected an invalid token', { ip: request.ip });
      throw unauthorized('The admin token is not valid.', true);
    }
  });
}
