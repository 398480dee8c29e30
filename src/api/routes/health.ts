// Operations endpoints outside /api, so no credentials: load balancers and orchestrators call them.
//   GET /healthz  liveness: the process answers HTTP (restart it when this fails)
//   GET /readyz   readiness: the database answers and every listener is up, and the server is
//                 not shutting down (take it out of rotation when this fails; do not restart it)
import type { FastifyPluginAsync } from 'fastify';

/** The value of each check: 'ok', or why it failed. */
export type CheckResult = 'ok' | (string & Record<never, never>);

export interface Readiness {
  readonly status: 'ready' | 'not-ready';
  readonly checks: Readonly<Record<string, CheckResult>>;
  /** When not ready: the failing checks, one line. */
  readonly detail?: string;
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

/** Pure: a report from each check's result ('ok' or the reason it failed). */
export function readinessReport(checks: Readonly<Record<string, CheckResult>>): Readiness {
  const failing = Object.entries(checks).filter(([, result]) => result !== 'ok');
  if (failing.length === 0) return { status: 'ready', checks };
  return { status: 'not-ready', checks, detail: failing.map(([name, result]) => `${name}: ${result}`).join('; ') };
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer to SELECT 1 within ${timeoutMs} ms`), timeoutMs);
    });
    const database = await Promise.race([
      checks.database().then(
        () => 'ok' as const,
        (err: unknown) => `query failed: ${reason(err)}`,
      ),
      timeout,
    ]);
    clearTimeout(timer);
    const down = checks.listenersDown();
    const listeners = down.length === 0 ? 'ok' : `not listening: ${down.join(', ')}`;
    // Shutdown may have begun while the query ran.
    if (checks.stopping()) return readinessReport({ shutdown: 'the server is shutting down' });
    return readinessReport({ database, listeners });
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
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, opts) => {
  const readiness = opts.readiness ?? (async () => readinessReport({}));

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
        description: `503 names the failing check. The database check is SELECT 1 with a ${READINESS_TIMEOUT_MS} ms limit.`,
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const report = await readiness();
      // Probes must see the state now, never a cached answer.
      reply.header('cache-control', 'no-store');
      return reply.code(report.status === 'ready' ? 200 : 503).send(report);
    },
  );
};
