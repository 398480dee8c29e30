// How an API error is shown: its title and detail, with a hint for the common statuses.
import type { Problem } from '../types.ts';

const HINTS: Readonly<Record<number, string>> = {
  403: 'Your role does not allow this. Ask an administrator if you need it.',
  0: '',
};

export function ProblemBox({ problem, onDismiss }: { problem: Problem | null | undefined; onDismiss?: () => void }) {
  if (!problem) return null;
  const hint = HINTS[problem.status];
  return (
    <div class={`problem status-${problem.status}`} role="alert">
      <strong>{problem.title}</strong>
      {problem.status > 0 && <span class="problem-status"> ({problem.status})</span>}
      <p class="problem-detail">{problem.detail}</p>
      {problem.errors && problem.errors.length > 1 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}
      {hint && <p class="problem-hint">{hint}</p>}
      {onDismiss && (
        <button type="button" class="link" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
