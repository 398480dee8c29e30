// The live dry run: type or paste a message and see, as you type, the verdict the live policy
// would give it (POST /api/v1/audit/scan — the same decision function as the pipeline).
import { useEffect, useRef, useState } from 'preact/hooks';
import { post, problemFrom } from '../api.ts';
import type { Problem, ScanResult } from '../types.ts';
import { SeverityBadge, VerdictBadge } from './badges.tsx';
import { Highlighted, matchSpans } from './highlight.tsx';
import { ProblemBox } from './problem.tsx';

/** Wait this long after the last keystroke before asking the server. */
const DEBOUNCE_MS = 250;

export function DryRunBox({ policyVersionHint }: { policyVersionHint?: number }) {
  const [text, setText] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [result, setResult] = useState<{ text: string; scan: ScanResult } | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const latest = useRef(0);

  useEffect(() => {
    if (text === '') {
      setResult(null);
      setProblem(null);
      return;
    }
    const ticket = ++latest.current;
    const timer = setTimeout(() => {
      post<ScanResult>('/audit/scan', { text, ...(from.trim() ? { from: from.trim() } : {}), ...(to.trim() ? { to: to.trim() } : {}) })
        .then((scan) => {
          // An answer to an older keystroke must not overwrite a newer one.
          if (ticket !== latest.current) return;
          setResult({ text, scan });
          setProblem(null);
        })
        .catch((err: unknown) => ticket === latest.current && setProblem(problemFrom(err)));
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text, from, to, policyVersionHint]);

  return (
    <section class="dry-run card" aria-label="Dry run">
      <h2>Dry run</h2>
      <textarea name="dry-run" rows={3} placeholder="Type a message to see what the live policy does with it…" value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="dry-run-jids">
        <input name="from" placeholder="from (optional JID)" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        <input name="to" placeholder="to (optional JID)" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      </div>
      <ProblemBox problem={problem} />
      {result && (
        <div class="dry-run-result" data-testid="dry-run-result" aria-live="polite">
          <p>
            <VerdictBadge verdict={result.scan.verdict} /> <span class="muted">policy version {result.scan.policyVersion}</span>
            {result.scan.reason && <span class="muted"> · {result.scan.reason}</span>}
          </p>
          <p class="body">
            <Highlighted text={result.text} spans={matchSpans(result.scan.matches)} />
          </p>
          {result.scan.redacted !== undefined && result.scan.redacted !== result.text && (
            <p class="redacted">
              <span class="muted">Delivered as: </span>
              {result.scan.redacted}
            </p>
          )}
          {result.scan.matches.length > 0 && (
            <ul class="match-list">
              {result.scan.matches.map((m) => (
                <li key={`${m.ruleId}:${m.start}`}>
                  <mark class="mark-rule">{m.match}</mark> {m.ruleName} · <SeverityBadge severity={m.severity} /> · {m.action}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
