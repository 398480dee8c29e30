// Incidents: /api/v1/incidents. What the policy flagged, redacted, blocked or held, newest first,
// with the archived message; the review workflow (assign, comment, resolve with a disposition,
// reopen); and the officer's decision on a held message (release delivers it, reject tells the
// sender). Officers only: auditors never see message bodies, admins do not review.
//
// Every state change is one atomic statement with its incident event — of two officers acting
// at once, one gets 200 and the other 409 — and the event records the acting account.
// Access log (issue #5): the list and the detail show message content, so each read is recorded
// before the response, and a read that cannot be recorded is not answered (503). Each review or
// hold action's entry is written in the transaction of the change itself: the entry and the
// change commit together or not at all, so the log holds exactly the actions that took effect —
// not the loser of a race (409), not a change that failed — and an action whose entry cannot be
// written is not carried out (503). A released message is delivered after that commit.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AccessAction, InTransaction, TransactionalAccessLog } from '../../audit/access-log.types.ts';
import type { HeldMessages } from '../../audit/held-messages.ts';
import { excerptAround, firstMatch } from '../../audit/incident-excerpt.ts';
import {
  DISPOSITIONS,
  SEVERITIES,
  incidentJson,
  isIncidentId,
  type Disposition,
  type HoldDecisionResult,
  type HoldState,
  type Incident,
  type IncidentFilter,
  type IncidentStatus,
  type IncidentStore,
  type Severity,
} from '../../audit/incident-store.ts';
import { InvalidCursorError } from '../../audit/invalid-cursor-error.ts';
import type { Logger } from '../../log.ts';
import { recordInOrRefuse, recordOrRefuse } from '../access-log-unavailable.ts';
import { badRequest, conflict, notFound, problemSchema, ProblemType } from '../errors.ts';
import { invalidCursor, limitSchema, pageSchema } from '../pagination.ts';
import { principalOf } from '../principal.ts';
import { matchSchema } from '../schemas.ts';

/** Longest comment, in characters (code points). */
export const MAX_COMMENT_CHARS = 4000;

export const IncidentProblem = {
  notFound: 'urn:warden:problem:incident-not-found',
  notHeld: 'urn:warden:problem:incident-not-held',
  alreadyDecided: 'urn:warden:problem:incident-already-decided',
  invalidCursor: ProblemType.invalidCursor,
  alreadyResolved: 'urn:warden:problem:incident-already-resolved',
  notResolved: 'urn:warden:problem:incident-not-resolved',
  stillHeld: 'urn:warden:problem:incident-still-held',
  noSuchOfficer: 'urn:warden:problem:no-such-officer',
} as const;

export interface IncidentsRoutesDeps {
  readonly store: IncidentStore;
  readonly held: HeldMessages;
  /** Where reads of incident content and every review and hold action are recorded. */
  readonly accessLog: TransactionalAccessLog;
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

const excerptSchema = {
  type: ['object', 'null'],
  required: ['text', 'offset'],
  properties: { text: { type: 'string' }, offset: { type: 'integer' } },
} as const;

const listItemSchema = {
  type: 'object',
  required: [...incidentSchema.required, 'excerpt'],
  properties: { ...incidentSchema.properties, excerpt: excerptSchema },
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

const assignBody = {
  type: 'object',
  required: ['assignee'],
  additionalProperties: false,
  properties: { assignee: { type: ['string', 'null'], minLength: 1, maxLength: 64 } },
} as const;

const commentBody = {
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  // \S: a comment of only whitespace says nothing.
  properties: { text: { type: 'string', minLength: 1, maxLength: MAX_COMMENT_CHARS, pattern: '\\S' } },
} as const;

const resolveBody = {
  type: 'object',
  required: ['disposition'],
  additionalProperties: false,
  properties: { disposition: { type: 'string', enum: [...DISPOSITIONS] }, note: { type: 'string', maxLength: 2000 } },
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
  assignee?: string;
  unassigned?: boolean;
  limit: number;
  cursor?: string;
}
interface IdParams {
  id: string;
}
interface DecisionBody {
  note?: string;
}
interface AssignBody {
  assignee: string | null;
}
interface CommentBody {
  text: string;
}
interface ResolveBody {
  disposition: Disposition;
  note?: string;
}


/** The list's filters as the access log records them (only those given). */
function listFilters(q: ListQuery): Record<string, unknown> {
  const { status, severity, rule, hold, assignee, unassigned, limit, cursor } = q;
  return {
    ...(status !== undefined && { status }),
    ...(severity !== undefined && { severity }),
    ...(rule !== undefined && { rule }),
    ...(hold !== undefined && { hold }),
    ...(assignee !== undefined && { assignee }),
    ...(unassigned !== undefined && { unassigned }),
    limit,
    ...(cursor !== undefined && { cursor }),
  };
}

export function incidentsRoutes(deps: IncidentsRoutesDeps): FastifyPluginAsync {
  const { store, held, accessLog } = deps;
  const noSuchIncident = (id: string) => notFound(`There is no incident ${id}.`, IncidentProblem.notFound, 'No such incident');

  /** The incident `id` names, or the 404 to throw. */
  const existing = async (id: string): Promise<Incident> => {
    const incident = isIncidentId(id) ? await store.get(id) : undefined;
    if (!incident) throw noSuchIncident(id);
    return incident;
  };

  /** The access-log entry of one review or hold action on `incident`, written in the action's own transaction. */
  const logged =
    (request: FastifyRequest, action: AccessAction, incident: Incident, detail: Record<string, unknown> = {}): InTransaction =>
    (tx) =>
      recordInOrRefuse(
        accessLog,
        tx,
        { principal: principalOf(request), ip: request.ip, action, query: { incident: incident.id }, messageIds: [incident.stanzaId], detail },
        deps.log,
      );

  /** 409 for an incident that is already resolved, naming who resolved it and when. */
  const alreadyResolved = async (incident: Incident) => {
    const events = await store.events(incident.id);
    const by = events.filter((e) => e.action === 'resolve').at(-1)?.actor;
    const when = incident.resolvedAt?.toISOString();
    return conflict(
      `Incident ${incident.id} was already resolved (${incident.disposition ?? 'no disposition'})${by === undefined ? '' : ` by ${by}`}${when === undefined ? '' : ` at ${when}`}; reopen it first to change that.`,
      IncidentProblem.alreadyResolved,
      'Already resolved',
    );
  };
  const stillHeld = (incident: Incident) =>
    conflict(
      `Incident ${incident.id} is a message still held for review: release or reject it first, then resolve the incident.`,
      IncidentProblem.stillHeld,
      'Message still held',
    );
  const notResolved = (incident: Incident) => conflict(`Incident ${incident.id} is open; only a resolved incident can be reopened.`, IncidentProblem.notResolved, 'Not resolved');
  const noSuchOfficer = (name: string) =>
    badRequest(`assignee: there is no officer account ${JSON.stringify(name)} (incidents are assigned to console accounts with the role officer).`, IncidentProblem.noSuchOfficer, 'No such officer');

  /** The hold decision's outcome as a response, or the problem to throw. */
  const holdConflict = (incident: Incident) =>
    incident.holdState === null
      ? conflict(`Incident ${incident.id} is not a held message (its verdict is ${incident.verdict}).`, IncidentProblem.notHeld, 'Not a held message')
      : conflict(
          `Incident ${incident.id} was already ${incident.holdState}${incident.holdDecidedBy ? ` by ${incident.holdDecidedBy}` : ''}.`,
          IncidentProblem.alreadyDecided,
          'Already decided',
        );
  const answer = (id: string, result: HoldDecisionResult) => {
    if (result.ok) return incidentJson(result.incident);
    if (result.reason === 'not-found') throw noSuchIncident(id);
    throw holdConflict(result.incident);
  };

  const stateChange = { 200: incidentSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema } as const;

  return async (app) => {
    app.get<{ Querystring: ListQuery }>(
      '/',
      {
        config: { roles: ['officer'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              status: { type: 'string', enum: ['open', 'resolved'] },
              severity: { type: 'string', enum: [...SEVERITIES] },
              rule: { type: 'string', minLength: 1, maxLength: 200 },
              hold: { type: 'string', enum: ['held', 'released', 'rejected'] },
              // An account name: incidents assigned to it.
              assignee: { type: 'string', minLength: 1, maxLength: 64 },
              // true: incidents nobody is assigned to (false: assigned to somebody).
              unassigned: { type: 'boolean' },
              limit: limitSchema,
              cursor: { type: 'string', maxLength: 100 },
            },
          },
          response: { 200: pageSchema(listItemSchema), 400: problemSchema },
        },
      },
      async (request) => {
        const { status, severity, rule, hold, assignee, unassigned, limit, cursor } = request.query;
        if (assignee !== undefined && unassigned === true) {
          throw badRequest('assignee and unassigned=true contradict each other: give one of them.');
        }
        const filter: IncidentFilter = {
          limit,
          ...(status && { status }),
          ...(severity && { severity }),
          ...(rule && { rule }),
          ...(hold && { hold }),
          ...(assignee !== undefined && { assignee }),
          ...(unassigned !== undefined && { unassigned }),
          ...(cursor !== undefined && { cursor }),
        };
        let page;
        try {
          page = await store.list(filter);
        } catch (err) {
          if (err instanceof InvalidCursorError) throw invalidCursor();
          throw err;
        }
        // The excerpts show message content: one entry for the page, before it is sent.
        await recordOrRefuse(
          accessLog,
          { principal: principalOf(request), ip: request.ip, action: 'incident.list', query: listFilters(request.query), messageIds: page.items.map((i) => i.stanzaId) },
          deps.log,
        );
        return {
          items: page.items.map((i) => ({ ...incidentJson(i), excerpt: excerptAround(i.body, firstMatch(i.matches)) })),
          next: page.next,
        };
      },
    );

    app.get<{ Params: IdParams }>(
      '/:id',
      {
        config: { roles: ['officer'] },
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
        await recordOrRefuse(
          accessLog,
          { principal: principalOf(request), ip: request.ip, action: 'incident.read', query: { incident: id }, messageIds: [found.incident.stanzaId] },
          deps.log,
        );
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
          events: events.map(eventJson),
        };
      },
    );

    app.post<{ Params: IdParams; Body: AssignBody }>(
      '/:id/assign',
      { config: { roles: ['officer'] }, schema: { params: idParams, body: assignBody, response: stateChange } },
      async (request) => {
        const { id } = request.params;
        const { assignee } = request.body;
        const incident = await existing(id);
        if (assignee !== null && !(await store.isOfficer(assignee))) throw noSuchOfficer(assignee);
        const result = await store.assign(id, assignee, principalOf(request).actor, logged(request, 'incident.assign', incident, { assignee }));
        if (result.ok) return incidentJson(result.incident);
        if (result.reason === 'not-found') throw noSuchIncident(id);
        // The account was deleted or changed role between the check and the update.
        throw noSuchOfficer(assignee ?? '');
      },
    );

    app.post<{ Params: IdParams; Body: CommentBody }>(
      '/:id/comments',
      {
        config: { roles: ['officer'] },
        schema: { params: idParams, body: commentBody, response: { 201: eventSchema, 400: problemSchema, 404: problemSchema } },
      },
      async (request, reply) => {
        const { id } = request.params;
        const incident = await existing(id);
        // The comment's text stays in the incident's events; the log says that one was made.
        const event = await store.comment(id, principalOf(request).actor, request.body.text, logged(request, 'incident.comment', incident, { chars: [...request.body.text].length }));
        if (!event) throw noSuchIncident(id);
        return reply.code(201).send(eventJson(event));
      },
    );

    app.post<{ Params: IdParams; Body: ResolveBody }>(
      '/:id/resolve',
      { config: { roles: ['officer'] }, schema: { params: idParams, body: resolveBody, response: stateChange } },
      async (request) => {
        const { id } = request.params;
        const { disposition, note } = request.body;
        const incident = await existing(id);
        if (incident.status === 'resolved') throw await alreadyResolved(incident);
        if (incident.holdState === 'held') throw stillHeld(incident);
        const result = await store.resolve(id, disposition, principalOf(request).actor, note, logged(request, 'incident.resolve', incident, { disposition }));
        if (result.ok) {
          deps.log?.info('incident resolved', { incident: id, disposition, by: principalOf(request).actor });
          return incidentJson(result.incident);
        }
        if (result.reason === 'not-found') throw noSuchIncident(id);
        throw result.reason === 'already-resolved' ? await alreadyResolved(result.incident) : stillHeld(result.incident);
      },
    );

    app.post<{ Params: IdParams }>(
      '/:id/reopen',
      { config: { roles: ['officer'] }, schema: { params: idParams, response: stateChange } },
      async (request) => {
        const { id } = request.params;
        const incident = await existing(id);
        if (incident.status !== 'resolved') throw notResolved(incident);
        const result = await store.reopen(id, principalOf(request).actor, logged(request, 'incident.reopen', incident, { previousDisposition: incident.disposition }));
        if (result.ok) return incidentJson(result.incident);
        if (result.reason === 'not-found') throw noSuchIncident(id);
        throw notResolved(result.incident);
      },
    );

    const decisionRoute = (
      path: string,
      action: 'hold.release' | 'hold.reject',
      decide: (id: string, actor: string, detail: Record<string, unknown>, also: InTransaction) => Promise<HoldDecisionResult>,
    ) =>
      app.post<{ Params: IdParams; Body: DecisionBody | null | undefined }>(
        path,
        { config: { roles: ['officer'] }, schema: { params: idParams, body: decisionBody, response: stateChange } },
        async (request) => {
          const { id } = request.params;
          const incident = await existing(id);
          if (incident.holdState !== 'held') throw holdConflict(incident);
          const note = request.body?.note;
          const actor = principalOf(request).actor;
          const result = await decide(id, actor, note === undefined ? {} : { note }, logged(request, action, incident));
          if (result.ok) deps.log?.info(`HTTP API: held message ${action === 'hold.release' ? 'released' : 'rejected'}`, { incident: id, by: actor });
          return answer(id, result);
        },
      );

    decisionRoute('/:id/release', 'hold.release', (id, actor, detail, also) => held.release(id, actor, detail, also));
    decisionRoute('/:id/reject', 'hold.reject', (id, actor, detail, also) => held.reject(id, actor, detail, also));
  };
}

const eventJson = (e: { id: string; at: Date; actor: string; action: string; detail: Readonly<Record<string, unknown>> }) => ({
  id: e.id,
  at: e.at.toISOString(),
  actor: e.actor,
  action: e.action,
  detail: e.detail,
});
