// RFC 9110 §15.5.6: a path the server knows, asked with a method it does not serve there, is a
// 405 with an Allow header listing the methods it does serve — not a 404, which would tell the
// client the resource is not there at all. Used by app.ts's not-found handlers; under /api the
// credentials check runs first, so only an authenticated caller learns which paths exist.
import type { FastifyInstance } from 'fastify';
import { ApiProblem } from './errors.ts';

/** The methods this server routes; OPTIONS and TRACE are not served anywhere. */
const ROUTED_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The methods served at `path` (no query string), in ROUTED_METHODS order; empty for an unknown path. */
export function allowedMethods(app: FastifyInstance, path: string): string[] {
  return ROUTED_METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
}

/** The 405 problem for `method` on `path`, which serves `allowed`. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): ApiProblem {
  return new ApiProblem(405, `${path} does not take ${method}; it takes ${allowed.join(', ')}.`, { headers: { allow: allowed.join(', ') } });
}
