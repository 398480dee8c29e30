// How an API error is shown: what happened in plain words, then the server's own sentence (the
// problem's `detail`, which names what was wrong), and when to try again if the server said so.
import type { Problem } from '../types.ts';

/** Plain headings for the statuses a person meets; other problems keep the server's title. */
const PLAIN: Readonly<Record<number, { readonly title: string; readonly hint?: string }>> = {
  403: { title: 'Not allowed for your role', hint: 'Ask an administrator if your work needs this.' },
  413: { title: 'Too large to send', hint: 'Send less at once: a shorter text or fewer entries.' },
  429: { title: 'Too many requests just now' },
  503: { title: 'Not available just now' },
};

/** Problem types with their own heading (src/api/access-log-unavailable.ts). */
const BY_TYPE: Readonly<Record<string, { readonly title: string; readonly hint?: string }>> = {
  'urn:warden:problem:access-log-unavailable': {
    title: 'Refused: it could not be put on the record',
    hint: 'Warden shows and changes nothing it cannot write to the access log. Nothing was shown or changed.',
  },
};

function seconds(n: number): string {
  if (n < 90) return `${n} second${n === 1 ? '' : 's'}`;
  return `${Math.round(n / 60)} minutes`;
}

export function ProblemBox({ problem, onDismiss }: { problem: Problem | null | undefined; onDismiss?: () => void }) {
  if (!problem) return null;
  const plain = BY_TYPE[problem.type] ?? PLAIN[problem.status];
  return (
    <div class={`problem status-${problem.status}`} role="alert">
      <strong>{plain?.title ?? problem.title}</strong>
      {problem.status > 0 && <span class="problem-status"> ({problem.status})</span>}
      <p class="problem-detail">{problem.detail}</p>
      {problem.errors && problem.errors.length > 1 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
      {plain?.hint && <p class="problem-hint">{plain.hint}</p>}
      {problem.retryAfter !== undefined && <p class="problem-hint retry-after">Try again in {seconds(problem.retryAfter)}.</p>}
      {onDismiss && (
        <button type="button" class="link" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
