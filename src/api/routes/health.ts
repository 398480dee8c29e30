// Operations endpoints outside /api, so no credentials: load balancers and orchestrators call them.
//   GET /healthz  liveness: the process answers HTTP (restart it when this fails)
//   GET /readyz   readiness: the database answers and every listener is up, and the server is
//                 not shutting down (take it out of rotation when this fails; do not restart it)
// Anyone who reaches the port may call these, so a failure is named by a fixed phrase and at most
// an error code; the driver's message (host and port, role name, database name) goes only to
// the operator log.
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../log.ts';

/** The value of each check: 'ok', or why it failed. */
export type CheckResult = 'ok' | (string & Record<never, never>);

export interface Readiness {
  readonly status: 'ready' | 'not-ready';
  readonly checks: Readonly<Record<string, CheckResult>>;
  /** When not ready: the failing checks, one line. */
  readonly detail?: string;
  /** Why a check failed in full (the database error's message), for the operator log; never sent. */
  readonly causes?: Readonly<Record<string, string>>;
}

export type ReadinessProbe = () => Promise<Readiness>;

/** What readiness is made of; the composition root supplies each from the real parts. */
export interface ReadinessChecks {
  /** Resolves when the database answered a trivial query (SELECT 1); rejects otherwise. */
  database(): Promise<unknown>;
  /** Names of the listeners that are not listening (empty when all are). */
  listenersDown(): readonly string[];
  /** True once shutdown has begun: a load balancer should stop sending work here. */
  stopping(): boolean;
}

export const READINESS_TIMEOUT_MS = 2000;

/** Pure: a report from each check's result ('ok' or the reason it failed), and the full causes for the log. */
export function readinessReport(checks: Readonly<Record<string, CheckResult>>, causes?: Readonly<Record<string, string>>): Readiness {
  const failing = Object.entries(checks).filter(([, result]) => result !== 'ok');
  if (failing.length === 0) return { status: 'ready', checks };
  const detail = failing.map(([name, result]) => `${name}: ${result}`).join('; ');
  return causes === undefined || Object.keys(causes).length === 0 ? { status: 'not-ready', checks, detail } : { status: 'not-ready', checks, detail, causes };
}

// postgres.js codes (CONNECTION_CLOSED), Node's (ECONNREFUSED) and SQLSTATEs (57P03): a code says
// what kind of failure it was without naming hosts, roles or databases.
const SAFE_CODE = /^[A-Z0-9_]{1,40}$/;

/** Pure: what the public answer says of a failed database query: a fixed phrase and its error code, if it has one. */
export function publicQueryFailure(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && SAFE_CODE.test(code) ? `query failed (${code})` : 'query failed';
}

/** The error in full, for the operator log. */
function fullReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/**
 * A probe running the checks; concurrent callers (several load balancers) share one database
 * query. While stopping, the database is not queried (it may be closing) and the answer is
 * not-ready at once.
 */
export function readinessProbe(checks: ReadinessChecks, timeoutMs = READINESS_TIMEOUT_MS): ReadinessProbe {
  let inFlight: Promise<Readiness> | undefined;
  const run = async (): Promise<Readiness> => {
    if (checks.stopping()) return readinessReport({ shutdown: 'the server is shutting down' });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ database: string }>((resolve) => {
      timer = setTimeout(() => resolve({ database: `no answer to SELECT 1 within ${timeoutMs} ms` }), timeoutMs);
    });
    const outcome = await Promise.race([
      checks.database().then(
        () => ({ database: 'ok' }),
        (err: unknown) => ({ database: publicQueryFailure(err), cause: `query failed: ${fullReason(err)}` }),
      ),
      timeout,
    ]);
    clearTimeout(timer);
    const down = checks.listenersDown();
    const listeners = down.length === 0 ? 'ok' : `not listening: ${down.join(', ')}`;
    // Shutdown may have begun while the query ran.
    if (checks.stopping()) return readinessReport({ shutdown: 'the server is shutting down' });
    return readinessReport({ database: outcome.database, listeners }, 'cause' in outcome ? { database: outcome.cause } : undefined);
  };
  return () => (inFlight ??= run().finally(() => (inFlight = undefined)));
}

const readinessSchema = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not-ready'] },
    checks: {
      type: 'object',
      description: "Each check ('database', 'listeners'; only 'shutdown' while stopping): 'ok' or why it failed.",
      additionalProperties: { type: 'string' },
    },
    detail: { type: 'string', description: 'When not ready: the failing checks, one line.' },
  },
} as const;

export interface HealthRoutesOptions {
  /** Without it (unit tests of other parts), /readyz answers ready with no checks. */
  readonly readiness?: ReadinessProbe;
  /** Where a readiness failure is logged with its full cause: once when it starts or changes, once when it ends. */
  readonly log?: Logger;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, opts) => {
  const readiness = opts.readiness ?? (async () => readinessReport({}));
  // Probes come every few seconds: log a change of state, not every answer.
  let lastLogged: string | undefined;
  const logChange = (report: Readiness) => {
    const full = report.status === 'ready' ? undefined : JSON.stringify({ ...report.checks, ...report.causes });
    if (full === lastLogged) return;
    if (full === undefined) opts.log?.info('readiness: ready again');
    else opts.log?.warn('readiness: not ready', { checks: report.checks, ...(report.causes && { causes: report.causes }) });
    lastLogged = full;
  };

  app.get(
    '/healthz',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process is up',
        response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: database reachable, listeners up, not shutting down',
        description:
          `503 names the failing check. The database check is SELECT 1 with a ${READINESS_TIMEOUT_MS} ms limit; ` +
          'a failed query is reported as "query failed" with its error code only (the full error is in the server log).',
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const report = await readiness();
      logChange(report);
      // Probes must see the state now, never a cached answer.
      reply.header('cache-control', 'no-store');
      const { causes: _forTheLogOnly, ...answer } = report;
      return reply.code(report.status === 'ready' ? 200 : 503).send(answer);
    },
  );
};
