// Tamper evidence: the archive's hash chains (auditors and admins) and the access log's chain
// (auditors). Both read everything, so they run when asked, not when the page opens.
import { useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { ProblemBox } from '../components/problem.tsx';
import { formatTime } from '../format.ts';
import type { ArchiveVerify, Me, Problem } from '../types.ts';
import { ChainCheck } from './access-log.tsx';

export function VerifyPage({ me }: { me: Me }) {
  const [report, setReport] = useState<ArchiveVerify | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const [ms, setMs] = useState(0);

  const verify = async () => {
    setBusy(true);
    setProblem(null);
    const started = performance.now();
    try {
      setReport(await get<ArchiveVerify>('/archive/verify'));
      setMs(Math.round(performance.now() - started));
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="verify">
      <header class="page-head">
        <h1>Verify</h1>
      </header>
      <div class="card">
        <h2>Archive</h2>
        <p class="muted">Every archived message is linked to the one before it by SHA-256; a changed or deleted row breaks its chain. This reads the whole archive.</p>
        <button type="button" class="primary" onClick={() => void verify()} disabled={busy}>
          {busy ? 'Verifying the archive…' : 'Verify the archive'}
        </button>
        <ProblemBox problem={problem} />
        {report && (
          <div data-testid="archive-verify">
            <p class={report.ok ? 'ok big' : 'broken big'}>
              {report.ok ? '✓ Every chain is intact' : '✗ A chain is broken'} <span class="muted">({ms} ms)</span>
            </p>
            <table class="grid">
              <thead>
                <tr>
                  <th>Chain (node)</th>
                  <th class="num">Rows</th>
                  <th>State</th>
                  <th>First broken row</th>
                </tr>
              </thead>
              <tbody>
                {report.chains.map((c) => (
                  <tr key={c.chain}>
                    <td class="mono">{c.chain}</td>
                    <td class="num">{c.rows}</td>
                    <td class={c.ok ? 'ok' : 'broken'}>{c.ok ? 'intact' : 'broken'}</td>
                    <td>{c.firstBroken ? `#${c.firstBroken.chainSeq} (${c.firstBroken.stanzaId}, ${formatTime(c.firstBroken.ts)}): ${c.firstBroken.reason}` : '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {me.role === 'auditor' && (
        <div class="card">
          <h2>Access log</h2>
          <p class="muted">The access log is one hash chain too, with no gaps in its numbering.</p>
          <ChainCheck />
        </div>
      )}
    </section>
  );
}
