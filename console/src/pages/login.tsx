// Login: POST /api/v1/auth/login. The server sets the HttpOnly session cookie; the answer's
// CSRF token stays in memory (session.ts). After a session ended under the person, the same
// account logs in again in a dialog over the (hidden) page they were on.
import { useRef, useState } from 'preact/hooks';
import { problemFrom } from '../api.ts';
import { Modal } from '../components/modal.tsx';
import { ProblemBox } from '../components/problem.tsx';
import { logIn, logOut, resumeSession } from '../session.ts';
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

/** The session ended (idle too long, or ended elsewhere): the same account's password again, or log out. */
export function ReloginDialog({ username }: { username: string }) {
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await resumeSession(password);
    } catch (err) {
      setProblem(problemFrom(err));
      setPassword('');
      setBusy(false);
      passwordRef.current?.focus();
    }
  };

  return (
    <Modal title="Your session has ended" class="relogin">
      <form onSubmit={submit} class="relogin-form">
        <p>
          Log in again as <strong>{username}</strong> to carry on: the page you were on is kept as it was, and what could not be done is done once you are back.
        </p>
        <ProblemBox problem={problem} />
        {/* The account is fixed: someone else would log in from the login page, with nothing of this one kept. */}
        <input type="hidden" name="username" autoComplete="username" value={username} />
        <label>
          Password for {username}
          <input ref={passwordRef} name="password" type="password" autoComplete="current-password" required data-autofocus value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <div class="button-row">
          <button type="submit" class="primary" disabled={busy || password === ''}>
            {busy ? 'Logging in…' : 'Log in and carry on'}
          </button>
          <button type="button" onClick={() => void logOut()}>
            Log out
          </button>
        </div>
      </form>
    </Modal>
  );
}
