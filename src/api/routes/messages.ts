// Archive search: GET /api/v1/messages?q=&user=&peer=&since=&until=&verdict=&limit=&cursor=
// Newest first; `next` is an opaque cursor for the following (older) page. `user` is a bare JID
// or a localpart on this server's domain; `peer` the other side of the conversation.
// The query plan per filter is described in audit/archive-search.ts.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, VERDICTS, decodeCursor, searchArchive, type ArchiveSearchQuery } from '../../audit/archive-search.ts';
import type { Logger } from '../../log.ts';
import { recordOrRefuse } from '../access-log-unavailable.ts';
import { problemSchema } from '../errors.ts';
import { invalidCursor, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { matchSchema } from '../schemas.ts';
import { parseSearchFilters, searchFilterProperties, type SearchFilterQuerystring } from '../search-filters.ts';

export interface MessagesRoutesDeps {
  readonly sql: Sql;
  /** This server's domain: a bare localpart in `user`/`peer` is a user of it. */
  readonly domain: string;
  readonly accessLog: AccessLog;
  readonly log?: Logger;
}

interface SearchQuerystring extends SearchFilterQuerystring {
  limit: number;
  cursor?: string;
}

export const archivedMessageSchema = {
  type: 'object',
  required: ['id', 'ts', 'from', 'to', 'type', 'body', 'verdict', 'matches', 'direction', 'policyVersion', 'thread'],
  properties: {
    id: { type: 'string' },
    ts: { type: 'string', format: 'date-time' },
    from: { type: 'string' },
    to: { type: 'string' },
    type: { type: 'string' },
    body: { type: ['string', 'null'] },
    verdict: { type: 'string', enum: VERDICTS },
    matches: { type: 'array', items: matchSchema },
    direction: { type: 'string', enum: ['internal', 'outbound', 'inbound'] },
    policyVersion: { type: 'integer' },
    thread: { type: ['string', 'null'] },
  },
} as const;

export function messagesRoutes(deps: MessagesRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: SearchQuerystring }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              ...searchFilterProperties,
              limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_LIMIT, default: DEFAULT_SEARCH_LIMIT },
              cursor: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
          // `next`: pass as `cursor` (with the same filters) for the next, older page; null on the last page.
          response: { 200: pageSchema(archivedMessageSchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { limit } = request.query;
        const filters = parseSearchFilters(request.query, deps.domain);
        let cursor: ArchiveSearchQuery['cursor'];
        if (request.query.cursor !== undefined) {
          cursor = decodeCursor(request.query.cursor);
          if (cursor === undefined) throw invalidCursor();
        }
        const result = await searchArchive(deps.sql, { ...filters, limit, cursor });
        // Recorded before the answer leaves: a search that cannot be logged is not answered (503).
        await recordOrRefuse(
          deps.accessLog,
          { principal: principalOf(request), ip: request.ip, action: 'search', query: { ...request.query }, messageIds: result.items.map((m) => m.id) },
          deps.log,
        );
        return result;
      },
    );
  };
}
