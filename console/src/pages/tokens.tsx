// API tokens (admin): for scripts and integrations. A token acts with its account's role; its
// secret is shown once, when it is created.
import { useState } from 'preact/hooks';
import { del, get, post, problemFrom } from '../api.ts';
import { CopyButton } from '../components/copy.tsx';
import { ConfirmDialog } from '../components/modal.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { formatTime, localInputToIso, localInputZone } from '../format.ts';
import type { ApiToken, NewApiToken, Page, Problem } from '../types.ts';

export function TokensPage() {
  const list = usePaged<ApiToken>('tokens', (cursor) => get<Page<ApiToken>>('/tokens', { limit: 100, cursor }));
  const [account, setAccount] = useState('');
  const [label, setLabel] = useState('');
  const [expires, setExpires] = useState('');
  const [created, setCreated] = useState<NewApiToken | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  const create = async (event: Event) => {
    event.preventDefault();
    setProblem(null);
    try {
      const expiresAt = localInputToIso(expires);
      setCreated(await post<NewApiToken>('/tokens', { account: account.trim(), ...(label.trim() ? { label: label.trim() } : {}), ...(expiresAt ? { expiresAt } : {}) }));
      setLabel('');
      list.reload();
    } catch (err) {
      setProblem(problemFrom(err));
    }
  };
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const revoke = async (token: ApiToken) => {
    try {
      await del(`/tokens/${encodeURIComponent(token.id)}`);
      list.update((items) => items.filter((t) => t.id !== token.id));
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setRevoking(null);
    }
  };

  return (
    <section class="tokens">
      <header class="page-head">
        <h1>API tokens</h1>
      </header>
      <form class="filter-form card" onSubmit={create}>
        <input name="account" placeholder="account" aria-label="Account" required value={account} onInput={(e) => setAccount(e.currentTarget.value)} />
        <input name="label" placeholder="label (what uses it)" aria-label="Label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
        <label class="inline">
          Expires
          <input name="expires" type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
          <span class="muted small">({localInputZone()}; empty: the server's default lifetime)</span>
        </label>
        <button type="submit" class="primary">
          Create token
        </button>
      </form>
      {created && (
        <div class="notice card new-token" role="status">
          New token for {created.account}
          {created.expiresAt ? `, expires ${formatTime(created.expiresAt)}` : ''}: <code class="secret" data-testid="new-token">{created.token}</code>{' '}
          <CopyButton text={created.token} label="Copy token" title="Copies the token: it is not shown again" /> — copy it now; it is not shown again.{' '}
          <button type="button" class="link" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      <ProblemBox problem={problem ?? list.problem} onDismiss={() => setProblem(null)} />
      {revoking && (
        <ConfirmDialog title={`Revoke token ${revoking.label ?? revoking.id}?`} confirmLabel="Revoke" danger onConfirm={() => void revoke(revoking)} onCancel={() => setRevoking(null)}>
          <p>Scripts using it stop working at once. This cannot be taken back.</p>
        </ConfirmDialog>
      )}
      <div class="table-scroll">
        <table class="grid">
          <thead>
            <tr>
              <th>Id</th>
              <th>Account</th>
              <th>Label</th>
              <th>Created</th>
              <th>By</th>
              <th>Expires</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.items.map((t) => (
              <tr key={t.id}>
                <td class="mono">{t.id}</td>
                <td>{t.account ?? <span class="muted">(bootstrap admin)</span>}</td>
                <td>{t.label}</td>
                <td class="nowrap">{formatTime(t.createdAt)}</td>
                <td>{t.createdBy ?? ''}</td>
                <td class="nowrap">{t.expiresAt ? formatTime(t.expiresAt) : 'never'}</td>
                <td>{formatTime(t.lastUsedAt) || '–'}</td>
                <td>
                  <button type="button" class="link danger" onClick={() => setRevoking(t)}>
                    Revoke…
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.next && (
        <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
