// The incident queue: newest first, filtered by status, severity, hold state and assignee; one page
// at a time ("load more"), driven from the keyboard (j/k, Enter, r). The filters are in the
// address, so the queue is the same after a reload and the incident page can come back to it.
// It refreshes itself every 30 s while it is on screen and in use; the selected row stays selected.
import { get } from '../api.ts';
import { IncidentRow } from '../components/incident-row.tsx';
import { useAutoRefresh, usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { useKeys } from '../keys.ts';
import { href, navigate, param, type Route } from '../router.ts';
import { formatTime } from '../format.ts';
import { SEVERITIES, type Incident, type Me, type Page } from '../types.ts';

export const QUEUE_PAGE_SIZE = 50;
export const QUEUE_REFRESH_MS = 30_000;
/** The queue's filters, as they appear in the address. */
export const QUEUE_FILTERS = ['status', 'severity', 'hold', 'mine', 'unassigned', 'rule'] as const;

export interface QueueFilters {
  readonly status: string;
  readonly severity: string;
  readonly hold: string;
  /** '1': assigned to me. */
  readonly mine: string;
  /** '1': assigned to nobody (the API's unassigned=true; it refuses it together with assignee). */
  readonly unassigned: string;
  readonly rule: string;
}

export function queueFilters(route: Route): QueueFilters {
  // The queue shows open incidents unless told otherwise ('all' shows every status).
  const mine = param(route, 'mine');
  return {
    status: param(route, 'status') || 'open',
    severity: param(route, 'severity'),
    hold: param(route, 'hold'),
    mine,
    unassigned: mine ? '' : param(route, 'unassigned'),
    rule: param(route, 'rule'),
  };
}

/** The paged-list key of the queue with these filters (the incident page reads the same list for j/k). */
export const queueKey = (f: QueueFilters, me: Me) => `incidents:${f.status}:${f.severity}:${f.hold}:${f.mine ? me.username : ''}:${f.unassigned}:${f.rule}`;

/** Only parameters GET /api/v1/incidents declares: it refuses any other with a 400. */
export function fetchQueuePage(f: QueueFilters, me: Me, cursor: string | undefined): Promise<Page<Incident>> {
  return get<Page<Incident>>('/incidents', {
    status: f.status === 'all' ? undefined : f.status,
    severity: f.severity,
    hold: f.hold,
    rule: f.rule,
    assignee: f.mine ? me.username : undefined,
    unassigned: !f.mine && f.unassigned ? true : undefined,
    limit: QUEUE_PAGE_SIZE,
    cursor,
  });
}

const incidentId = (i: Incident) => i.id;

function Chip({ label, active, to, class: extra }: { label: string; active: boolean; to: string; class?: string }) {
  return (
    <a class={`chip${extra ? ` ${extra}` : ''}${active ? ' active' : ''}`} href={to} aria-pressed={active}>
      {label}
    </a>
  );
}

export function QueuePage({ route, me }: { route: Route; me: Me }) {
  const filters = queueFilters(route);
  const key = queueKey(filters, me);
  const list = usePaged<Incident>(key, (cursor) => fetchQueuePage(filters, me, cursor), { idOf: incidentId });
  const incidentQuery = { ...filters, status: filters.status === 'open' ? '' : filters.status };
  const open = (index: number) => {
    const incident = list.items[index];
    if (incident) navigate(`/incidents/${encodeURIComponent(incident.id)}`, incidentQuery);
  };
  const nav = useListNavigation(key, list.items.length, open, () => void list.loadMore(), list.items.map(incidentId));
  useKeys({ r: () => void list.refresh(), '/': () => navigate('/search') });
  useAutoRefresh(list.refresh, QUEUE_REFRESH_MS);

  const withFilter = (change: Partial<QueueFilters>) => {
    const next = { ...filters, ...change };
    return href('/incidents', { ...next, status: next.status === 'open' ? '' : next.status });
  };

  return (
    <section class="queue">
      <header class="page-head">
        <h1>Incident queue</h1>
        <div class="filters" role="toolbar" aria-label="Filters">
          <span class="group" aria-label="Status">
            <Chip label="Open" active={filters.status === 'open'} to={withFilter({ status: 'open' })} />
            <Chip label="Resolved" active={filters.status === 'resolved'} to={withFilter({ status: 'resolved' })} />
            <Chip label="All" active={filters.status === 'all'} to={withFilter({ status: 'all' })} />
          </span>
          <span class="group" aria-label="Severity">
            <Chip label="Any severity" active={filters.severity === ''} to={withFilter({ severity: '' })} />
            {SEVERITIES.map((s) => (
              <Chip key={s} class="sev" label={s} active={filters.severity === s} to={withFilter({ severity: s })} />
            ))}
          </span>
          <span class="group">
            <Chip label="Held only" active={filters.hold === 'held'} to={withFilter({ hold: filters.hold === 'held' ? '' : 'held' })} />
            <Chip label="Assigned to me" active={filters.mine !== ''} to={withFilter({ mine: filters.mine ? '' : '1', unassigned: '' })} />
            <Chip label="Nobody assigned" active={filters.unassigned !== ''} to={withFilter({ unassigned: filters.unassigned ? '' : '1', mine: '' })} />
          </span>
          <button type="button" onClick={() => void list.refresh()} title="Refresh (r)">
            Refresh <kbd>r</kbd>
          </button>
        </div>
      </header>
      <ProblemBox problem={list.problem} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No incidents match these filters.</p>}
      <ol class="rows" ref={nav.attach} aria-label="Incidents">
        {list.items.map((incident, index) => (
          <IncidentRow
            key={incident.id}
            incident={incident}
            selected={index === nav.selected}
            href={href(`/incidents/${encodeURIComponent(incident.id)}`, incidentQuery)}
            onOpen={() => open(index)}
          />
        ))}
      </ol>
      <footer class="list-foot">
        <span class="muted">
          {list.items.length} loaded{list.next ? '' : list.loaded ? ' · end of list' : ''}
          {list.fetchedAt !== null && (
            <span data-testid="queue-updated" title="Refreshes by itself every 30 s while on screen">
              {' '}
              · updated {formatTime(new Date(list.fetchedAt).toISOString()).slice(11)}
            </span>
          )}{' '}
          · <kbd>j</kbd>/<kbd>k</kbd> move, <kbd>Enter</kbd> open, <kbd>?</kbd> all keys
        </span>
        {list.next && (
          <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
            {list.loading ? 'Loading…' : 'Load more'}
          </button>
        )}
        {list.loading && !list.next && <span class="muted">Loading…</span>}
      </footer>
    </section>
  );
}
