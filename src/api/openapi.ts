// The OpenAPI description of the HTTP API, generated from the routes' own JSON schemas by
// @fastify/swagger, and the Swagger UI page from @fastify/swagger-ui's package files (no CDN):
//   GET /docs       the UI (its own CSP: only its own scripts and styles)
//   GET /docs/json  the OpenAPI 3 document
// Registered before any route: @fastify/swagger collects routes with an onRoute hook, so a
// route added before it would silently be missing from the document.
//
// documentRoute() adds what the schemas do not say: who may call each route (config.roles, in
// the description and as security requirements), the 401/403 answers that the auth hook gives,
// a tag per resource, and hides what is not API (the console's files, the XMPP WebSocket).
import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { SESSION_COOKIE, CSRF_HEADER } from './auth.ts';
import { problemSchema } from './errors.ts';
import type { RouteAccess } from './principal.ts';

export const DOCS_PREFIX = '/docs';
/** Routes outside /api that belong in the document. */
export const OPERATIONS_ROUTES: readonly string[] = ['/healthz', '/readyz', '/metrics'];

export const SECURITY_SCHEMES = {
  bearer: { type: 'http', scheme: 'bearer', description: 'An API token (POST /api/v1/tokens), or ADMIN_TOKEN.' },
  cookie: {
    type: 'apiKey',
    in: 'cookie',
    name: SESSION_COOKIE,
    description: `The console session from POST /api/v1/auth/login; state-changing requests also send ${CSRF_HEADER}.`,
  },
} as const;

/**
 * The Swagger UI page's own CSP (the console has its own, on /console only). Everything from this
 * origin; no `upgrade-insecure-requests` (the package's default), which would send the page's
 * asset requests to https:// on a plain-HTTP listener; inline styles allowed because Swagger UI
 * sets some from its script (styles cannot run code; scripts stay 'self' only).
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

/** One line for an operation's description: who may call it. */
export function rolesLine(access: RouteAccess | undefined): string {
  if (access === undefined || access === 'public') return 'Roles: none (no credentials needed).';
  if (access === 'any') return 'Roles: any (every authenticated account).';
  return `Roles: ${access.join(', ')}.`;
}

/** The tag of a documented URL: the resource after /api/v1/, or 'operations'. */
export function tagOf(url: string): string {
  const match = /^\/api\/v\d+\/([^/]+)/.exec(url);
  return match?.[1] ?? 'operations';
}

export function isDocumented(url: string): boolean {
  return url.startsWith('/api/') || OPERATIONS_ROUTES.includes(url);
}

type RouteDoc = { readonly schema: FastifySchema; readonly url: string };

const PROBLEM_FIELDS = ['type', 'title', 'status', 'detail'];

function isProblemSchema(schema: unknown): boolean {
  const required = (schema as { required?: unknown } | null)?.required;
  return Array.isArray(required) && PROBLEM_FIELDS.every((f) => required.includes(f));
}

/** A problem response as sent (errors.ts sendProblem): application/problem+json, not application/json. */
function problemResponse(schema: object, description: string): object {
  return { description, content: { 'application/problem+json': { schema } } };
}

/**
 * The transform of each route for the document (the route itself is not changed). A resource's
 * root ('/' under its prefix) is served with and without the trailing slash; the document names
 * it without, as docs/api.md does.
 */
export function documentRoute(rawUrl: string, schema: FastifySchema | undefined, access: RouteAccess | undefined): RouteDoc {
  const base: FastifySchema = schema ?? {};
  const url = rawUrl.length > 1 && rawUrl.endsWith('/') ? rawUrl.slice(0, -1) : rawUrl;
  if (!isDocumented(url)) return { url, schema: { ...base, hide: true } };
  const open = access === undefined || access === 'public';
  const description = base.description === undefined ? rolesLine(access) : `${base.description}\n\n${rolesLine(access)}`;
  const response = { ...(typeof base.response === 'object' && base.response !== null ? (base.response as Record<string, unknown>) : {}) };
  for (const [status, body] of Object.entries(response)) {
    if (Number(status) >= 400 && isProblemSchema(body)) response[status] = problemResponse(body as object, 'Problem details (RFC 9457).');
  }
  if (!open) {
    // What the auth hook (auth.ts) answers before the handler runs.
    response[401] ??= problemResponse(problemSchema, 'No credentials, or an invalid or expired token.');
    response[403] ??= problemResponse(problemSchema, "The caller's role may not call this route (or a state change with the console session lacks its CSRF token).");
  }
  return {
    url,
    schema: {
      ...base,
      tags: base.tags ?? [tagOf(url)],
      description,
      security: open ? [] : [{ bearer: [] }, { cookie: [] }],
      ...(Object.keys(response).length === 0 ? {} : { response }),
    },
  };
}

const transform: SwaggerTransform = ({ schema, url, route }) =>
  documentRoute(url, schema as FastifySchema | undefined, (route.config as { roles?: RouteAccess } | undefined)?.roles);

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Warden HTTP API',
        version: 'v1',
        description:
          'Admin, compliance and audit API of Warden. Errors are application/problem+json (RFC 9457); lists are pages ' +
          '`{items, next}` (pass `next` as `cursor`). Each operation names the roles that may call it. docs/api.md is the prose contract.',
      },
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    transform,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: DOCS_CSP,
    // No online validator badge: the page makes no request beyond this server.
    uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null },
  });
}
