// Retro-scans: run one rule over archived messages in the background (audit/retro-scan.ts).
//   POST /api/v1/retro-scans            {"ruleId", "since"?, "until"?} → 202 {id, status}
//   GET  /api/v1/retro-scans/:id        progress: total, scanned, hits, times, error
//   POST /api/v1/retro-scans/:id/cancel stops a queued or running job (after its current batch)
// Without `until`, the job ends at the time it starts, so it does not chase live traffic.
//
// Running a rule over the archive is an officer reading it by proxy: starting a job
// (retro-scan.start) and cancelling one (retro-scan.cancel) are in the access log, each written
// in the transaction that queues or cancels the job — no job without its entry, and 503 when
// the entry cannot be written. The incidents it opens are read through the logged incident routes.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Sql } from 'postgres';
import { createAccessLogStore } from '../../audit/access-log.ts';
import type { AccessEntry, TransactionalAccessLog } from '../../audit/access-log.types.ts';
import { cancelRetroScan, getRetroScan, queueRetroScan, type RetroScanJob } from '../../audit/retro-scan.ts';
import type { Logger } from '../../log.ts';
import { recordInOrRefuse } from '../access-log-unavailable.ts';
import { notFound, problemSchema } from '../errors.ts';
import { bigintIdSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { parseTimeRange, timeRangeProperties } from '../search-filters.ts';

export interface RetroScansRoutesDeps {
  readonly sql: Sql;
  /** Called after a job is queued (RetroScanner.wake), so it starts without waiting for a poll. */
  readonly onQueued?: () => void;
  /** Where starting and cancelling a job are recorded; defaults to the access log over `sql`. */
  readonly accessLog?: TransactionalAccessLog;
  readonly log?: Logger;
}

const STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: bigintIdSchema },
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
  const accessLog = deps.accessLog ?? createAccessLogStore(deps.sql);
  const entry = (request: FastifyRequest, action: AccessEntry['action'], query: Record<string, unknown>, detail: Record<string, unknown>): AccessEntry => ({
    principal: principalOf(request),
    ip: request.ip,
    action,
    query,
    detail,
  });

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
              ...timeRangeProperties,
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
            503: problemSchema,
          },
        },
      },
      async (request, reply) => {
        const { ruleId } = request.body;
        const { since, until } = parseTimeRange(request.body);
        const job = await queueRetroScan(deps.sql, { ruleId, since, until }, (tx, queued) =>
          recordInOrRefuse(accessLog, tx, entry(request, 'retro-scan.start', { ...request.body }, { job: queued.id }), deps.log),
        );
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
      { config: { roles: ['officer', 'admin'] }, schema: { params: ID_PARAMS, response: { 200: retroScanSchema, 400: problemSchema, 404: problemSchema, 503: problemSchema } } },
      async (request): Promise<RetroScanJob> => {
        const { id } = request.params;
        const job = await cancelRetroScan(deps.sql, id, (tx, cancelled) =>
          recordInOrRefuse(accessLog, tx, entry(request, 'retro-scan.cancel', { job: id }, { ruleId: cancelled.ruleId }), deps.log),
        );
        if (job === undefined) throw noSuchJob(request.params.id);
        return job;
      },
    );
  };
}
