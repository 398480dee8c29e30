// The operations endpoints (/healthz, /readyz, /metrics) and the API description (/docs) through
// the real app: no credentials needed for any of them, readiness failures named, the OpenAPI
// document covering every route with its roles.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import { routesOf } from '../../test/support/routes.ts';
import type { Logger } from '../log.ts';
import { HttpMetrics } from '../metrics/http-metrics.ts';
import { createMetricsEndpoint } from '../metrics/registry.ts';
import { WardenMetrics } from '../metrics/warden-metrics.ts';
import { buildApiApp } from './app.ts';
import { DOCS_CSP, documentRoute, isDocumented, rolesLine, tagOf } from './openapi.ts';
import type { RouteAccess } from './principal.ts';
import { readinessProbe, readinessReport, type Readiness, type ReadinessChecks } from './routes/health.ts';

const OFFICER = 'officer-token-0123456789';
const ADMIN = 'admin-token-0123456789';

const deps = fakeApiDeps('localhost', { [OFFICER]: 'officer', [ADMIN]: 'admin' });

/** A resource with one route per kind of access. */
const things: FastifyPluginAsync = async (app) => {
  const ok = { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } };
  app.get('/', { config: { roles: ['officer'] }, schema: { description: 'Lists things.', response: ok } }, async () => ({ ok: true }));
  app.post('/', { config: { roles: ['admin', 'officer'] }, schema: { response: ok } }, async () => ({ ok: true }));
  app.get('/:id', { config: { roles: 'any' }, schema: { params: { type: 'object', properties: { id: { type: 'string' } } }, response: ok } }, async () => ({
    ok: true,
  }));
  app.post('/open', { config: { roles: 'public' }, schema: { response: ok } }, async () => ({ ok: true }));
};

let readiness: Readiness = readinessReport({ database: 'ok', listeners: 'ok' });
const metrics = new WardenMetrics();
const http = new HttpMetrics();
let app: FastifyInstance;

beforeAll(async () => {
  app = await buildApiApp(deps, {
    resources: [{ prefix: '/v1/things', plugin: things }],
    operations: {
      readiness: async () => readiness,
      metrics: createMetricsEndpoint({
        metrics,
        http,
        connections: () => ({ tcp: 1, tls: 0, websocket: 2 }),
        boundSessions: () => 3,
        archiveQueueDepth: () => 0,
        archiveHealthy: () => true,
      }),
      http,
    },
  });
  // A route outside /api that is not part of the API (like the console's files).
  app.get('/elsewhere', async () => 'elsewhere');
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

describe('GET /healthz and /readyz', () => {
  it('answers /healthz without credentials', async () => {
    const res = await app.inject('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('answers 200 with each check when ready, uncached', async () => {
    readiness = readinessReport({ database: 'ok', listeners: 'ok' });
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok', listeners: 'ok' } });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers 503 naming the failing check', async () => {
    readiness = readinessReport({ database: 'no answer to SELECT 1 within 2000 ms', listeners: 'ok' });
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      status: 'not-ready',
      checks: { database: 'no answer to SELECT 1 within 2000 ms', listeners: 'ok' },
      detail: 'database: no answer to SELECT 1 within 2000 ms',
    });
  });

  it('never sends the cause of a failure, which goes to the operator log once per change', async () => {
    const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> | undefined }> = [];
    const recorder = (level: string): Logger['warn'] => (msg, fields) => lines.push({ level, msg, fields });
    const log: Logger = { debug: recorder('debug'), info: recorder('info'), warn: recorder('warn'), error: recorder('error'), child: () => log };
    let database: () => Promise<unknown> = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432'), { code: 'ECONNREFUSED' }));
    const probe = readinessProbe({ database: () => database(), listenersDown: () => [], stopping: () => false }, 50);
    const logged = await buildApiApp(deps, { log, operations: { readiness: probe } });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await logged.inject('/readyz');
        expect(res.statusCode).toBe(503);
        expect(res.json()).toEqual({ status: 'not-ready', checks: { database: 'query failed (ECONNREFUSED)', listeners: 'ok' }, detail: 'database: query failed (ECONNREFUSED)' });
        expect(res.body).not.toContain('10.1.2.3');
      }
      expect(lines).toEqual([
        { level: 'warn', msg: 'readiness: not ready', fields: { checks: { database: 'query failed (ECONNREFUSED)', listeners: 'ok' }, causes: { database: 'query failed: connect ECONNREFUSED 10.1.2.3:5432' } } },
      ]);
      database = async () => [];
      expect((await logged.inject('/readyz')).statusCode).toBe(200);
      expect((await logged.inject('/readyz')).statusCode).toBe(200);
      expect(lines.map((l) => l.msg)).toEqual(['readiness: not ready', 'readiness: ready again']);
    } finally {
      await logged.close();
    }
  });

  it('answers /readyz with no checks when the app was built without a probe', async () => {
    const bare = await buildApiApp(deps);
    try {
      const res = await bare.inject('/readyz');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ready', checks: {} });
      expect((await bare.inject('/metrics')).statusCode).toBe(404);
    } finally {
      await bare.close();
    }
  });
});

describe('readinessProbe', () => {
  const checks = (over: Partial<ReadinessChecks>): ReadinessChecks => ({
    database: async () => [{ '?column?': 1 }],
    listenersDown: () => [],
    stopping: () => false,
    ...over,
  });

  it.each<[string, Partial<ReadinessChecks>, Readiness]>([
    ['everything up', {}, { status: 'ready', checks: { database: 'ok', listeners: 'ok' } }],
    [
      'the query failing (its message only for the log)',
      { database: () => Promise.reject(new Error('connection refused')) },
      {
        status: 'not-ready',
        checks: { database: 'query failed', listeners: 'ok' },
        detail: 'database: query failed',
        causes: { database: 'query failed: connection refused' },
      },
    ],
    [
      'the query failing with a code (the code is shown, the host is not)',
      { database: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432'), { code: 'ECONNREFUSED' })) },
      {
        status: 'not-ready',
        checks: { database: 'query failed (ECONNREFUSED)', listeners: 'ok' },
        detail: 'database: query failed (ECONNREFUSED)',
        causes: { database: 'query failed: connect ECONNREFUSED 10.1.2.3:5432' },
      },
    ],
    [
      'the server refusing the role (SQLSTATE, not the role name)',
      { database: () => Promise.reject(Object.assign(new Error('password authentication failed for user "warden"'), { code: '28P01' })) },
      {
        status: 'not-ready',
        checks: { database: 'query failed (28P01)', listeners: 'ok' },
        detail: 'database: query failed (28P01)',
        causes: { database: 'query failed: 28P01: password authentication failed for user "warden"' },
      },
    ],
    [
      'a code that is not a plain code',
      { database: () => Promise.reject(Object.assign(new Error('odd'), { code: 'at db.internal:5432' })) },
      {
        status: 'not-ready',
        checks: { database: 'query failed', listeners: 'ok' },
        detail: 'database: query failed',
        causes: { database: 'query failed: at db.internal:5432: odd' },
      },
    ],
    [
      'the query not answering in time',
      { database: () => new Promise(() => {}) },
      {
        status: 'not-ready',
        checks: { database: 'no answer to SELECT 1 within 50 ms', listeners: 'ok' },
        detail: 'database: no answer to SELECT 1 within 50 ms',
      },
    ],
    [
      'two listeners down and the database failing',
      { listenersDown: () => ['c2sTls', 'https'], database: () => Promise.reject(new Error('gone')) },
      {
        status: 'not-ready',
        checks: { database: 'query failed', listeners: 'not listening: c2sTls, https' },
        detail: 'database: query failed; listeners: not listening: c2sTls, https',
        causes: { database: 'query failed: gone' },
      },
    ],
    [
      'shutdown begun (the database is not asked)',
      { stopping: () => true, database: () => Promise.reject(new Error('must not be queried')) },
      { status: 'not-ready', checks: { shutdown: 'the server is shutting down' }, detail: 'shutdown: the server is shutting down' },
    ],
  ])('%s', async (_what, over, expected) => {
    expect(await readinessProbe(checks(over), 50)()).toEqual(expected);
  });

  it('shares one database query between concurrent probes', async () => {
    let queries = 0;
    const probe = readinessProbe(
      checks({
        database: async () => {
          queries++;
          await new Promise((r) => setTimeout(r, 20));
        },
      }),
    );
    const reports = await Promise.all([probe(), probe(), probe()]);
    expect(reports.every((r) => r.status === 'ready')).toBe(true);
    expect(queries).toBe(1);
    await probe();
    expect(queries).toBe(2);
  });
});

describe('GET /metrics', () => {
  it('answers Prometheus text without credentials, counting HTTP requests by route pattern', async () => {
    await app.inject({ url: '/api/v1/things/abc', headers: { authorization: `Bearer ${OFFICER}` } });
    await app.inject({ url: '/api/v1/things/abc' });
    const res = await app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const lines = res.body.split('\n');
    expect(lines).toContain('warden_connections_open{transport="websocket"} 2');
    expect(lines).toContain('warden_http_requests_total{method="GET",route="/api/v1/things/:id",status="200"} 1');
    expect(lines).toContain('warden_http_requests_total{method="GET",route="/api/v1/things/:id",status="401"} 1');
    expect(res.body).toMatch(/^process_cpu_seconds_total /m);
  });

  it('is not behind the /api credentials even when every token is refused', async () => {
    const res = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer not-a-token' } });
    expect(res.statusCode).toBe(200);
  });
});

describe('the OpenAPI description', () => {
  let doc: {
    openapi: string;
    paths: Record<string, Record<string, { description?: string; tags?: string[]; security?: unknown[]; responses: Record<string, unknown> }>>;
    components: { securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }> };
  };
  beforeAll(async () => {
    const res = await app.inject('/docs/json');
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });

  it('serves the Swagger UI page and its assets from the package, with a CSP of its own', async () => {
    const page = await app.inject('/docs');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(page.body).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    const bundle = await app.inject('/docs/static/swagger-ui-bundle.js');
    expect(bundle.statusCode).toBe(200);
    expect(bundle.body.length).toBeGreaterThan(100_000);
  });

  it('declares bearer and cookie security schemes', () => {
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.cookie).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'warden_session' });
  });

  it('documents every /api route and the operations routes, and nothing else', () => {
    // A resource root is served as /x and /x/: one operation.
    const served = [...new Set(routesOf(app).filter((r) => isDocumented(r.url)).map((r) => `${r.method} ${r.url.replace(/(.)\/$/, '$1')}`))].sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .sort();
    expect(served).toContain('GET /api/v1/things/:id');
    expect(served).toContain('DELETE /api/v1/users/:username');
    expect(documented).toEqual(served);
    expect(routesOf(app).some((r) => r.url === '/elsewhere')).toBe(true);
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/console') || p.startsWith('/docs') || p === '/elsewhere')).toBe(false);
  });

  it.each<[string, string, string, boolean]>([
    ['/api/v1/things', 'get', 'Lists things.\n\nRoles: officer.', true],
    ['/api/v1/things', 'post', 'Roles: admin, officer.', true],
    ['/api/v1/things/{id}', 'get', 'Roles: any (every authenticated account).', true],
    ['/api/v1/things/open', 'post', 'Roles: none (no credentials needed).', false],
    ['/metrics', 'get', 'Roles: none (no credentials needed).', false],
  ])('%s %s says who may call it', (path, method, description, secured) => {
    const op = doc.paths[path]?.[method];
    expect(op?.description?.endsWith(description), `${op?.description}`).toBe(true);
    expect(op?.security).toEqual(secured ? [{ bearer: [] }, { cookie: [] }] : []);
    expect(Object.keys(op?.responses ?? {})).toEqual(secured ? expect.arrayContaining(['200', '401', '403']) : ['200']);
  });

  it('tags operations by resource', () => {
    expect(doc.paths['/api/v1/things/{id}']?.get?.tags).toEqual(['things']);
    expect(doc.paths['/api/v1/users']?.get?.tags).toEqual(['users']);
    expect(doc.paths['/readyz']?.get?.tags).toEqual(['operations']);
  });
});

describe('documentRoute', () => {
  it.each<[RouteAccess | undefined, string]>([
    [['officer'], 'Roles: officer.'],
    [['admin', 'auditor'], 'Roles: admin, auditor.'],
    ['any', 'Roles: any (every authenticated account).'],
    ['public', 'Roles: none (no credentials needed).'],
    [undefined, 'Roles: none (no credentials needed).'],
  ])('rolesLine(%j) = %j', (access, line) => expect(rolesLine(access)).toBe(line));

  it.each([
    ['/api/v1/incidents/:id/release', 'incidents'],
    ['/api/v1/audit/scan', 'audit'],
    ['/api/v1/access-log', 'access-log'],
    ['/metrics', 'operations'],
  ])('tagOf(%s) = %s', (url, tag) => expect(tagOf(url)).toBe(tag));

  it.each(['/console/', '/console/app.js', '/xmpp-websocket', '/docs/json', '/'])('hides %s', (url) => {
    expect(documentRoute(url, undefined, undefined).schema.hide).toBe(true);
  });

  it('keeps the route\'s own tags and responses, adding 401/403 only where credentials are needed', () => {
    const out = documentRoute('/api/v1/x', { tags: ['mine'], response: { 200: { type: 'string' }, 403: { type: 'object' } } }, ['admin']);
    expect(out.schema.tags).toEqual(['mine']);
    const response = out.schema.response as Record<string, { description?: string }>;
    expect(Object.keys(response).sort()).toEqual(['200', '401', '403']);
    expect(response[403]).toEqual({ type: 'object' });
  });
});

describe('problem responses in the document', () => {
  it('are application/problem+json, as sendProblem answers them', async () => {
    const doc = (await app.inject('/docs/json')).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>;
    };
    const post = doc.paths['/api/v1/users']?.post;
    expect(Object.keys(post?.responses['400']?.content ?? {})).toEqual(['application/problem+json']);
    expect(Object.keys(post?.responses['401']?.content ?? {})).toEqual(['application/problem+json']);
    expect(Object.keys(post?.responses['201']?.content ?? {})).toEqual(['application/json']);
  });
});
