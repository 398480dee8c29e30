// eDiscovery exports (officers): the manifest of every export file — who made it, which filters
// (with the end time the server fixed), how many messages, its size and SHA-256 — newest first.
// The files themselves are not kept on the server: the officer downloads one from the search page
// (GET /api/v1/export, streamed) and checks it against its manifest here. An export is complete
// only once the whole file has left the server; a running export is polled until it ends, and a
// failed one says why (and how much had been sent), with no SHA-256 to trust.
import { useEffect, useRef } from 'preact/hooks';
import { apiUrl, get } from '../api.ts';
import { CopyButton, useCopy } from '../components/copy.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { formatBytes, formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href } from '../router.ts';
import type { ExportFailure, ExportFormat, ExportManifest, Page } from '../types.ts';

/** Why an export failed, in words (GET /api/v1/exports: `failure`). */
export const FAILURE_WORDS: Readonly<Record<ExportFailure, string>> = {
  disconnected: 'the download was cut off before the end (browser closed, network dropped or download cancelled)',
  error: 'the server hit an error while writing the file',
  shutdown: 'the server was shutting down',
  interrupted: 'the server stopped while it ran (how much was sent is unknown)',
};

export const EXPORT_FORMATS: readonly { readonly format: ExportFormat; readonly label: string; readonly extension: string }[] = [
  { format: 'jsonl', label: 'JSON Lines', extension: 'jsonl' },
  { format: 'csv', label: 'CSV', extension: 'csv' },
  // An mboxrd file of RFC 5322 messages, one per chat message (format=eml).
  { format: 'eml', label: 'mbox (e-mail)', extension: 'mbox' },
];

/** The search filters an export takes (GET /api/v1/export). */
export const EXPORT_FILTERS = ['q', 'user', 'peer', 'since', 'until', 'verdict'] as const;
export type ExportFilters = Partial<Record<(typeof EXPORT_FILTERS)[number], string>>;

/** The download address of an export (the session cookie authenticates a GET, so a link will do). */
export function exportUrl(filters: ExportFilters, format: ExportFormat): string {
  return apiUrl('/export', { ...Object.fromEntries(EXPORT_FILTERS.map((f) => [f, filters[f]])), format });
}

/** The name the server gives the file (Content-Disposition). */
export function exportFileName(m: Pick<ExportManifest, 'id' | 'format'>): string {
  const extension = EXPORT_FORMATS.find((f) => f.format === m.format)?.extension ?? m.format;
  return `warden-export-${m.id}.${extension}`;
}

/** The manifest's filters as strings (the query object holds the ones given, `until` always). */
function filtersOf(m: ExportManifest): ExportFilters {
  const out: ExportFilters = {};
  for (const f of EXPORT_FILTERS) {
    const value = m.query[f];
    if (typeof value === 'string' && value !== '') out[f] = value;
  }
  return out;
}

/** `sha256sum -c` reads this line: "<hash>  <file>". */
const checksumLine = (m: ExportManifest) => `${m.sha256 ?? ''}  ${exportFileName(m)}`;
const manifestText = (m: ExportManifest) => JSON.stringify({ ...m, file: exportFileName(m) }, null, 2);

const EXPORTS_KEY = 'exports';
const POLL_MS = 1500;

export function ExportsPage() {
  const list = usePaged<ExportManifest>(EXPORTS_KEY, (cursor) => get<Page<ExportManifest>>('/exports', { limit: 50, cursor }), { fresh: true });
  const nav = useListNavigation(EXPORTS_KEY, list.items.length, () => {});
  const [copyState, copy] = useCopy();
  const selected = list.items[nav.selected];
  useKeys({
    r: () => list.reload(),
    c: () => {
      if (selected?.sha256) copy(checksumLine(selected));
    },
    m: () => {
      if (selected) copy(manifestText(selected));
    },
  });

  // Running exports: ask for their manifests until they end (one update for all, so none is lost).
  const update = useRef(list.update);
  update.current = list.update;
  const running = list.items.filter((m) => m.status === 'running').map((m) => m.id).join(',');
  useEffect(() => {
    if (running === '') return;
    const ids = running.split(',');
    const timer = setInterval(() => {
      void Promise.all(ids.map((id) => get<ExportManifest>(`/exports/${encodeURIComponent(id)}`).catch(() => undefined))).then((fresh) => {
        const byId = new Map(fresh.filter((m): m is ExportManifest => m !== undefined).map((m) => [m.id, m]));
        update.current((items) => items.map((m) => byId.get(m.id) ?? m));
      });
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [running]);

  return (
    <section class="exports">
      <header class="page-head">
        <h1>Exports</h1>
        <span class="muted">
          Start an export from <a href={href('/search')}>Search</a>. Check a file against its manifest: <code>sha256sum -c</code> with the copied line.
        </span>
        {copyState !== 'idle' && <span class={copyState === 'copied' ? 'ok' : 'broken'}>{copyState === 'copied' ? 'Copied ✓' : 'Copy failed'}</span>}
      </header>
      <ProblemBox problem={list.problem} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">No export yet. Search the archive, then choose Export.</p>}
      {list.items.length > 0 && (
        <table class="grid exports-table" ref={nav.attach}>
          <thead>
            <tr>
              <th class="num">#</th>
              <th>Started</th>
              <th>By</th>
              <th>Format</th>
              <th>Filters</th>
              <th>Status</th>
              <th class="num">Messages</th>
              <th class="num">Size</th>
              <th>SHA-256</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.items.map((m, index) => (
              <tr key={m.id} class={index === nav.selected ? 'selected' : ''} aria-selected={index === nav.selected} data-export={m.id} data-status={m.status} onClick={() => nav.select(index)}>
                <td class="num mono">{m.id}</td>
                <td class="nowrap">
                  {formatTime(m.createdAt)}
                  {m.finishedAt && <div class="muted small">ended {formatTime(m.finishedAt)}</div>}
                </td>
                <td>{m.account}</td>
                <td>{m.format}</td>
                <td class="filters-cell">
                  <QuerySummary manifest={m} />
                </td>
                <td class="status-cell">
                  <span class={`export-status status-${m.status}`}>{m.status}</span>
                  {m.status === 'failed' && (
                    <div class="failure small" data-testid="export-failure">
                      {m.failure ? FAILURE_WORDS[m.failure] : 'no reason recorded'}
                      {m.count !== null && `; ${m.count} messages (${formatBytes(m.bytes)}) had been sent`}. Download it again.
                    </div>
                  )}
                </td>
                <td class="num" data-testid="export-count">
                  {m.count ?? ''}
                </td>
                <td class="num nowrap" title={m.bytes === null ? '' : `${m.bytes} bytes`}>
                  {formatBytes(m.bytes)}
                </td>
                <td>
                  {m.sha256 ? (
                    <code class="hash" data-testid="export-sha256">
                      {m.sha256}
                    </code>
                  ) : (
                    <span class="muted">{m.status === 'running' ? 'when complete' : m.status === 'failed' ? 'none: the file is incomplete' : '–'}</span>
                  )}
                </td>
                <td onClick={(e) => e.stopPropagation()}>
                  <div class="row-actions">
                    {m.sha256 && <CopyButton text={checksumLine(m)} label="Copy SHA-256" title={`Copies "${checksumLine(m)}" (for sha256sum -c)`} />}
                    <CopyButton text={manifestText(m)} label="Copy manifest" title="Copies the whole manifest as JSON" />
                    <a href={exportUrl(filtersOf(m), m.format)} download title="The same filters and end time: the same messages, unless retention removed some since">
                      Download again
                    </a>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <footer class="list-foot">
        <span class="muted">
          {list.items.length} exports shown{list.next ? '' : list.loaded ? ' · no more' : ''} · <kbd>c</kbd> copy the SHA-256, <kbd>m</kbd> the manifest of the selected one
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

/** "机密 · alice@example.com ↔ bob@example.com · until 2025-03-14 09:26:53", linking to the same search. */
function QuerySummary({ manifest }: { manifest: ExportManifest }) {
  const f = filtersOf(manifest);
  const parts: string[] = [];
  if (f.q) parts.push(`“${f.q}”`);
  if (f.user) parts.push(f.peer ? `${f.user} ↔ ${f.peer}` : f.user);
  if (f.verdict) parts.push(`verdict ${f.verdict}`);
  if (f.since) parts.push(`from ${formatTime(f.since)}`);
  if (f.until) parts.push(`until ${formatTime(f.until)}`);
  return (
    <a href={href('/search', f)} title="Show these messages in Search">
      {parts.join(' · ') || 'everything'}
    </a>
  );
}
