// Archive search: GET /api/v1/messages?q=&user=&peer=&since=&until=&verdict=&limit=&cursor=
// Newest first; `next` is an opaque cursor for the following (older) page. `user` is a bare JID
// or a localpart on this server's domain; `peer` the other side of the conversation.
// The query plan per filter is described in audit/archive-search.ts.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import {
  DEFAULT_SEARCH_LIMIT,
  MAX_QUERY_CHARS,
  MAX_SEARCH_LIMIT,
  VERDICTS,
  decodeCursor,
  searchArchive,
  type ArchiveSearchQuery,
} from '../../audit/archive-search.ts';
import type { Verdict } from '../../audit/archive-record.ts';
import { bareString, isJidError, normalizeLocalpart, parseJid } from '../../stanza/jid.ts';
import { badRequest, problemSchema } from '../errors.ts';
import { matchSchema } from '../schemas.ts';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { principalOf } from '../principal.ts';

export interface MessagesRoutesDeps {
  readonly sql: Sql;
  /** This server's domain: a bare localpart in `user`/`peer` is a user of it. */
  readonly domain: string;
  readonly accessLog: AccessLog;
}

interface SearchQuerystring {
  q?: string;
  user?: string;
  peer?: string;
  since?: string;
  until?: string;
  verdict?: Verdict;
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

const JID_MAX = 3071; // RFC 7622 §3.1: up to 3 × 1023 octets

/** A bare JID from `raw` (a bare or full JID, or a localpart of `domain`); undefined when invalid. */
export function resolveBareJid(raw: string, domain: string): string | undefined {
  if (!raw.includes('@') && !raw.includes('/')) {
    const local = normalizeLocalpart(raw);
    return local === undefined ? undefined : `${local}@${domain}`;
  }
  const jid = parseJid(raw);
  return isJidError(jid) ? undefined : bareString(jid);
}

export function messagesRoutes(deps: MessagesRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const jidParam = (name: 'user' | 'peer', raw: string | undefined): string | undefined => {
      if (raw === undefined) return undefined;
      const bare = resolveBareJid(raw, deps.domain);
      if (bare === undefined) throw badRequest(`${name}: ${JSON.stringify(raw)} is not a JID or a username.`);
      return bare;
    };

    app.get<{ Querystring: SearchQuerystring }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              q: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS },
              user: { type: 'string', minLength: 1, maxLength: JID_MAX },
              peer: { type: 'string', minLength: 1, maxLength: JID_MAX },
              since: { type: 'string', format: 'date-time' },
              until: { type: 'string', format: 'date-time' },
              verdict: { type: 'string', enum: VERDICTS },
              limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_LIMIT, default: DEFAULT_SEARCH_LIMIT },
              cursor: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items', 'next'],
              properties: {
                items: { type: 'array', items: archivedMessageSchema },
                // Pass as `cursor` (with the same filters) for the next, older page; null on the last page.
                next: { type: ['string', 'null'] },
              },
            },
            400: problemSchema,
          },
        },
      },
      async (request) => {
        const { q, verdict, limit } = request.query;
        const user = jidParam('user', request.query.user);
        const peer = jidParam('peer', request.query.peer);
        if (peer !== undefined && user === undefined) throw badRequest('peer: needs user (peer is the other side of user\'s conversations).');
        const since = request.query.since === undefined ? undefined : new Date(request.query.since);
        const until = request.query.until === undefined ? undefined : new Date(request.query.until);
        if (since !== undefined && until !== undefined && since >= until) throw badRequest('since must be before until.');
        let cursor: ArchiveSearchQuery['cursor'];
        if (request.query.cursor !== undefined) {
          cursor = decodeCursor(request.query.cursor);
          if (cursor === undefined) throw badRequest('cursor: not a cursor from this API (pass `next` of the previous page as it is).');
        }
        const result = await searchArchive(deps.sql, { q, user, peer, since, until, verdict, limit, cursor });
        // Recorded before the answer leaves: a search that cannot be logged is not answered.
        await deps.accessLog.record({
          principal: principalOf(request),
          ip: request.ip,
          action: 'search',
          query: { ...request.query },
          messageIds: result.items.map((m) => m.id),
        });
        return result;
      },
    );
  };
}
