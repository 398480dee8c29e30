// Live client sessions: /api/v1/sessions. Reads and ends sessions through the SessionDirectory the
// composition root hands in; the API never touches a socket itself.
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../log.ts';
import type { ApiDeps } from '../deps.types.ts';
import { notFound, problemSchema, ProblemType } from '../errors.ts';
import { cursorSchema, decodePageCursor, limitSchema, page } from '../pagination.ts';

/** RFC 7622 §3.1: each of the three parts is at most 1023 octets. */
const MAX_FULL_JID_CHARS = 3 * 1023 + 2;
/**
 * A cursor is the base64url of the last full JID of a page (up to MAX_FULL_JID_CHARS octets):
 * the shared cursorSchema's 400 characters would refuse the `next` after a long JID.
 */
const sessionCursorSchema = { ...cursorSchema, maxLength: Math.ceil((MAX_FULL_JID_CHARS * 4) / 3) } as const;
/** Pure: whether a decoded cursor can be the full JID (local@domain/resource) of a bound session. */
const isFullJidKey = (key: string) => Buffer.byteLength(key, 'utf8') <= MAX_FULL_JID_CHARS && /^[^/]+\/[\s\S]+$/.test(key);

export interface SessionsPluginOptions {
  readonly deps: ApiDeps;
  readonly log: Logger;
}

export const sessionsRoutes: FastifyPluginAsync<SessionsPluginOptions> = async (app, { deps, log }) => {
  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/',
    {
      config: { roles: ['admin'] },
      schema: {
        querystring: { type: 'object', additionalProperties: false, properties: { limit: limitSchema, cursor: sessionCursorSchema } },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              next: { type: ['string', 'null'] },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['jid', 'ip', 'transport', 'secure', 'since'],
                  properties: {
                    jid: { type: 'string' },
                    ip: { type: 'string' },
                    transport: { type: 'string', enum: ['tcp', 'tls', 'websocket'] },
                    secure: { type: 'boolean' },
                    since: { type: 'string', format: 'date-time' },
                  },
                },
              },
            },
          },
          400: problemSchema,
        },
      },
    },
    // Ordered by full JID; a page starts after the cursor's JID, so sessions that come and go
    // between pages shift nothing already seen.
    async (request) => {
      const { limit } = request.query;
      // A cursor this API did not hand out (cursor=abc) is a 400 invalid-cursor problem.
      const after = decodePageCursor(request.query.cursor, isFullJidKey);
      const sorted = deps.sessions.list().sort((a, b) => (a.jid < b.jid ? -1 : a.jid > b.jid ? 1 : 0));
      const rest = after === undefined ? sorted : sorted.filter((s) => s.jid > after);
      return page(rest.slice(0, limit + 1), limit, (s) => s.jid);
    },
  );

  // The full JID arrives percent-encoded (its "/" as %2F), so it is one path segment.
  app.delete<{ Params: { jid: string } }>(
    '/:jid',
    {
      config: { roles: ['admin'] },
      schema: {
        params: { type: 'object', required: ['jid'], properties: { jid: { type: 'string', minLength: 1, maxLength: MAX_FULL_JID_CHARS } } },
        response: { 204: { description: 'The session was ended.', type: 'null' }, 400: problemSchema, 404: problemSchema },
      },
    },
    async (request, reply) => {
      const { jid } = request.params;
      if (!deps.sessions.kick(jid, 'Session ended by an administrator')) {
        throw notFound(`There is no session ${JSON.stringify(jid)}.`, ProblemType.sessionNotFound, 'No such session');
      }
      log.info('admin API: session ended', { jid });
      return reply.code(204).send();
    },
  );
};
