// Held messages waiting for a decision: release delivers the message (with a delay stamp), reject
// tells the sender. Decided rows leave the list; two officers deciding at once get one 409, and the
// row decided by the other leaves the list with the server's word on who decided it. The buttons
// act at once; the single keys R and X ask first (a stray key must not deliver a message).
import { useState } from 'preact/hooks';
import { get, post, problemFrom } from '../api.ts';
import { SeverityBadge } from '../components/badges.tsx';
import { Excerpt, ruleNames } from '../components/incident-row.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Incident, Page, Problem } from '../types.ts';

const HOLDS_KEY = 'holds';
type Decision = 'release' | 'reject';
const incidentId = (i: Incident) => i.id;

export function HoldsPage({ route: _route }: { route: Route }) {
  const list = usePaged<Incident>(HOLDS_KEY, (cursor) => get<Page<Incident>>('/incidents', { hold: 'held', status: 'open', limit: 50, cursor }), { idOf: incidentId });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  /** A decision asked for from the keyboard, waiting for its confirmation. */
  const [asking, setAsking] = useState<{ incident: Incident; decision: Decision } | null>(null);
  const open = (index: number) => {
    const incident = list.items[index];
    if (incident) navigate(`/incidents/${encodeURIComponent(incident.id)}`, { hold: 'held' });
  };
  const nav = useListNavigation(HOLDS_KEY, list.items.length, open, () => void list.loadMore(), list.items.map(incidentId));

  const decide = async (incident: Incident, decision: Decision) => {
    setBusyId(incident.id);
    setProblem(null);
    try {
      await post<Incident>(`/incidents/${encodeURIComponent(incident.id)}/${decision}`, {});
      list.update((items) => items.filter((i) => i.id !== incident.id));
    } catch (err) {
      const p = problemFrom(err);
      setProblem(p);
      // Decided by someone else meanwhile (409: "already released by …") or gone (404): not waiting any more.
      if (p.status === 409 || p.status === 404) list.update((items) => items.filter((i) => i.id !== incident.id));
    } finally {
      setBusyId(null);
      setAsking(null);
    }
  };
  const selectedIncident = list.items[nav.selected];
  useKeys({
    r: () => void list.refresh(),
    R: () => selectedIncident && setAsking({ incident: selectedIncident, decision: 'release' }),
    X: () => selectedIncident && setAsking({ incident: selectedIncident, decision: 'reject' }),
  });

  return (
    <section class="holds">
      <header class="page-head">
        <h1>Held messages</h1>
        <span class="muted">
          Nothing is delivered until you decide. <kbd>R</kbd> release, <kbd>X</kbd> reject the selected one (each asks first).
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
            <span class="cell when">
              <a class="row-link" href={href(`/incidents/${encodeURIComponent(incident.id)}`, { hold: 'held' })} onClick={(e) => e.stopPropagation()}>
                {formatTime(incident.messageTs)}
              </a>
            </span>
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
      {asking && (
        <ConfirmDialog
          title={asking.decision === 'release' ? 'Release this held message?' : 'Reject this held message?'}
          confirmLabel={asking.decision === 'release' ? 'Release — deliver it' : 'Reject it'}
          danger={asking.decision === 'reject'}
          busy={busyId === asking.incident.id}
          onConfirm={() => void decide(asking.incident, asking.decision)}
          onCancel={() => setAsking(null)}
        >
          <p>
            {asking.incident.from} → {asking.incident.to}, {formatTime(asking.incident.messageTs)}:
          </p>
          <p class="quote">
            <Excerpt incident={asking.incident} />
          </p>
          <p class="muted">
            {asking.decision === 'release'
              ? `${asking.incident.to} receives it now. This cannot be taken back.`
              : `It is never delivered; ${asking.incident.from} is told so. This cannot be taken back.`}
          </p>
        </ConfirmDialog>
      )}
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
