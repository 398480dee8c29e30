// Open incidents by severity for /metrics: one GROUP BY over the open incidents, cached for a
// few seconds so that several scrapers (or a scrape storm) cost one query, and bounded in time
// so a slow database makes the scrape show the last known counts instead of hanging it.
import type { Sql } from 'postgres';
import type { Severity } from '../audit/policy/rule.ts';
import type { Logger } from '../log.ts';
import { SEVERITY_LABELS } from './warden-metrics.ts';

export type SeverityCounts = Readonly<Record<Severity, number>>;

export interface OpenIncidentCounterOptions {
  /** Counts younger than this are served without a query. */
  readonly maxAgeMs?: number;
  /** A query slower than this leaves the last known counts in place (the query still finishes). */
  readonly timeoutMs?: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

/** Returns the counts, or undefined when none could be read yet. */
export type OpenIncidentCounter = () => Promise<SeverityCounts | undefined>;

export async function queryOpenIncidents(sql: Sql): Promise<SeverityCounts> {
  const rows = await sql<{ severity: Severity; n: number }[]>`
    SELECT severity, count(*)::int AS n FROM incidents WHERE status = 'open' GROUP BY severity`;
  const counts: Record<Severity, number> = { low: 0, medium: 0, high: 0, critical: 0 };
  for (const r of rows) if (SEVERITY_LABELS.includes(r.severity)) counts[r.severity] = r.n;
  return counts;
}

export function cachedOpenIncidents(query: () => Promise<SeverityCounts>, opts: OpenIncidentCounterOptions = {}): OpenIncidentCounter {
  const maxAgeMs = opts.maxAgeMs ?? 5000;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const now = opts.now ?? Date.now;
  let last: { at: number; counts: SeverityCounts } | undefined;
  let inFlight: Promise<void> | undefined;
  let warned = false;

  const refresh = () =>
    (inFlight ??= query().then(
      (counts) => {
        last = { at: now(), counts };
        warned = false;
      },
      (err: unknown) => {
        // Logged once per outage; /readyz is where a database failure is reported.
        if (!warned) opts.log?.warn('metrics: could not count open incidents', { error: String(err) });
        warned = true;
      },
    ).finally(() => (inFlight = undefined)));

  return async () => {
    if (last !== undefined && now() - last.at < maxAgeMs) return last.counts;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([refresh(), timeout]);
    clearTimeout(timer);
    return last?.counts;
  };
}
