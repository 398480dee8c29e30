// Incidents: /api/v1/incidents. What the policy flagged, redacted, blocked or held, newest first,
// with the archived message; and the officer's decision on a held message (release delivers it,
// reject tells the sender). Decisions are atomic — of two officers deciding at once, one gets 200
// and the other 409 — and each is recorded in the incident's events with actor 'admin' (the
// admin API has one role; tokens carry no identity).
import type { FastifyPluginAsync } from 'fastify';
import type { HeldMessages } from '../../audit/held-messages.ts';
import {
  InvalidCursorError,
  SEVERITIES,
  incidentJson,
  isIncidentId,
  type HoldDecisionResult,
  type HoldState,
  type IncidentStatus,
  type IncidentStore,
  type Severity,
} from '../../audit/incident-store.ts';
import type { Logger } from '../../log.ts';
import { badRequest, conflict, notFound, problemSchema } from '../errors.ts';
import { matchSchema } from '../schemas.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** The actor recorded for decisions made over the admin API. */
export const ADMIN_ACTOR = 'admin';

export const IncidentProblem = {
  notFound: 'urn:warden:problem:incident-not-found',
  notHeld: 'urn:warden:problem:incident-not-held',
  alreadyDecided: 'urn:warden:problem:incident-already-decided',
  invalidCursor: 'urn:warden:problem:invalid-cursor',
} as const;

export interface IncidentsRoutesDeps {
  readonly store: IncidentStore;
  readonly held: HeldMessages;
  readonly log?: Logger;
}


const nullableString = { type: ['string', 'null'] } as const;

const incidentSchema = {
  type: 'object',
  required: ['id', 'createdAt', 'stanzaId', 'messageTs', 'verdict', 'severity', 'ruleIds', 'matches', 'from', 'to', 'source', 'status', 'holdState'],
  properties: {
    id: { type: 'string' },
    createdAt: { type: 'string' },
    stanzaId: { type: 'string' },
    messageTs: { type: 'string' },
    verdict: { type: 'string' },
    severity: { type: 'string' },
    ruleIds: { type: 'array', items: { type: 'string' } },
    matches: { type: 'array', items: matchSchema },
    from: { type: 'string' },
    to: { type: 'string' },
    source: { type: 'string' },
    status: { type: 'string' },
    holdState: nullableString,
    holdDecidedAt: nullableString,
    holdDecidedBy: nullableString,
    assignee: nullableString,
    disposition: nullableString,
    resolvedAt: nullableString,
  },
} as const;

const messageSchema = {
  type: ['object', 'null'],
  properties: {
    stanzaId: { type: 'string' },
    ts: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    type: { type: 'string' },
    direction: { type: 'string' },
    body: nullableString,
    redactedBody: nullableString,
    verdict: { type: 'string' },
    reason: nullableString,
    matches: { type: 'array', items: matchSchema },
    raw: { type: 'string' },
  },
} as const;

const eventSchema = {
  type: 'object',
  required: ['id', 'at', 'actor', 'action', 'detail'],
  properties: {
    id: { type: 'string' },
    at: { type: 'string' },
    actor: { type: 'string' },
    action: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  // Not a pattern: an id that cannot exist is answered 404 like any other unknown one.
  properties: { id: { type: 'string', maxLength: 40 } },
} as const;

const decisionBody = {
  // Optional: POST with no body at all is the usual call.
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { note: { type: 'string', maxLength: 2000 } },
} as const;

interface ListQuery {
  status?: IncidentStatus;
  severity?: Severity;
  rule?: string;
  hold?: HoldState;
  limit: number;
  cursor?: string;
}
interface IdParams {
  id: string;
}
interface DecisionBody {
  note?: string;
}

export function incidentsRoutes(deps: IncidentsRoutesDeps): FastifyPluginAsync {
  const { store, held } = deps;
  const noSuchIncident = (id: string) => notFound(`There is no incident ${id}.`, IncidentProblem.notFound, 'No such incident');

  /** The decision's outcome as a response, or the problem to throw. */
  const answer = (id: string, result: HoldDecisionResult) => {
    if (result.ok) return incidentJson(result.incident);
    if (result.reason === 'not-found') throw noSuchIncident(id);
    if (result.reason === 'not-held') {
      throw conflict(`Incident ${id} is not a held message (its verdict is ${result.incident.verdict}).`, IncidentProblem.notHeld, 'Not a held message');
    }
    throw conflict(
      `Incident ${id} was already ${result.incident.holdState ?? 'decided'}${result.incident.holdDecidedBy ? ` by ${result.incident.holdDecidedBy}` : ''}.`,
      IncidentProblem.alreadyDecided,
      'Already decided',
    );
  };

  return async (app) => {
    app.get<{ Querystring: ListQuery }>(
      '/',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              status: { type: 'string', enum: ['open', 'resolved'] },
              severity: { type: 'string', enum: [...SEVERITIES] },
              rule: { type: 'string', minLength: 1, maxLength: 200 },
              hold: { type: 'string', enum: ['held', 'released', 'rejected'] },
              limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE },
              cursor: { type: 'string', maxLength: 100 },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items', 'next'],
              properties: { items: { type: 'array', items: incidentSchema }, next: nullableString },
            },
            400: problemSchema,
          },
        },
      },
      async (request) => {
        const { status, severity, rule, hold, limit, cursor } = request.query;
        try {
          const page = await store.list({ limit, ...(status && { status }), ...(severity && { severity }), ...(rule && { rule }), ...(hold && { hold }), ...(cursor !== undefined && { cursor }) });
          return { items: page.items.map(incidentJson), next: page.next };
        } catch (err) {
          if (err instanceof InvalidCursorError) throw badRequest('The cursor is not one this API handed out.', IncidentProblem.invalidCursor, 'Invalid cursor');
          throw err;
        }
      },
    );

    app.get<{ Params: IdParams }>(
      '/:id',
      {
        schema: {
          params: idParams,
          response: {
            200: {
              type: 'object',
              required: [...incidentSchema.required, 'message', 'events'],
              properties: { ...incidentSchema.properties, message: messageSchema, events: { type: 'array', items: eventSchema } },
            },
            400: problemSchema,
            404: problemSchema,
          },
        },
      },
      async (request) => {
        const { id } = request.params;
        if (!isIncidentId(id)) throw noSuchIncident(id);
        const found = await store.getWithMessage(id);
        if (!found) throw noSuchIncident(id);
        const m = found.message;
        const events = await store.events(id);
        return {
          ...incidentJson(found.incident),
          message:
            m === undefined
              ? null
              : {
                  stanzaId: m.stanzaId,
                  ts: m.ts.toISOString(),
                  from: m.fromJid,
                  to: m.toJid,
                  type: m.type,
                  direction: m.direction,
                  body: m.body,
                  redactedBody: m.redactedBody,
                  verdict: m.verdict,
                  reason: m.reason,
                  matches: m.matches,
                  raw: m.raw,
                },
          events: events.map((e) => ({ id: e.id, at: e.at.toISOString(), actor: e.actor, action: e.action, detail: e.detail })),
        };
      },
    );

    const decisionRoute = (path: string, decide: (id: string, detail: Record<string, unknown>) => Promise<HoldDecisionResult>, verb: string) =>
      app.post<{ Params: IdParams; Body: DecisionBody | null | undefined }>(
        path,
        { schema: { params: idParams, body: decisionBody, response: { 200: incidentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema } } },
        async (request) => {
          const { id } = request.params;
          if (!isIncidentId(id)) throw noSuchIncident(id);
          const note = request.body?.note;
          const result = await decide(id, note === undefined ? {} : { note });
          if (result.ok) deps.log?.info(`admin API: held message ${verb}`, { incident: id });
          return answer(id, result);
        },
      );

    decisionRoute('/:id/release', (id, detail) => held.release(id, ADMIN_ACTOR, detail), 'released');
    decisionRoute('/:id/reject', (id, detail) => held.reject(id, ADMIN_ACTOR, detail), 'rejected');
  };
}
