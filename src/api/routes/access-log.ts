// The access log for auditors: GET /api/v1/access-log (newest first, cursor pages) and
// GET /api/v1/access-log/verify (the hash chain). Reading the log and verifying it are logged
// too, so an auditor's own looking is on the record; either is refused (503) when that entry
// cannot be written.
//
// ?messageId= finds every entry that named the message: inline in message_ids, or as one of an
// export's messages (export_messages, however many the export held; see audit/access-log.ts).
// Verify also checks each export's recorded ids against the digest its end entry sealed.
//
// The chain alone cannot show its newest entries cut off, or a suffix rewritten with fresh
// (unkeyed) hashes. So verify answers the head — the newest entry's seq and hash — for the
// auditor to keep outside the database, and ?expectSeq=&expectHash= checks later that a head
// kept earlier is still in the chain, unchanged.
import type { FastifyPluginAsync } from 'fastify';
import { isAccessLogSeq, type AccessLogStore } from '../../audit/access-log.ts';
import { recordOrRefuse } from '../access-log-unavailable.ts';
import { badRequest, problemSchema } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { parseTimeRange, timeRangeProperties, type TimeRangeQuerystring } from '../search-filters.ts';
import type { Logger } from '../../log.ts';

export interface AccessLogRoutesDeps {
  readonly store: AccessLogStore;
  readonly log?: Logger;
}

const entrySchema = {
  type: 'object',
  required: ['seq', 'at', 'actor', 'role', 'via', 'tokenId', 'ip', 'action', 'query', 'messageIds', 'messageCount', 'detail', 'hash'],
  properties: {
    seq: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string' },
    role: { type: 'string' },
    via: { type: 'string' },
    // The API token used (admin_tokens.id): tells an account's own token from one an admin made for it.
    tokenId: { type: ['string', 'null'] },
    ip: { type: 'string' },
    action: { type: 'string' },
    query: { type: 'object', additionalProperties: true },
    messageIds: { type: 'array', items: { type: 'string' } },
    messageCount: { type: 'integer' },
    detail: { type: 'object', additionalProperties: true },
    hash: { type: 'string' },
  },
} as const;

const SEQ_PATTERN = '^[1-9][0-9]{0,18}$';

const verifySchema = {
  type: 'object',
  required: ['ok', 'rows', 'head'],
  properties: {
    ok: { type: 'boolean' },
    rows: { type: 'integer' },
    // Stanza ids of exports (export_messages) checked against the digests their end entries sealed.
    exportMessageIds: { type: 'integer' },
    // Keep it outside the database; pass it back as expectSeq/expectHash to detect a cut or a rewrite.
    head: {
      type: ['object', 'null'],
      required: ['seq', 'hash', 'at'],
      properties: { seq: { type: 'string' }, hash: { type: 'string' }, at: { type: 'string', format: 'date-time' } },
    },
    firstBroken: { type: 'object', required: ['seq', 'reason'], properties: { seq: { type: 'string' }, reason: { type: 'string' } } },
  },
} as const;

interface ListQuery extends TimeRangeQuerystring {
  actor?: string;
  action?: string;
  tokenId?: string;
  messageId?: string;
  limit: number;
  cursor?: string;
}

interface VerifyQuery {
  expectSeq?: string;
  expectHash?: string;
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
              tokenId: { type: 'string', minLength: 1, maxLength: 40 },
              messageId: { type: 'string', minLength: 1, maxLength: 200 },
              ...timeRangeProperties,
              limit: limitSchema,
              cursor: cursorSchema,
            },
          },
          response: { 200: pageSchema(entrySchema), 400: problemSchema, 503: problemSchema },
        },
      },
      async (request) => {
        const { actor, action, tokenId, messageId, limit } = request.query;
        const { since, until } = parseTimeRange(request.query);
        const beforeSeq = decodePageCursor(request.query.cursor, isAccessLogSeq);
        const rows = await deps.store.list({
          limit: limit + 1,
          ...(actor !== undefined && { actor }),
          ...(action !== undefined && { action }),
          ...(tokenId !== undefined && { tokenId }),
          ...(messageId !== undefined && { messageId }),
          ...(since !== undefined && { since }),
          ...(until !== undefined && { until }),
          ...(beforeSeq !== undefined && { beforeSeq }),
        });
        // Only the first page is recorded: paging on through the same filters is one look.
        if (request.query.cursor === undefined) {
          await recordOrRefuse(deps.store, { principal: principalOf(request), ip: request.ip, action: 'access-log.read', query: { ...request.query } }, deps.log);
        }
        const result = page(rows, limit, (r) => r.seq);
        return { items: result.items.map((r) => ({ ...r, at: r.at.toISOString() })), next: result.next };
      },
    );

    app.get<{ Querystring: VerifyQuery }>(
      '/verify',
      {
        config: { roles: ['auditor'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              // A head from an earlier verify: the chain must still hold it.
              expectSeq: { type: 'string', pattern: SEQ_PATTERN },
              expectHash: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
            },
            dependencies: { expectSeq: ['expectHash'], expectHash: ['expectSeq'] },
          },
          response: { 200: verifySchema, 400: problemSchema, 503: problemSchema },
        },
      },
      async (request) => {
        const { expectSeq, expectHash } = request.query;
        if (expectSeq !== undefined && !isAccessLogSeq(expectSeq)) throw badRequest('expectSeq: not a seq of the access log (too large).');
        const report = await deps.store.verify(expectSeq !== undefined && expectHash !== undefined ? { expect: { seq: expectSeq, hash: expectHash } } : {});
        await recordOrRefuse(
          deps.store,
          {
            principal: principalOf(request),
            ip: request.ip,
            action: 'access-log.verify',
            query: { ...request.query },
            detail: { ok: report.ok, rows: report.rows, exportMessageIds: report.exportMessageIds, headSeq: report.head?.seq ?? null, ...(report.firstBroken && { firstBroken: report.firstBroken }) },
          },
          deps.log,
        );
        return { ...report, head: report.head === null ? null : { ...report.head, at: report.head.at.toISOString() } };
      },
    );
  };
}
