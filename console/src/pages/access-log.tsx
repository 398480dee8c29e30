// The access log (auditors): who read or did what, newest first, filtered by actor, action,
// message and time; its hash chain verified on demand. No message content is ever shown here —
// only which messages were read.
import { useEffect, useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { compactJson, formatTime, isoToLocalInput, localInputToIso } from '../format.ts';
import { useKeys } from '../keys.ts';
import { navigate, param, type Route } from '../router.ts';
import type { AccessLogEntry, AccessLogVerify, Page, Problem } from '../types.ts';

const FIELDS = ['actor', 'action', 'messageId', 'since', 'until'] as const;
type Field = (typeof FIELDS)[number];
type Filters = Record<Field, string>;

/** The actions the server records (src/audit/access-log.types.ts), for the filter's list. */
const ACTIONS = [
  'search',
  'conversation.read',
  'export',
  'incident.list',
  'incident.read',
  'incident.assign',
  'incident.comment',
  'incident.resolve',
  'incident.reopen',
  'hold.release',
  'hold.reject',
  'legal-hold.create',
  'legal-hold.release',
  'retention.run',
  'retention.config',
  'account.create',
  'account.delete',
  'token.create',
  'token.revoke',
  'login',
  'login.failed',
  'logout',
  'access-log.read',
  'archive.verify',
];

export function AccessLogPage({ route }: { route: Route }) {
  const applied = Object.fromEntries(FIELDS.map((f) => [f, param(route, f)])) as Filters;
  const routeKey = FIELDS.map((f) => applied[f]).join('\u0000');
  const [form, setForm] = useState<Filters>(applied);
  // The form follows the address (back/forward, links).
  useEffect(() => setForm(applied), [routeKey]);
  const key = `access-log:${routeKey}`;
  const list = usePaged<AccessLogEntry>(key, (cursor) => get<Page<AccessLogEntry>>('/access-log', { ...applied, limit: 100, cursor }));
  const [expanded, setExpanded] = useState<string | null>(null);
  const toggle = (index: number) => {
    const entry = list.items[index];
    if (entry) setExpanded(expanded === String(entry.seq) ? null : String(entry.seq));
  };
  const nav = useListNavigation(key, list.items.length, toggle, () => void list.loadMore());
  useKeys({ r: () => list.reload(), '/': () => document.querySelector<HTMLInputElement>('input[name=actor]')?.focus() });

  const submit = (event: Event) => {
    event.preventDefault();
    navigate('/access-log', { ...form, actor: form.actor.trim(), messageId: form.messageId.trim() });
  };

  return (
    <section class="access-log">
      <header class="page-head">
        <h1>Access log</h1>
        <ChainCheck />
      </header>
      <form class="filter-form" onSubmit={submit}>
        <input name="actor" placeholder="Actor (account)" value={form.actor} onInput={(e) => setForm({ ...form, actor: e.currentTarget.value })} />
        <select name="action" value={form.action} onChange={(e) => setForm({ ...form, action: e.currentTarget.value })} aria-label="Action">
          <option value="">Any action</option>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <input name="messageId" placeholder="Message id (who read it)" value={form.messageId} onInput={(e) => setForm({ ...form, messageId: e.currentTarget.value })} />
        <label class="inline">
          From
          <input type="datetime-local" value={isoToLocalInput(form.since)} onInput={(e) => setForm({ ...form, since: localInputToIso(e.currentTarget.value) })} />
        </label>
        <label class="inline">
          to
          <input type="datetime-local" value={isoToLocalInput(form.until)} onInput={(e) => setForm({ ...form, until: localInputToIso(e.currentTarget.value) })} />
        </label>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      <ProblemBox problem={list.problem} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No entries match.</p>}
      {list.items.length > 0 && (
        <table class="grid log" ref={nav.attach}>
          <thead>
            <tr>
              <th class="num">#</th>
              <th>When</th>
              <th>Actor</th>
              <th>Role</th>
              <th>Via</th>
              <th>IP</th>
              <th>Action</th>
              <th>Query / detail</th>
              <th class="num">Messages</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((entry, index) => {
              const open = expanded === String(entry.seq);
              return [
                <tr key={entry.seq} class={`clickable${index === nav.selected ? ' selected' : ''}`} aria-selected={index === nav.selected} data-action={entry.action} onClick={() => toggle(index)}>
                  <td class="num mono">{entry.seq}</td>
                  <td class="nowrap">{formatTime(entry.at)}</td>
                  <td>{entry.actor}</td>
                  <td>{entry.role}</td>
                  <td>{entry.via}</td>
                  <td class="mono">{entry.ip}</td>
                  <td>
                    <span class={`action action-${entry.action.replace(/\W/g, '-')}`}>{entry.action}</span>
                  </td>
                  <td class="mono clip">{[compactJson(entry.query), compactJson(entry.detail)].filter((s) => s).join(' ')}</td>
                  <td class="num">{Number(entry.messageCount) > 0 ? entry.messageCount : ''}</td>
                </tr>,
                open && (
                  <tr key={`${entry.seq}-more`} class="expanded">
                    <td colSpan={9}>
                      <dl class="facts">
                        <dt>Query</dt>
                        <dd class="mono">{JSON.stringify(entry.query)}</dd>
                        <dt>Detail</dt>
                        <dd class="mono">{JSON.stringify(entry.detail)}</dd>
                        <dt>Message ids</dt>
                        <dd class="mono">{entry.messageIds.join(' ') || '–'}</dd>
                        <dt>Hash</dt>
                        <dd class="mono">{entry.hash}</dd>
                      </dl>
                    </td>
                  </tr>
                ),
              ];
            })}
          </tbody>
        </table>
      )}
      <footer class="list-foot">
        <span class="muted">
          {list.items.length} entries shown{list.next ? '' : list.loaded ? ' · no more' : ''} · <kbd>Enter</kbd> details
        </span>
        {list.next && (
          <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
            {list.loading ? 'Loading…' : 'Load more'}
          </button>
        )}
      </footer>
    </section>
  );
}

/** GET /api/v1/access-log/verify: is the log's hash chain intact? */
export function ChainCheck() {
  const [result, setResult] = useState<AccessLogVerify | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const check = async () => {
    setBusy(true);
    setProblem(null);
    try {
      setResult(await get<AccessLogVerify>('/access-log/verify'));
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="chain-check">
      <button type="button" onClick={() => void check()} disabled={busy}>
        {busy ? 'Verifying…' : 'Verify the access log chain'}
      </button>
      {result && (
        <span class={result.ok ? 'ok' : 'broken'} data-testid="access-log-verify">
          {result.ok ? `✓ intact (${result.rows} entries)` : `✗ broken at #${result.firstBroken?.seq ?? '?'}: ${result.firstBroken?.reason ?? ''}`}
        </span>
      )}
      <ProblemBox problem={problem} />
    </div>
  );
}
