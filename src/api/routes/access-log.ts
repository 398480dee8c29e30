// The access log for auditors: GET /api/v1/access-log (newest first, cursor pages) and
// GET /api/v1/access-log/verify (the hash chain). Reading the log is itself logged, so an
// auditor's own looking is on the record.
import type { FastifyPluginAsync } from 'fastify';
import type { AccessLogStore } from '../../audit/access-log.ts';
import { problemSchema } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { parseTimeRange, timeRangeProperties, type TimeRangeQuerystring } from '../search-filters.ts';

export interface AccessLogRoutesDeps {
  readonly store: AccessLogStore;
}

const entrySchema = {
  type: 'object',
  required: ['seq', 'at', 'actor', 'role', 'via', 'ip', 'action', 'query', 'messageIds', 'messageCount', 'detail', 'hash'],
  properties: {
    seq: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string' },
    role: { type: 'string' },
    via: { type: 'string' },
    ip: { type: 'string' },
    action: { type: 'string' },
    query: { type: 'object', additionalProperties: true },
    messageIds: { type: 'array', items: { type: 'string' } },
    messageCount: { type: 'integer' },
    detail: { type: 'object', additionalProperties: true },
    hash: { type: 'string' },
  },
} as const;

interface ListQuery extends TimeRangeQuerystring {
  actor?: string;
  action?: string;
  messageId?: string;
  limit: number;
  cursor?: string;
}

export function accessLogRoutes(deps: AccessLogRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: ListQuery }>(
      '/',
      {
        config: { roles: ['auditor'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              actor: { type: 'string', minLength: 1, maxLength: 200 },
              action: { type: 'string', minLength: 1, maxLength: 64 },
              messageId: { type: 'string', minLength: 1, maxLength: 200 },
              ...timeRangeProperties,
              limit: limitSchema,
              cursor: cursorSchema,
            },
          },
          response: { 200: pageSchema(entrySchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { actor, action, messageId, limit } = request.query;
        const { since, until } = parseTimeRange(request.query);
        const beforeSeq = decodePageCursor(request.query.cursor, (k) => /^[1-9][0-9]{0,18}$/.test(k));
        const rows = await deps.store.list({
          limit: limit + 1,
          ...(actor !== undefined && { actor }),
          ...(action !== undefined && { action }),
          ...(messageId !== undefined && { messageId }),
          ...(since !== undefined && { since }),
          ...(until !== undefined && { until }),
          ...(beforeSeq !== undefined && { beforeSeq }),
        });
        // Only the first page is recorded: paging on through the same filters is one look.
        if (request.query.cursor === undefined) {
          await deps.store.record({ principal: principalOf(request), ip: request.ip, action: 'access-log.read', query: { ...request.query } });
        }
        const result = page(rows, limit, (r) => r.seq);
        return { items: result.items.map((r) => ({ ...r, at: r.at.toISOString() })), next: result.next };
      },
    );

    app.get(
      '/verify',
      {
        config: { roles: ['auditor'] },
        schema: {
          response: {
            200: {
              type: 'object',
              required: ['ok', 'rows'],
              properties: {
                ok: { type: 'boolean' },
                rows: { type: 'integer' },
                firstBroken: { type: 'object', required: ['seq', 'reason'], properties: { seq: { type: 'string' }, reason: { type: 'string' } } },
              },
            },
          },
        },
      },
      async () => deps.store.verify(),
    );
  };
}
