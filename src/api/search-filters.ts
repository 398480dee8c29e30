// The archive search's filters as GET /api/v1/messages and GET /api/v1/export take them
// (q, user, peer, since, until, verdict): one querystring schema and one parser, so a filter
// means the same in a search and in the export of it. The since/until range on its own is
// shared with the other routes bounded in time (access log, rule statistics).
import type { Verdict } from '../audit/archive-record.ts';
import { MAX_QUERY_CHARS, VERDICTS, type ArchiveSearchFilters } from '../audit/archive-search.ts';
import { badRequest } from './errors.ts';
import { parseInstant } from './input-validation.ts';
import { bareJidParam, jidParamSchema } from './jid-param.ts';

/** Querystring properties `since` (inclusive) and `until` (exclusive). */
export const timeRangeProperties = {
  since: { type: 'string', format: 'date-time' },
  until: { type: 'string', format: 'date-time' },
} as const;

export interface TimeRangeQuerystring {
  since?: string;
  until?: string;
}

/**
 * An optional date-time field as a Date; a 400 problem naming `field` unless it is a real
 * instant (parseInstant): `new Date()` would read 30 February as 2 March and a leap second as an
 * Invalid Date. The route schemas' `date-time` format refuses these first; this holds for any
 * caller that has no schema.
 */
export function instantParam(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const instant = parseInstant(text);
  if (instant === undefined) throw badRequest(`${field}: not an RFC 3339 date-time of a real instant in years 0001–9999 (e.g. 2026-02-28T12:00:00Z).`);
  return instant;
}

/** `since` and `until` as dates; a 400 problem for a date that is none, or unless since is before until. */
export function parseTimeRange(query: TimeRangeQuerystring): { since: Date | undefined; until: Date | undefined } {
  const since = instantParam('since', query.since);
  const until = instantParam('until', query.until);
  if (since !== undefined && until !== undefined && since >= until) throw badRequest('since must be before until.');
  return { since, until };
}

/** Querystring properties of the search filters, for a route's `querystring` schema. */
export const searchFilterProperties = {
  q: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS },
  user: jidParamSchema,
  peer: jidParamSchema,
  ...timeRangeProperties,
  verdict: { type: 'string', enum: VERDICTS },
} as const;

export interface SearchFilterQuerystring extends TimeRangeQuerystring {
  q?: string;
  user?: string;
  peer?: string;
  verdict?: Verdict;
}

/**
 * The filters of a search or export; `user` and `peer` are bare JIDs or localparts of `domain`.
 * A 400 problem for a JID that is none, a peer without a user, or since not before until.
 */
export function parseSearchFilters(query: SearchFilterQuerystring, domain: string): ArchiveSearchFilters {
  const { q, verdict } = query;
  const user = query.user === undefined ? undefined : bareJidParam('user', query.user, domain);
  const peer = query.peer === undefined ? undefined : bareJidParam('peer', query.peer, domain);
  if (peer !== undefined && user === undefined) throw badRequest('peer: needs user (peer is the other side of user\'s conversations).');
  const { since, until } = parseTimeRange(query);
  return { q, user, peer, since, until, verdict };
}
