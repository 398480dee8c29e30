// Archive search: a substring (Chinese or English), a user and the other side, a time range, a
// verdict. The server matches the text as it is, ignoring only letter case (ILIKE / lower() in
// src/audit/archive-search.ts). Unlike rules, it does not fold full-width characters or
// Traditional to Simplified Chinese: 機密 does not find 机密, nor ＡＢＣ abc. The help text says so. Results one page at a time; Enter opens
// the conversation around the selected message. Export downloads every message the search finds
// (not only the loaded page) as one file; its manifest is on the Exports page.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { MessageRow, messageConversationHref } from '../components/message-row.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { isoToLocalInput, localInputToIso, localInputZone } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href, navigate, param, type Route } from '../router.ts';
import { VERDICTS, type ArchivedMessage, type ExportFormat, type Page } from '../types.ts';
import { EXPORT_FORMATS, exportUrl } from './exports.tsx';

const FIELDS = ['q', 'user', 'peer', 'since', 'until', 'verdict'] as const;
type Field = (typeof FIELDS)[number];
type Filters = Record<Field, string>;
export const SEARCH_PAGE_SIZE = 50;

export function SearchPage({ route }: { route: Route }) {
  const applied = Object.fromEntries(FIELDS.map((f) => [f, param(route, f)])) as Filters;
  const [form, setForm] = useState<Filters>(applied);
  const qRef = useRef<HTMLInputElement>(null);
  const routeKey = FIELDS.map((f) => applied[f]).join('\u0000');
  // The form follows the address (back/forward, links), keyed by the filters rather than the object.
  useEffect(() => setForm(applied), [routeKey]);

  const anyFilter = FIELDS.some((f) => applied[f] !== '');
  const key = anyFilter ? `search:${routeKey}` : null;
  const list = usePaged<ArchivedMessage>(key, (cursor) => get<Page<ArchivedMessage>>('/messages', { ...applied, limit: SEARCH_PAGE_SIZE, cursor }));
  const open = (index: number) => {
    const m = list.items[index];
    if (m) location.hash = messageConversationHref(m);
  };
  const nav = useListNavigation(key ?? 'search:none', list.items.length, open, () => void list.loadMore());
  useKeys({ '/': () => qRef.current?.focus(), r: () => list.reload() });

  const submit = (event: Event) => {
    event.preventDefault();
    qRef.current?.blur();
    navigate('/search', { ...form, q: form.q.trim(), user: form.user.trim(), peer: form.peer.trim() });
  };
  const set = (field: Field) => (event: Event) => setForm({ ...form, [field]: (event.currentTarget as HTMLInputElement).value });

  return (
    <section class="search">
      <header class="page-head">
        <h1>Archive search</h1>
        {anyFilter && !list.problem && <ExportControl key={routeKey} filters={applied} />}
      </header>
      <form class="filter-form" onSubmit={submit} role="search">
        <input
          ref={qRef}
          class="grow"
          name="q"
          type="search"
          placeholder="Text (Chinese or English) — press / to focus"
          aria-label="Text"
          aria-describedby="search-help"
          value={form.q}
          onInput={set('q')}
          autoFocus={!anyFilter}
        />
        <input name="user" placeholder="User (alice or alice@domain)" aria-label="User" value={form.user} onInput={set('user')} />
        <input name="peer" placeholder="Other side (needs user)" aria-label="Other side" value={form.peer} onInput={set('peer')} />
        <label class="inline">
          From
          <input name="since" type="datetime-local" value={isoToLocalInput(form.since)} onInput={(e) => setForm({ ...form, since: localInputToIso(e.currentTarget.value) })} />
        </label>
        <label class="inline">
          to
          <input name="until" type="datetime-local" value={isoToLocalInput(form.until)} onInput={(e) => setForm({ ...form, until: localInputToIso(e.currentTarget.value) })} />
          <span class="muted small">({localInputZone()})</span>
        </label>
        <select name="verdict" value={form.verdict} onChange={set('verdict')} aria-label="Verdict">
          <option value="">Any verdict</option>
          {VERDICTS.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <p class="muted small search-help" id="search-help">
        Finds the text exactly as typed, ignoring only upper/lower case. It does not fold full-width letters or Traditional/Simplified Chinese as rules do: search 機密 and 机密
        separately. Every search is recorded in the access log.
      </p>
      <ProblemBox problem={list.problem} />
      {!anyFilter && <p class="empty">Search the archive by text, user, time or verdict.</p>}
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No message matches.</p>}
      <ol class="rows" ref={nav.attach} aria-label="Messages">
        {list.items.map((m, index) => (
          <MessageRow key={m.id} message={m} term={applied.q} selected={index === nav.selected} onOpen={() => open(index)} />
        ))}
      </ol>
      {anyFilter && (
        <footer class="list-foot">
          <span class="muted">
            {list.loading && list.items.length === 0 ? 'Searching…' : `${list.items.length} shown${list.next ? '' : list.loaded ? ' · no more' : ''}`}
          </span>
          {list.next && (
            <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
              {list.loading ? 'Loading…' : 'Load more'}
            </button>
          )}
        </footer>
      )}
    </section>
  );
}

/**
 * Format + a download link for the applied search (the address's filters, not unsent edits in
 * the form). A plain link: the browser streams the file to disk, however large, with the session
 * cookie; the server names it (warden-export-<id>.<ext>).
 */
function ExportControl({ filters }: { filters: Filters }) {
  const [format, setFormat] = useState<ExportFormat>('jsonl');
  const [started, setStarted] = useState(false);
  return (
    <div class="export-control">
      <select name="export-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as ExportFormat)} aria-label="Export format">
        {EXPORT_FORMATS.map((f) => (
          <option key={f.format} value={f.format}>
            {f.label}
          </option>
        ))}
      </select>
      <a class="button" href={exportUrl(filters, format)} download data-testid="export-link" onClick={() => setStarted(true)} title="Download every message this search finds, oldest first (recorded in the access log)">
        Export
      </a>
      {started && (
        <span class="notice export-started">
          Export started — the file downloads as it is written. Its message count and SHA-256: <a href={href('/exports')}>Exports</a>.
        </span>
      )}
    </div>
  );
}
