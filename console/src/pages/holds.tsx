// Held messages waiting for a decision: release delivers the message (with a delay stamp), reject
// tells the sender. Decided rows leave the list; two officers deciding at once get one 409.
import { useState } from 'preact/hooks';
import { get, post, problemFrom } from '../api.ts';
import { SeverityBadge } from '../components/badges.tsx';
import { Excerpt, ruleNames } from '../components/incident-row.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { navigate, type Route } from '../router.ts';
import type { Incident, Page, Problem } from '../types.ts';

const HOLDS_KEY = 'holds';

export function HoldsPage({ route: _route }: { route: Route }) {
  const list = usePaged<Incident>(HOLDS_KEY, (cursor) => get<Page<Incident>>('/incidents', { hold: 'held', status: 'open', limit: 50, cursor }));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const open = (index: number) => {
    const incident = list.items[index];
    if (incident) navigate(`/incidents/${encodeURIComponent(incident.id)}`, { hold: 'held' });
  };
  const nav = useListNavigation(HOLDS_KEY, list.items.length, open, () => void list.loadMore());

  const decide = async (incident: Incident, decision: 'release' | 'reject') => {
    setBusyId(incident.id);
    setProblem(null);
    try {
      await post<Incident>(`/incidents/${encodeURIComponent(incident.id)}/${decision}`, {});
      list.update((items) => items.filter((i) => i.id !== incident.id));
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusyId(null);
    }
  };
  const selectedIncident = list.items[nav.selected];
  useKeys({
    r: () => list.reload(),
    R: () => selectedIncident && void decide(selectedIncident, 'release'),
    X: () => selectedIncident && void decide(selectedIncident, 'reject'),
  });

  return (
    <section class="holds">
      <header class="page-head">
        <h1>Held messages</h1>
        <span class="muted">
          Nothing is delivered until you decide. <kbd>R</kbd> release, <kbd>X</kbd> reject the selected one.
        </span>
      </header>
      <ProblemBox problem={problem ?? list.problem} onDismiss={() => setProblem(null)} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No message is waiting for a decision.</p>}
      <ol class="rows" ref={nav.attach}>
        {list.items.map((incident, index) => (
          <li key={incident.id} class={`row hold-row${index === nav.selected ? ' selected' : ''}`} aria-selected={index === nav.selected} onClick={() => open(index)}>
            <span class="cell sev">
              <SeverityBadge severity={incident.severity} />
            </span>
            <span class="cell when">{formatTime(incident.messageTs)}</span>
            <span class="cell who">
              {incident.from} <span class="arrow">→</span> {incident.to}
            </span>
            <span class="cell rules">{ruleNames(incident)}</span>
            <span class="cell excerpt">
              <Excerpt incident={incident} />
            </span>
            <span class="cell decide" onClick={(e) => e.stopPropagation()}>
              <button type="button" class="good" disabled={busyId === incident.id} onClick={() => void decide(incident, 'release')}>
                Release
              </button>
              <button type="button" class="danger" disabled={busyId === incident.id} onClick={() => void decide(incident, 'reject')}>
                Reject
              </button>
            </span>
          </li>
        ))}
      </ol>
      <footer class="list-foot">
        <span class="muted">{list.items.length} waiting</span>
        {list.next && (
          <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
            Load more
          </button>
        )}
      </footer>
    </section>
  );
}
