// Retro-scans: run one rule over archived messages in the background (audit/retro-scan.ts).
//   POST /api/v1/retro-scans            {"ruleId", "since"?, "until"?} → 202 {id, status}
//   GET  /api/v1/retro-scans/:id        progress: total, scanned, hits, times, error
//   POST /api/v1/retro-scans/:id/cancel stops a queued or running job (after its current batch)
// Without `until`, the job ends at the time it starts, so it does not chase live traffic.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import { cancelRetroScan, getRetroScan, queueRetroScan, type RetroScanJob } from '../../audit/retro-scan.ts';
import { badRequest, notFound, problemSchema } from '../errors.ts';

export interface RetroScansRoutesDeps {
  readonly sql: Sql;
  /** Called after a job is queued (RetroScanner.wake), so it starts without waiting for a poll. */
  readonly onQueued?: () => void;
}

const STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
} as const;
const nullableDate = { type: ['string', 'null'], format: 'date-time' } as const;

export const retroScanSchema = {
  type: 'object',
  required: ['id', 'ruleId', 'status', 'since', 'until', 'total', 'scanned', 'hits', 'startedAt', 'finishedAt', 'error'],
  properties: {
    id: { type: 'string' },
    ruleId: { type: 'string' },
    status: { type: 'string', enum: STATUSES },
    since: nullableDate,
    until: nullableDate,
    // Messages with a body in the window; null until counted.
    total: { type: ['integer', 'null'] },
    scanned: { type: 'integer' },
    hits: { type: 'integer' },
    startedAt: nullableDate,
    finishedAt: nullableDate,
    error: { type: ['string', 'null'] },
  },
} as const;

interface CreateBody {
  ruleId: string;
  since?: string;
  until?: string;
}

const noSuchJob = (id: string) => notFound(`There is no retro-scan ${id}.`, 'urn:warden:problem:retro-scan-not-found', 'No such retro-scan');

export function retroScansRoutes(deps: RetroScansRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: CreateBody }>(
      '/',
      {
        config: { roles: ['officer', 'admin'] },
        schema: {
          body: {
            type: 'object',
            required: ['ruleId'],
            additionalProperties: false,
            properties: {
              ruleId: { type: 'string', minLength: 1, maxLength: 200 },
              since: { type: 'string', format: 'date-time' },
              until: { type: 'string', format: 'date-time' },
            },
          },
          response: {
            202: {
              type: 'object',
              required: ['id', 'status'],
              properties: { id: { type: 'string' }, status: { type: 'string', enum: STATUSES } },
            },
            400: problemSchema,
            404: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const { ruleId } = request.body;
        const since = request.body.since === undefined ? undefined : new Date(request.body.since);
        const until = request.body.until === undefined ? undefined : new Date(request.body.until);
        if (since !== undefined && until !== undefined && since >= until) throw badRequest('since must be before until.');
        const job = await queueRetroScan(deps.sql, { ruleId, since, until });
        if (job === undefined) throw notFound(`There is no rule ${JSON.stringify(ruleId)}.`, 'urn:warden:problem:rule-not-found', 'No such rule');
        deps.onQueued?.();
        return reply.code(202).header('location', `${(request.url.split('?')[0] ?? '').replace(/\/$/, '')}/${job.id}`).send({ id: job.id, status: job.status });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/:id',
      { config: { roles: ['officer', 'admin'] }, schema: { params: ID_PARAMS, response: { 200: retroScanSchema, 400: problemSchema, 404: problemSchema } } },
      async (request): Promise<RetroScanJob> => {
        const job = await getRetroScan(deps.sql, request.params.id);
        if (job === undefined) throw noSuchJob(request.params.id);
        return job;
      },
    );

    app.post<{ Params: { id: string } }>(
      '/:id/cancel',
      { config: { roles: ['officer', 'admin'] }, schema: { params: ID_PARAMS, response: { 200: retroScanSchema, 400: problemSchema, 404: problemSchema } } },
      async (request): Promise<RetroScanJob> => {
        const job = await cancelRetroScan(deps.sql, request.params.id);
        if (job === undefined) throw noSuchJob(request.params.id);
        return job;
      },
    );
  };
}
