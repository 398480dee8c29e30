// Console accounts (admin): who may log in, with which role. Deleting one ends its sessions
// and tokens.
import { useState } from 'preact/hooks';
import { del, get, post, problemFrom } from '../api.ts';
import { ConfirmDialog } from '../components/modal.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { formatTime } from '../format.ts';
import type { Account, Page, Problem, Role } from '../types.ts';

const ROLE_HELP: Readonly<Record<Role, string>> = {
  officer: 'reviews incidents, searches the archive, decides held messages',
  auditor: 'reads the access log and verifies chains; never sees message content',
  admin: 'manages rules, chat users, accounts and tokens',
};

export function AccountsPage() {
  const list = usePaged<Account>('accounts', (cursor) => get<Page<Account>>('/accounts', { limit: 100, cursor }));
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('officer');
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await post<Account>('/accounts', { username: username.trim(), password, role });
      setUsername('');
      setPassword('');
      list.reload();
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };
  const [removing, setRemoving] = useState<Account | null>(null);
  const remove = async (account: Account) => {
    try {
      await del(`/accounts/${encodeURIComponent(account.username)}`);
      list.update((items) => items.filter((a) => a.username !== account.username));
    } catch (err) {
      // 409 last-admin: the server says why.
      setProblem(problemFrom(err));
    } finally {
      setRemoving(null);
    }
  };

  return (
    <section class="accounts">
      <header class="page-head">
        <h1>Console accounts</h1>
      </header>
      <form class="filter-form card" onSubmit={create}>
        <input name="username" placeholder="username" aria-label="Username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} autoComplete="off" />
        <input name="password" type="password" placeholder="password (10 characters or more)" aria-label="Password" minLength={10} required value={password} onInput={(e) => setPassword(e.currentTarget.value)} autoComplete="new-password" />
        <select name="role" aria-label="Role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          <option value="officer">officer</option>
          <option value="auditor">auditor</option>
          <option value="admin">admin</option>
        </select>
        <button type="submit" class="primary" disabled={busy}>
          Create account
        </button>
        <span class="muted">{ROLE_HELP[role]}</span>
      </form>
      <ProblemBox problem={problem ?? list.problem} onDismiss={() => setProblem(null)} />
      {removing && (
        <ConfirmDialog title={`Delete the console account ${removing.username}?`} confirmLabel="Delete account" danger onConfirm={() => void remove(removing)} onCancel={() => setRemoving(null)}>
          <p>Its sessions and API tokens end with it. This cannot be taken back.</p>
        </ConfirmDialog>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Username</th>
            <th>Role</th>
            <th>Created</th>
            <th>By</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.items.map((a) => (
            <tr key={a.username}>
              <td>{a.username}</td>
              <td>
                <span class={`role role-${a.role}`}>{a.role}</span>
              </td>
              <td>{formatTime(a.createdAt)}</td>
              <td>{a.createdBy}</td>
              <td>
                <button type="button" class="link danger" onClick={() => setRemoving(a)}>
                  Delete…
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.next && (
        <button type="button" onClick={() => void list.loadMore()} disabled={list.loading}>
          Load more
        </button>
      )}
    </section>
  );
}
