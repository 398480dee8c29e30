// The HTTP side of Warden: builds (never listens on) a fastify app with the admin API and the
// health check. The composition root adds the XMPP-over-WebSocket route to the returned instance
// and calls listen(); nothing here imports a transport or SQL — everything arrives in ApiDeps.
//
//   /healthz, /readyz   public (routes/health.ts)
//   /metrics            public, when the composition root hands in a metrics endpoint
//   /docs, /docs/json   public: OpenAPI generated from every route's schema (openapi.ts)
//   /api/...            one encapsulated scope; its first hook authenticates (token or console
//                       session) and checks the route's config.roles (auth.ts)
//     /api/v1/users     routes/users.ts
//     /api/v1/sessions  routes/sessions.ts
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { requireCredentials, type CredentialPolicy } from './auth.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { ApiDeps } from './deps.types.ts';
import { ApiProblem, badRequest, clientErrorHandler, notFound, sendProblem, toProblem } from './errors.ts';
import { allowedMethods, methodNotAllowed } from './method-not-allowed.ts';
import { apiAjvOptions, findUnstorableText } from './input-validation.ts';
import { API_BODY_LIMIT } from './body-limit.ts';
import { healthRoutes, type ReadinessProbe } from './routes/health.ts';
import { consoleRoutes } from './routes/console.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { registerOpenApi } from './openapi.ts';
import type { HttpMetrics } from '../metrics/http-metrics.ts';
import type { MetricsEndpoint } from '../metrics/registry.ts';
import { sessionsRoutes } from './routes/sessions.ts';
import { usersRoutes } from './routes/users.ts';

/** Largest request body an admin API route reads unless it declares its own (body-limit.ts). */
export { API_BODY_LIMIT } from './body-limit.ts';

/** An admin API resource: a fastify plugin mounted under /api at `prefix` (e.g. '/v1/rules'). */
export interface ApiResource {
  readonly prefix: string;
  readonly plugin: FastifyPluginAsync;
}

export interface ApiAppOptions {
  /** More admin resources, registered behind the admin-token check. */
  readonly resources?: readonly ApiResource[];
  /** fastify's own request logging (pino, JSON to stdout). Off by default. */
  readonly logger?: boolean;
  /** Warden's logger for what the API does (users created, tokens refused) and for 500s' causes. */
  readonly log?: Logger;
  /** Reverse proxies whose X-Forwarded-For/-Proto are believed (request.ip, request.protocol). */
  readonly trustProxy?: string[] | boolean;
  /** Where credentials may travel and the invalid-token throttle (share one between the HTTP and HTTPS apps). */
  readonly credentials?: CredentialPolicy;
  /** Serve HTTPS with this PEM certificate (chain) and key instead of plain HTTP. */
  readonly https?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** /readyz, /metrics and the HTTP request counter; without them /readyz has no checks and /metrics is absent. */
  readonly operations?: {
    readonly readiness?: ReadinessProbe;
    readonly metrics?: MetricsEndpoint;
    readonly http?: HttpMetrics;
  };
}

export async function buildApiApp(deps: ApiDeps, opts: ApiAppOptions = {}): Promise<FastifyInstance> {
  const log = (opts.log ?? silentLogger).child({ component: 'http' });
  const options = {
    logger: opts.logger ?? false,
    trustProxy: opts.trustProxy ?? false,
    // A full JID in DELETE /api/v1/sessions/:jid is up to 3×1023 octets, percent-encoded (find-my-way's default is 100).
    routerOptions: { maxParamLength: 10_000 },
    // Errors raised before routing (bad percent-encoding) and below HTTP (malformed requests)
    // would otherwise get fastify's own JSON shape.
    frameworkErrors: (err, request, reply) => {
      sendProblem(reply, toProblem(err, request.id).problem);
    },
    clientErrorHandler,
    ajv: apiAjvOptions,
  } satisfies FastifyServerOptions;
  // fastify types an HTTPS instance by its https.Server; requests and replies are the same
  // IncomingMessage/ServerResponse, so callers get one FastifyInstance type either way.
  const app: FastifyInstance =
    opts.https === undefined ? Fastify(options) : (Fastify({ ...options, https: { cert: opts.https.cert, key: opts.https.key } }) as unknown as FastifyInstance);

  // The one place a thrown error becomes a response: schema validation, body parsing, ApiProblem
  // from handlers, and bugs (logged, answered with a generic 500 — never a stack trace).
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // The route's bodyLimit, so a 413 names the limit that applied.
    const { problem, internal } = toProblem(err, request.id, { bodyLimit: request.routeOptions.bodyLimit });
    if (internal) {
      request.log.error({ err }, 'HTTP request failed');
      log.error('HTTP request failed', { requestId: request.id, method: request.method, route: request.routeOptions.url, error: err.stack ?? err.message });
    }
    return sendProblem(reply, problem);
  });
  // A known path asked with another method is a 405 naming the methods it takes (method-not-allowed.ts).
  const missing = (request: FastifyRequest, where: string): ApiProblem => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = allowedMethods(app, path).filter((method) => method !== request.method);
    return allowed.length > 0 ? methodNotAllowed(request.method, path, allowed) : notFound(`There is no ${request.method} ${path} ${where}.`);
  };
  app.setNotFoundHandler((request, reply) => sendProblem(reply, missing(request, 'here')));

  // After parsing, before each route's schema: text PostgreSQL could not store is a 400 naming
  // the field, not a 500 from the database (input-validation.ts).
  app.addHook('preValidation', async (request) => {
    const where =
      findUnstorableText(request.query, 'querystring') ?? findUnstorableText(request.params, 'params') ?? findUnstorableText(request.body, 'body');
    if (where !== undefined) throw badRequest(`${where}: contains U+0000 or an unpaired surrogate, which is not text that can be stored.`);
  });
  // Every answer: no MIME sniffing; over HTTPS, browsers keep to HTTPS (RFC 6797).
  const hsts = opts.https !== undefined;
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    if (hsts) reply.header('strict-transport-security', 'max-age=31536000');
  });

  // Before any route: the OpenAPI generator collects routes as they are added.
  await registerOpenApi(app);
  const httpMetrics = opts.operations?.http;
  if (httpMetrics !== undefined) {
    app.addHook('onResponse', async (request, reply) => httpMetrics.record(request.method, request.routeOptions.url, reply.statusCode));
  }

  // Not awaited: plugins load in order when the composition root calls listen() (or ready()).
  void app.register(healthRoutes, { readiness: opts.operations?.readiness, log });
  // The web console's static files at /console/ (public: its data comes from /api with the visitor's session).
  void app.register(consoleRoutes, {});
  if (opts.operations?.metrics !== undefined) void app.register(metricsRoutes, { endpoint: opts.operations.metrics });

  void app.register(
    async (api) => {
      // First, before any route: every route of this scope (and its 404 handler) runs it.
      requireCredentials(api, deps.auth, log, opts.credentials);
      // Answers may hold message bodies or secrets (a new token): no cache may keep them.
      api.addHook('onSend', async (_request, reply) => {
        reply.header('cache-control', 'no-store');
      });
      // The API speaks JSON only; a text/plain body is a 415, not a confusing "body must be object".
      api.removeContentTypeParser('text/plain');
      api.addHook('onRoute', (route) => {
        // A route that takes more (groups, audit scan) says so with its own bodyLimit.
        route.bodyLimit ??= API_BODY_LIMIT;
        // A route that does not say who may call it is a bug found at startup, not an open door.
        const roles = (route.config as { roles?: unknown } | undefined)?.roles;
        if (roles === undefined) throw new Error(`API route ${route.method} ${route.url} declares no config.roles`);
      });
      // Unknown /api paths answer 404 only to a caller holding a token; others get 401.
      api.setNotFoundHandler((request, reply) => sendProblem(reply, missing(request, 'in the admin API')));
      await api.register(usersRoutes, { prefix: '/v1/users', deps, log });
      await api.register(sessionsRoutes, { prefix: '/v1/sessions', deps, log });
      // Further resources (rules, incidents, messages, archive…) arrive from the composition
      // root as plugins and are registered inside this scope, behind the same token check.
      for (const resource of opts.resources ?? []) await api.register(resource.plugin, { prefix: resource.prefix });
    },
    { prefix: '/api' },
  );

  return app;
}
