// Who is making an HTTP request, and what each route lets through. The auth hook (auth.ts) sets
// request.principal before any handler runs; every route declares `config.roles`, and a route
// registered without it fails at startup (app.ts), so no route is open by accident.
import type { FastifyRequest } from 'fastify';

/** admin: users, rules, accounts, config · officer: search, review, export · auditor: access log, archive verify (no bodies). */
export type Role = 'admin' | 'officer' | 'auditor';
export const ROLES: readonly Role[] = ['admin', 'officer', 'auditor'];

export interface Principal {
  /** Console account name, or `bootstrap-token:<id>` for a token with no account (ADMIN_TOKEN). */
  readonly actor: string;
  readonly role: Role;
  /**
   * session: the console's cookie (needs X-CSRF-Token on state changes) · token: a bearer token ·
   * cli: the `warden` command on the server, acting on the database directly (never over HTTP).
   */
  readonly via: 'session' | 'token' | 'cli';
  /** The console account, when there is one (a bootstrap token has none). */
  readonly account: string | undefined;
  /** admin_tokens.id of the bearer token used. */
  readonly tokenId?: string;
}

/** Who may call a route. `any` is any authenticated principal; `public` needs no credentials. */
export type RouteAccess = readonly Role[] | 'any' | 'public';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook; only undefined on public routes. */
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Required on every route under /api (checked when the route is added). */
    roles?: RouteAccess;
  }
}

/** The principal of a request on a non-public route (the auth hook has run). */
export function principalOf(request: FastifyRequest): Principal {
  const p = request.principal;
  if (p === undefined) throw new Error(`no principal on ${request.method} ${request.url}: route is public?`);
  return p;
}
