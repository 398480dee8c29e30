// Per-rule statistics: GET /api/v1/rules/stats?since=&until= — how often each rule fired and how
// officers judged its incidents, so a rule that mostly raises false positives can be tuned.
// Counts only, no message content: not an access-log read. Officers tune, admins edit rules.
import type { FastifyPluginAsync } from 'fastify';
import type { IncidentStore, RuleStats } from '../../audit/incident-store.ts';
import { problemSchema } from '../errors.ts';
import { parseTimeRange, timeRangeProperties, type TimeRangeQuerystring } from '../search-filters.ts';

export interface RuleStatsRoutesDeps {
  readonly store: Pick<IncidentStore, 'ruleStats'>;
}

/**
 * Share of a rule's reviewed incidents judged false positives: falsePositive / (truePositive +
 * falsePositive + escalated). Null until one is resolved — 0 would claim a perfect rule. Open
 * incidents do not count: nobody has judged them yet.
 */
export function falsePositiveRate(s: Pick<RuleStats, 'truePositive' | 'falsePositive' | 'escalated'>): number | null {
  const reviewed = s.truePositive + s.falsePositive + s.escalated;
  return reviewed === 0 ? null : s.falsePositive / reviewed;
}

const count = { type: 'integer', minimum: 0 } as const;

const ruleStatsSchema = {
  type: 'object',
  required: ['ruleId', 'name', 'deleted', 'hits', 'open', 'truePositive', 'falsePositive', 'escalated', 'falsePositiveRate'],
  properties: {
    ruleId: { type: 'string' },
    name: { type: 'string' },
    // A deleted rule is listed while incidents of the period still name it.
    deleted: { type: 'boolean' },
    hits: count,
    open: count,
    truePositive: count,
    falsePositive: count,
    escalated: count,
    falsePositiveRate: { type: ['number', 'null'] },
  },
} as const;

export function ruleStatsRoutes(deps: RuleStatsRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: TimeRangeQuerystring }>(
      '/',
      {
        config: { roles: ['officer', 'admin'] },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            // Bound the time of the messages that hit (incidents.message_ts), as search's since/until do.
            properties: timeRangeProperties,
          },
          response: {
            200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ruleStatsSchema } } },
            400: problemSchema,
          },
        },
      },
      async (request) => {
        const { since, until } = parseTimeRange(request.query);
        // One row per rule (a few hundred at most): a list that does not grow with traffic, so no pages.
        const stats = await deps.store.ruleStats({ ...(since && { since }), ...(until && { until }) });
        return { items: stats.map((s) => ({ ...s, falsePositiveRate: falsePositiveRate(s) })) };
      },
    );
  };
}
