// The archive search's filters as GET /api/v1/messages and GET /api/v1/export take them
// (q, user, peer, since, until, verdict): one querystring schema and one parser, so a filter
// means the same in a search and in the export of it. The since/until range on its own is
// shared with the other routes bounded in time (access log, rule statistics).
import type { Verdict } from '../audit/archive-record.ts';
import { MAX_QUERY_CHARS, VERDICTS, type ArchiveSearchFilters } from '../audit/archive-search.ts';
import { badRequest } from './errors.ts';
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

/** `since` and `until` as dates; a 400 problem unless since is before until. */
export function parseTimeRange(query: TimeRangeQuerystring): { since: Date | undefined; until: Date | undefined } {
  const since = query.since === undefined ? undefined : new Date(query.since);
  const until = query.until === undefined ? undefined : new Date(query.until);
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
