// The access log (auditors): who read or did what, newest first, filtered by actor, action, API
// token, message and time; its hash chain verified on demand. No message content is ever shown
// here — only which messages were read.
import { useEffect, useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { CopyButton } from '../components/copy.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { compactJson, formatTime, isoToLocalInput, localInputToIso, localInputZone } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href, navigate, param, type Route } from '../router.ts';
import { ACCESS_ACTIONS, type AccessLogEntry, type AccessLogHead, type AccessLogVerify, type Page, type Problem } from '../types.ts';

/** Exactly the filters GET /api/v1/access-log declares (it refuses any other with a 400). */
const FIELDS = ['actor', 'action', 'tokenId', 'messageId', 'since', 'until'] as const;
type Field = (typeof FIELDS)[number];
type Filters = Record<Field, string>;

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
    navigate('/access-log', { ...form, actor: form.actor.trim(), tokenId: form.tokenId.trim(), messageId: form.messageId.trim() });
  };

  return (
    <section class="access-log">
      <header class="page-head">
        <h1>Access log</h1>
        <ChainCheck />
      </header>
      <form class="filter-form" onSubmit={submit}>
        <input name="actor" placeholder="Actor (account)" aria-label="Actor" value={form.actor} onInput={(e) => setForm({ ...form, actor: e.currentTarget.value })} />
        <select name="action" value={form.action} onChange={(e) => setForm({ ...form, action: e.currentTarget.value })} aria-label="Action">
          <option value="">Any action</option>
          {ACCESS_ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
        <input name="tokenId" placeholder="API token id" aria-label="API token id" value={form.tokenId} onInput={(e) => setForm({ ...form, tokenId: e.currentTarget.value })} />
        <input name="messageId" placeholder="Message id (who read it)" aria-label="Message id" value={form.messageId} onInput={(e) => setForm({ ...form, messageId: e.currentTarget.value })} />
        <label class="inline">
          From
          <input name="since" type="datetime-local" value={isoToLocalInput(form.since)} onInput={(e) => setForm({ ...form, since: localInputToIso(e.currentTarget.value) })} />
        </label>
        <label class="inline">
          to
          <input name="until" type="datetime-local" value={isoToLocalInput(form.until)} onInput={(e) => setForm({ ...form, until: localInputToIso(e.currentTarget.value) })} />
          <span class="muted small">({localInputZone()})</span>
        </label>
        <button type="submit" class="primary">
          Filter
        </button>
      </form>
      <ProblemBox problem={list.problem} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No entries match.</p>}
      {list.items.length > 0 && (
        <div class="table-scroll">
          <table class="grid log" ref={nav.attach}>
            <thead>
              <tr>
                <th class="num">#</th>
                <th>When</th>
                <th>Actor</th>
                <th>Role</th>
                <th>Via</th>
                <th title="The API token used: tells an account's own token from one an administrator made for it">Token</th>
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
                    <td class="num mono">
                      <button
                        type="button"
                        class="link mono"
                        aria-expanded={open}
                        title="Details (Enter)"
                        onClick={(e) => {
                          e.stopPropagation();
                          toggle(index);
                        }}
                      >
                        {entry.seq}
                      </button>
                    </td>
                    <td class="nowrap">{formatTime(entry.at)}</td>
                    <td>{entry.actor}</td>
                    <td>{entry.role}</td>
                    <td>{entry.via}</td>
                    <td class="mono" data-testid="token-id">
                      {entry.tokenId === null ? (
                        ''
                      ) : (
                        <a href={href('/access-log', { tokenId: entry.tokenId })} title="Everything done with this token" onClick={(e) => e.stopPropagation()}>
                          {entry.tokenId}
                        </a>
                      )}
                    </td>
                    <td class="mono">{entry.ip}</td>
                    <td>
                      <span class={`action action-${entry.action.replace(/\W/g, '-')}`}>{entry.action}</span>
                    </td>
                    <td class="mono clip">{[compactJson(entry.query), compactJson(entry.detail)].filter((s) => s).join(' ')}</td>
                    <td class="num">{Number(entry.messageCount) > 0 ? entry.messageCount : ''}</td>
                  </tr>,
                  open && (
                    <tr key={`${entry.seq}-more`} class="expanded">
                      <td colSpan={10}>
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
        </div>
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

/** GET /api/v1/access-log/verify: is the log's hash chain intact, and where does it end now? */
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
          {result.ok
            ? `✓ intact (${result.rows} entries${result.exportMessageIds ? `, ${result.exportMessageIds} exported message ids` : ''})`
            : `✗ broken at #${result.firstBroken?.seq ?? '?'}: ${result.firstBroken?.reason ?? ''}`}
        </span>
      )}
      {result?.head && <HeadLine head={result.head} />}
      <ProblemBox problem={problem} />
    </div>
  );
}

/** The text an auditor keeps outside Warden: enough to check later that nothing before it changed or went. */
export const headText = (head: AccessLogHead) => `access log head: seq ${head.seq}, hash ${head.hash}, at ${head.at}`;

/** The chain's newest entry, to note down (copy) and check later. */
export function HeadLine({ head, label = 'Head:' }: { head: AccessLogHead; label?: string }) {
  return (
    <span class="head-line" data-testid="access-log-head">
      {label} <span class="mono">#{head.seq}</span> <code class="hash" title={head.hash}>{head.hash.slice(0, 16)}…</code> <span class="muted">{formatTime(head.at)}</span>{' '}
      <CopyButton text={headText(head)} label="Copy head" title="Copies the head's seq, hash and time: keep them outside Warden, check them later on Verify" />
    </span>
  );
}
