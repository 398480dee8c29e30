// One incident: the message with every match marked, the facts, what happened to it so far, and
// the officer's actions (assign, comment, resolve or reopen; release or reject a held message).
// j/k step through the queue it was opened from without going back to it. The shell mounts one
// IncidentPage per id (key), so its state starts fresh for each incident.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post, problemFrom } from '../api.ts';
import { SeverityBadge, StatusLabel, VerdictBadge } from '../components/badges.tsx';
import { Highlighted, matchSpans } from '../components/highlight.tsx';
import { ruleNames } from '../components/incident-row.tsx';
import { cachedItems, patchCached } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { ago, DISPOSITION_LABELS, formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href, navigate, type Route } from '../router.ts';
import type { Disposition, Incident, IncidentDetail, IncidentEvent, Me, Problem } from '../types.ts';
import { queueFilters, queueKey } from './queue.tsx';

const DISPOSITIONS: readonly Disposition[] = ['true_positive', 'false_positive', 'escalated'];

export function conversationHref(incident: Pick<Incident, 'from' | 'to' | 'stanzaId'>): string {
  return href('/conversation', { a: incident.from, b: incident.to, around: incident.stanzaId });
}

export function IncidentPage({ id, route, me }: { id: string; route: Route; me: Me }) {
  const filters = queueFilters(route);
  const listKey = queueKey(filters, me);
  const backHref = href('/incidents', { ...filters, status: filters.status === 'open' ? '' : filters.status });
  const [detail, setDetail] = useState<IncidentDetail | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [actionProblem, setActionProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [disposition, setDisposition] = useState<Disposition>('true_positive');
  const [note, setNote] = useState('');
  const [comment, setComment] = useState('');
  const noteRef = useRef<HTMLTextAreaElement>(null);
  const commentRef = useRef<HTMLTextAreaElement>(null);
  const [generation, setGeneration] = useState(0);
  /** What another officer changed, found after one of our actions met a 409. */
  const [changed, setChanged] = useState<readonly string[] | null>(null);

  useEffect(() => {
    let cancelled = false;
    setProblem(null);
    setActionProblem(null);
    get<IncidentDetail>(`/incidents/${encodeURIComponent(id)}`)
      .then((d) => !cancelled && setDetail(d))
      .catch((err: unknown) => !cancelled && setProblem(problemFrom(err)));
    return () => {
      cancelled = true;
    };
  }, [id, generation]);

  /** Runs an action, then shows the incident as it now is (with its new event), here and in the queue. */
  const act = async (path: string, body: unknown) => {
    setBusy(true);
    setActionProblem(null);
    setChanged(null);
    try {
      const updated = await post<Incident>(`/incidents/${encodeURIComponent(id)}/${path}`, body);
      patchCached<Incident>(listKey, (items) => items.map((i) => (i.id === id ? { ...i, ...updated, excerpt: i.excerpt } : i)));
      setGeneration((g) => g + 1);
      return true;
    } catch (err) {
      const p = problemFrom(err);
      setActionProblem(p);
      // Someone else acted on it meanwhile: show it as it is now, and what changed since it was read.
      if (p.status === 409 && detail) {
        const before = detail;
        try {
          const now = await get<IncidentDetail>(`/incidents/${encodeURIComponent(id)}`);
          setDetail(now);
          setChanged(describeChanges(before, now, me.username));
          patchCached<Incident>(listKey, (items) => items.map((i) => (i.id === id ? { ...i, ...now, excerpt: i.excerpt } : i)));
        } catch {
          // The problem above already says what went wrong.
        }
      }
      return false;
    } finally {
      setBusy(false);
    }
  };

  const siblings = cachedItems<Incident>(listKey) ?? [];
  const position = siblings.findIndex((i) => i.id === id);
  const step = (delta: number) => {
    const target = siblings[position + delta];
    if (position >= 0 && target) navigate(`/incidents/${encodeURIComponent(target.id)}`, Object.fromEntries(route.params));
  };
  const chooseDisposition = (d: Disposition) => {
    setDisposition(d);
    noteRef.current?.focus();
  };
  const assignToggle = () => {
    if (detail) void act('assign', { assignee: detail.assignee === me.username ? null : me.username });
  };
  const back = () => {
    location.hash = backHref;
  };

  useKeys({
    u: back,
    Escape: (event) => {
      if (event.target instanceof HTMLElement && event.target.matches('input,textarea')) event.target.blur();
      else back();
    },
    j: () => step(1),
    k: () => step(-1),
    a: assignToggle,
    t: () => chooseDisposition('true_positive'),
    f: () => chooseDisposition('false_positive'),
    e: () => chooseDisposition('escalated'),
    c: () => commentRef.current?.focus(),
    v: () => {
      if (detail) location.hash = conversationHref(detail);
    },
  });

  const resolve = async (event: Event) => {
    event.preventDefault();
    if (await act('resolve', { disposition, ...(note.trim() ? { note: note.trim() } : {}) })) setNote('');
  };
  const addComment = async (event: Event) => {
    event.preventDefault();
    if (comment.trim() && (await act('comments', { text: comment.trim() }))) setComment('');
  };
  const decideHold = async (decision: 'release' | 'reject') => {
    if (await act(decision, note.trim() ? { note: note.trim() } : {})) setNote('');
  };
  const held = detail !== null && detail.status === 'open' && detail.holdState === 'held';

  return (
    <section class="incident">
      <nav class="crumbs">
        <a href={backHref}>← Queue</a>
        {position >= 0 && (
          <span class="muted">
            {' '}
            · {position + 1} of {siblings.length} loaded · <kbd>j</kbd>/<kbd>k</kbd> next/previous
          </span>
        )}
      </nav>
      <ProblemBox problem={problem} />
      {!detail && !problem && <p class="muted">Loading incident {id}…</p>}
      {detail && (
        <div class="incident-layout">
          <div class="incident-main">
            <header class="page-head">
              <h1>
                <SeverityBadge severity={detail.severity} /> <VerdictBadge verdict={detail.verdict} /> {ruleNames(detail)}
              </h1>
              <StatusLabel incident={detail} />
            </header>
            <MessagePanel detail={detail} />
            <EventList events={detail.events} />
          </div>
          <aside class="incident-side">
            <dl class="facts">
              <dt>Incident</dt>
              <dd>{detail.id}</dd>
              <dt>Sent</dt>
              <dd title={ago(detail.messageTs)}>{formatTime(detail.messageTs)}</dd>
              <dt>From</dt>
              <dd>{detail.from}</dd>
              <dt>To</dt>
              <dd>{detail.to}</dd>
              <dt>Source</dt>
              <dd>{detail.source}</dd>
              <dt>Assignee</dt>
              <dd>{detail.assignee ?? <span class="muted">nobody</span>}</dd>
              {detail.holdState && (
                <>
                  <dt>Hold</dt>
                  <dd>
                    {detail.holdState}
                    {detail.holdDecidedBy ? ` by ${detail.holdDecidedBy}` : ''}
                  </dd>
                </>
              )}
              {detail.status === 'resolved' && (
                <>
                  <dt>Resolved</dt>
                  <dd>
                    {detail.disposition ? DISPOSITION_LABELS[detail.disposition] : ''} {formatTime(detail.resolvedAt)}
                  </dd>
                </>
              )}
            </dl>
            <p>
              <a class="button" href={conversationHref(detail)}>
                Open conversation <kbd>v</kbd>
              </a>
            </p>
            <ProblemBox problem={actionProblem} onDismiss={() => setActionProblem(null)} />
            {changed && changed.length > 0 && (
              <div class="notice changed" role="status" data-testid="incident-changed">
                <strong>Changed by someone else while you had it open:</strong>
                <ul>
                  {changed.map((line) => (
                    <li key={line}>{line}</li>
                  ))}
                </ul>
              </div>
            )}
            {held && (
              // A held message waits for this decision before anything else: it is the primary action.
              <section class="hold-decision card" aria-label="Held message">
                <h2>Held — not delivered yet</h2>
                <p class="small">
                  {detail.to} has not received this message. <strong>Release</strong> delivers it now (stamped with its original time); <strong>Reject</strong> tells {detail.from} it was not delivered.
                </p>
                <textarea ref={noteRef} name="note" rows={2} placeholder="Note (optional, kept with the decision)" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
                <div class="button-row">
                  <button type="button" class="good-solid" disabled={busy} onClick={() => void decideHold('release')}>
                    Release — deliver it
                  </button>
                  <button type="button" class="danger-solid" disabled={busy} onClick={() => void decideHold('reject')}>
                    Reject
                  </button>
                </div>
                <p class="muted small">Resolve the incident once the message is decided.</p>
              </section>
            )}
            <div class="actions card">
              <button type="button" onClick={assignToggle} disabled={busy}>
                {detail.assignee === me.username ? 'Unassign me' : 'Assign to me'} <kbd>a</kbd>
              </button>
              {detail.status === 'open' && !held && (
                <form class="resolve" onSubmit={resolve}>
                  <fieldset>
                    <legend>Resolve as</legend>
                    {DISPOSITIONS.map((d) => (
                      <label key={d} class="radio">
                        <input type="radio" name="disposition" value={d} checked={disposition === d} onChange={() => setDisposition(d)} />
                        {DISPOSITION_LABELS[d]} <kbd>{d[0]}</kbd>
                      </label>
                    ))}
                  </fieldset>
                  <textarea ref={noteRef} name="note" rows={2} placeholder="Note (optional)" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
                  <div class="button-row">
                    <button type="submit" class="primary" disabled={busy}>
                      Resolve
                    </button>
                  </div>
                </form>
              )}
              {detail.status === 'resolved' && (
                <button type="button" onClick={() => void act('reopen', {})} disabled={busy}>
                  Reopen
                </button>
              )}
              <form class="comment" onSubmit={addComment}>
                <textarea ref={commentRef} name="comment" rows={2} placeholder="Comment (c)" value={comment} onInput={(e) => setComment(e.currentTarget.value)} aria-label="Comment" />
                <button type="submit" disabled={busy || comment.trim() === ''}>
                  Add comment
                </button>
              </form>
            </div>
          </aside>
        </div>
      )}
    </section>
  );
}

function MessagePanel({ detail }: { detail: IncidentDetail }) {
  const m = detail.message;
  if (!m) return <p class="muted">The archived message is not available (deleted by retention?).</p>;
  return (
    <article class="message-panel card">
      <header class="muted">
        {m.from} → {m.to} · {m.type} · {m.direction} · {formatTime(m.ts)}
      </header>
      <p class="body" data-testid="message-body">
        {m.body === null ? <span class="muted">(no body)</span> : <Highlighted text={m.body} spans={matchSpans(m.matches.length ? m.matches : detail.matches)} />}
      </p>
      {m.redactedBody !== null && m.redactedBody !== m.body && (
        <p class="redacted">
          <span class="muted">Delivered as: </span>
          {m.redactedBody}
        </p>
      )}
      {m.reason && <p class="muted">Reason: {m.reason}</p>}
      <ul class="match-list">
        {(m.matches.length ? m.matches : detail.matches).map((match) => (
          <li key={`${match.ruleId}:${match.start}`}>
            <mark class="mark-rule">{match.match}</mark> {match.ruleName} · <SeverityBadge severity={match.severity} /> · {match.action}
          </li>
        ))}
      </ul>
    </article>
  );
}

function describeEvent(e: IncidentEvent): string {
  const d = e.detail;
  const parts: string[] = [];
  if (typeof d.disposition === 'string') parts.push(DISPOSITION_LABELS[d.disposition] ?? d.disposition);
  if ('assignee' in d) parts.push(d.assignee === null ? 'unassigned' : `→ ${String(d.assignee)}`);
  if (typeof d.text === 'string') parts.push(d.text);
  if (typeof d.note === 'string') parts.push(d.note);
  return parts.join(' · ');
}

function EventList({ events }: { events: readonly IncidentEvent[] }) {
  if (events.length === 0) return null;
  return (
    <section class="events">
      <h2>History</h2>
      <ol>
        {events.map((e) => (
          <li key={e.id}>
            <span class="when">{formatTime(e.at)}</span> <strong>{e.actor}</strong> <span class="action">{e.action}</span> {describeEvent(e)}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Pure: what differs between the incident as it was read and as it is now, in words (after a 409). */
export function describeChanges(before: IncidentDetail, now: IncidentDetail, me: string): string[] {
  const lines: string[] = [];
  const who = (name: string | null | undefined) => (name ? (name === me ? `${name} (you)` : name) : 'nobody');
  if (before.status !== now.status) {
    lines.push(`Status: ${before.status} → ${now.status}${now.status === 'resolved' && now.disposition ? ` as ${DISPOSITION_LABELS[now.disposition] ?? now.disposition}` : ''}`);
  } else if (before.disposition !== now.disposition && now.disposition) {
    lines.push(`Disposition: ${DISPOSITION_LABELS[now.disposition] ?? now.disposition}`);
  }
  if ((before.assignee ?? null) !== (now.assignee ?? null)) lines.push(`Assignee: ${who(before.assignee)} → ${who(now.assignee)}`);
  if (before.holdState !== now.holdState) lines.push(`Held message: ${before.holdState ?? 'none'} → ${now.holdState ?? 'none'}${now.holdDecidedBy ? ` by ${now.holdDecidedBy}` : ''}`);
  const seen = new Set(before.events.map((e) => e.id));
  for (const e of now.events) {
    if (!seen.has(e.id)) lines.push(`${formatTime(e.at)}: ${e.actor} ${e.action}${describeEvent(e) ? ` · ${describeEvent(e)}` : ''}`);
  }
  return lines;
}
