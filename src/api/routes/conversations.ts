// Conversation view: GET /api/v1/conversations?a=&b=&around=<stanzaId>&limit= (officer)
// The messages between bare JIDs a and b, oldest first: `limit` on each side of `around` (the
// message itself included), or one page older than `before` / newer than `after`, or without
// any of them the newest `limit`. How each read reaches an index: audit/conversation.ts.
// Every answer is in the access log ('conversation.read', with the stanza ids shown) before it is sent.
import type { FastifyPluginAsync } from 'fastify';
import type { Sql } from 'postgres';
import type { AccessLog } from '../../audit/access-log.types.ts';
import { decodeCursor, type ArchiveCursor } from '../../audit/archive-search.ts';
import { DEFAULT_CONVERSATION_LIMIT, MAX_CONVERSATION_LIMIT, readConversation } from '../../audit/conversation.ts';
import type { Logger } from '../../log.ts';
import { recordOrRefuse } from '../access-log-unavailable.ts';
import { badRequest, notFound, ProblemType, problemSchema } from '../errors.ts';
import { bareJidParam, jidParamSchema } from '../jid-param.ts';
import { principalOf } from '../principal.ts';
import { archivedMessageSchema } from './messages.ts';

export interface ConversationsRoutesDeps {
  readonly sql: Sql;
  /** This server's domain: a bare localpart in `a`/`b` is a user of it. */
  readonly domain: string;
  readonly accessLog: AccessLog;
  readonly log?: Logger;
}

interface ConversationQuerystring {
  a: string;
  b: string;
  around?: string;
  before?: string;
  after?: string;
  limit: number;
}

const CURSOR_MAX = 200;

export function conversationsRoutes(deps: ConversationsRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const cursorParam = (name: 'before' | 'after', raw: string | undefined): ArchiveCursor | undefined => {
      if (raw === undefined) return undefined;
      const cursor = decodeCursor(raw);
      if (cursor === undefined) {
        throw badRequest(`${name}: not a cursor from this API (pass \`before\`/\`after\` of a previous answer as it is).`, ProblemType.invalidCursor, 'Invalid cursor');
      }
      return cursor;
    };

    app.get<{ Querystring: ConversationQuerystring }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['a', 'b'],
            properties: {
              a: jidParamSchema,
              b: jidParamSchema,
              // A stanza id (XEP-0359 §3: the archive's id of the message).
              around: { type: 'string', minLength: 1, maxLength: 1024 },
              before: { type: 'string', minLength: 1, maxLength: CURSOR_MAX },
              after: { type: 'string', minLength: 1, maxLength: CURSOR_MAX },
              limit: { type: 'integer', minimum: 1, maximum: MAX_CONVERSATION_LIMIT, default: DEFAULT_CONVERSATION_LIMIT },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items', 'before', 'after'],
              properties: {
                // Oldest first.
                items: { type: 'array', items: archivedMessageSchema },
                before: { type: ['string', 'null'] },
                after: { type: ['string', 'null'] },
              },
            },
            400: problemSchema,
            404: problemSchema,
          },
        },
      },
      async (request) => {
        const { around, limit } = request.query;
        const a = bareJidParam('a', request.query.a, deps.domain);
        const b = bareJidParam('b', request.query.b, deps.domain);
        const given = (['around', 'before', 'after'] as const).filter((k) => request.query[k] !== undefined);
        if (given.length > 1) throw badRequest(`${given.join(' and ')}: give at most one of around, before and after.`);
        const before = cursorParam('before', request.query.before);
        const after = cursorParam('after', request.query.after);

        const page = await readConversation(deps.sql, { a, b, limit, around, before, after });
        if (page === undefined) throw notFound(`There is no message ${JSON.stringify(around)} between ${a} and ${b}.`);

        // A view that cannot be logged is not answered (503).
        await recordOrRefuse(deps.accessLog, {
          principal: principalOf(request),
          ip: request.ip,
          action: 'conversation.read',
          query: {
            a,
            b,
            limit,
            ...(around !== undefined && { around }),
            ...(request.query.before !== undefined && { before: request.query.before }),
            ...(request.query.after !== undefined && { after: request.query.after }),
          },
          messageIds: page.items.map((m) => m.id),
          messageCount: page.items.length,
        }, deps.log);
        return page;
      },
    );
  };
}
