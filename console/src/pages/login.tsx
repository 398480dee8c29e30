// Login: POST /api/v1/auth/login. The server sets the HttpOnly session cookie; the answer's
// CSRF token stays in memory (session.ts).
import { useState } from 'preact/hooks';
import { problemFrom } from '../api.ts';
import { ProblemBox } from '../components/problem.tsx';
import { logIn } from '../session.ts';
import type { Problem } from '../types.ts';

export function LoginPage({ notice }: { notice?: string }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await logIn(username.trim(), password);
    } catch (err) {
      setProblem(problemFrom(err));
      setPassword('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="login-screen">
      <form class="login card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">
          <span class="brand">Warden</span> compliance console
        </h1>
        {notice && !problem && <p class="notice">{notice}</p>}
        <ProblemBox problem={problem} />
        <label>
          Username
          <input name="username" autoComplete="username" autoFocus required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        <p class="fine">Every read of message content is recorded in the access log.</p>
      </form>
    </div>
  );
}
