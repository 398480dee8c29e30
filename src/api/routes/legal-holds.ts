// Legal holds: /api/v1/legal-holds (officers). A hold on a user or on a conversation exempts its
// messages from retention (audit/retention.ts) until it is released.
//
//   POST   /             {"kind":"user","jid","reason"} | {"kind":"conversation","a","b","reason"} → 201 hold
//   GET    /?active=&limit=&cursor=                                                     → page of holds, newest first
//   DELETE /:id          {"reason"} releases the hold (the row stays as the record)     → 200 hold; 404; 409 released
//
// JIDs are bare JIDs or localparts of this server's domain (as in archive search); a full JID is
// reduced to its bare form, since retention compares bare JIDs.
// Access log: creating and releasing are recorded ('legal-hold.create' / 'legal-hold.release')
// after their preconditions pass and before they are carried out (as the incident actions are),
// so nothing is done that is not in the log.
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../log.ts';
import type { TransactionalAccessLog } from '../../audit/access-log.types.ts';
import { recordInOrRefuse } from '../access-log-unavailable.ts';
import { InvalidCursorError } from '../../audit/invalid-cursor-error.ts';
import { conversationPair, type LegalHold, type LegalHoldStore, type LegalHoldTarget } from '../../audit/legal-holds.ts';
import { ApiProblem, badRequest, conflict, notFound, problemSchema } from '../errors.ts';
import { bareJidParam, jidParamSchema } from '../jid-param.ts';
import { idCursorSchema, invalidCursor, limitSchema, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';

export const MAX_REASON_CHARS = 2000;

export const LegalHoldProblem = {
  notFound: 'urn:warden:problem:legal-hold-not-found',
  alreadyReleased: 'urn:warden:problem:legal-hold-released',
} as const;

export interface LegalHoldsRoutesDeps {
  readonly holds: LegalHoldStore;
  /** This server's domain: a bare localpart is a user of it. */
  readonly domain: string;
  /** Each placement and release is recorded in the change's own transaction. */
  readonly accessLog: TransactionalAccessLog;
  readonly log?: Logger;
}

const holdSchema = {
  type: 'object',
  required: ['id', 'kind', 'reason', 'createdBy', 'createdAt', 'releasedBy', 'releasedAt', 'releaseReason'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['user', 'conversation'] },
    // kind user: jid · kind conversation: a and b (a < b in byte order).
    jid: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    reason: { type: 'string' },
    createdBy: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    releasedBy: { type: ['string', 'null'] },
    releasedAt: { type: ['string', 'null'], format: 'date-time' },
    releaseReason: { type: ['string', 'null'] },
  },
} as const;

// \S: a reason of only whitespace gives none.
const reasonSchema = { type: 'string', minLength: 1, maxLength: MAX_REASON_CHARS, pattern: '\\S' } as const;

const createBody = {
  type: 'object',
  required: ['kind', 'reason'],
  additionalProperties: false,
  // One flat shape rather than oneOf: the handler then says exactly which field a kind misses.
  properties: {
    kind: { type: 'string', enum: ['user', 'conversation'] },
    jid: jidParamSchema,
    a: jidParamSchema,
    b: jidParamSchema,
    reason: reasonSchema,
  },
} as const;

// A release says why, as a placement does (the matter settled, the hold placed in error …).
const releaseBody = {
  type: 'object',
  required: ['reason'],
  additionalProperties: false,
  properties: { reason: reasonSchema },
} as const;

interface CreateBody {
  kind: 'user' | 'conversation';
  jid?: string;
  a?: string;
  b?: string;
  reason: string;
}
interface ListQuery {
  active?: boolean;
  limit: number;
  cursor?: string;
}

/** The hold as the API shows it (dates as ISO strings via the serialiser). */
function holdJson(h: LegalHold): Record<string, unknown> {
  const common = {
    id: h.id,
    kind: h.kind,
    reason: h.reason,
    createdBy: h.createdBy,
    createdAt: h.createdAt,
    releasedBy: h.releasedBy,
    releasedAt: h.releasedAt,
    releaseReason: h.releaseReason,
  };
  return h.kind === 'user' ? { ...common, jid: h.jid } : { ...common, a: h.a, b: h.b };
}

/** What a hold is on, for the access log. */
const targetOf = (h: LegalHoldTarget): Record<string, string> => (h.kind === 'user' ? { kind: h.kind, jid: h.jid } : { kind: h.kind, a: h.a, b: h.b });

export function legalHoldsRoutes(deps: LegalHoldsRoutesDeps): FastifyPluginAsync {
  /** The body as a target; 400 naming the field a kind misses or must not have. */
  const targetFrom = (body: CreateBody): LegalHoldTarget => {
    if (body.kind === 'user') {
      if (body.a !== undefined || body.b !== undefined) throw badRequest('a and b are for kind "conversation"; a user hold takes jid.');
      if (body.jid === undefined) throw badRequest('jid: required for kind "user".');
      return { kind: 'user', jid: bareJidParam('jid', body.jid, deps.domain) };
    }
    if (body.jid !== undefined) throw badRequest('jid is for kind "user"; a conversation hold takes a and b.');
    if (body.a === undefined || body.b === undefined) throw badRequest('a and b: both required for kind "conversation".');
    const pair = conversationPair(bareJidParam('a', body.a, deps.domain), bareJidParam('b', body.b, deps.domain));
    if (pair === undefined) throw badRequest('a and b are the same JID: a conversation is between two.');
    return { kind: 'conversation', ...pair };
  };

  return async (app) => {
    app.post<{ Body: CreateBody }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: { body: createBody, response: { 201: holdSchema, 400: problemSchema } },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const target = targetFrom(request.body);
        const reason = request.body.reason;
        // The hold and its access-log entry commit together: no hold off the record, no entry for a
        // hold that failed (an entry that cannot be written is a 503 and no hold).
        const hold = await deps.holds.create(target, reason, principal.actor, (tx, placed) =>
          recordInOrRefuse(deps.accessLog, tx, { principal, ip: request.ip, action: 'legal-hold.create', query: { ...targetOf(target), reason }, detail: { holdId: placed.id } }, deps.log),
        );
        return reply.code(201).send(holdJson(hold));
      },
    );

    app.get<{ Querystring: ListQuery }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { active: { type: 'boolean' }, limit: limitSchema, cursor: idCursorSchema },
          },
          response: { 200: pageSchema(holdSchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { active, limit, cursor } = request.query;
        try {
          const page = await deps.holds.list({ limit, ...(active !== undefined && { active }), ...(cursor !== undefined && { cursor }) });
          return { items: page.items.map(holdJson), next: page.next };
        } catch (err) {
          if (err instanceof InvalidCursorError) throw invalidCursor();
          throw err;
        }
      },
    );

    app.delete<{ Params: { id: string }; Body: { reason: string } }>(
      '/:id',
      {
        config: { roles: ['officer'] },
        schema: {
          // Not a pattern: an id that cannot exist is answered 404 like any other unknown one.
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 40 } } },
          body: releaseBody,
          response: { 200: holdSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const { id } = request.params;
        const { reason } = request.body;
        const notFoundProblem = (): ApiProblem => notFound(`There is no legal hold ${JSON.stringify(id)}.`, LegalHoldProblem.notFound, 'No such legal hold');
        const released = (h: LegalHold): ApiProblem =>
          conflict(`Legal hold ${h.id} was already released by ${h.releasedBy ?? 'someone'} at ${h.releasedAt?.toISOString() ?? 'an unknown time'}.`, LegalHoldProblem.alreadyReleased, 'Already released');
        const current = await deps.holds.get(id);
        if (current === undefined) throw notFoundProblem();
        if (current.releasedAt !== null) throw released(current);
        const result = await deps.holds.release(id, principal.actor, reason, (tx, hold) =>
          recordInOrRefuse(deps.accessLog, tx, { principal, ip: request.ip, action: 'legal-hold.release', query: { id, reason }, detail: { holdId: hold.id, ...targetOf(hold) } }, deps.log),
        );
        if (result.ok) return holdJson(result.hold);
        // Lost a race with another officer's release (or the hold vanished): say what is now true.
        if (result.reason === 'already-released') throw released(result.hold);
        throw notFoundProblem();
      },
    );
  };
}
