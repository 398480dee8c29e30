// Tamper evidence: the archive's hash chains (auditors and admins) and the access log's chain
// (auditors). Both read everything, so they run when asked, not when the page opens.
//
// A hash chain alone cannot show its newest entries cut off, or its end rewritten with fresh
// hashes. So the access log's check shows its head (newest seq and hash) for the auditor to keep
// outside Warden, and checks a head kept earlier: it must still be in the chain, unchanged.
import { useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { CopyButton } from '../components/copy.tsx';
import { ProblemBox } from '../components/problem.tsx';
import { formatTime } from '../format.ts';
import type { AccessLogVerify, ArchiveVerify, Me, Problem } from '../types.ts';
import { ChainCheck, HeadLine } from './access-log.tsx';

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
                  <th class="num" title="Rows retention deleted, still accounted for by their tombstones">Deleted by retention</th>
                  <th>State</th>
                  <th>First broken row</th>
                  <th title="Note it somewhere Warden cannot write; checking it later shows a chain rewritten or cut from its end">Head</th>
                </tr>
              </thead>
              <tbody>
                {report.chains.map((c) => (
                  <tr key={c.chain}>
                    <td class="mono">{c.chain}</td>
                    <td class="num">{c.rows}</td>
                    <td class="num">{c.tombstoned}</td>
                    <td class={c.ok ? 'ok' : 'broken'}>{c.ok ? 'intact' : 'broken'}</td>
                    <td>
                      {c.firstBroken
                        ? `#${c.firstBroken.chainSeq}${c.firstBroken.tombstone ? ' (a tombstone)' : ''} (${c.firstBroken.stanzaId}, ${formatTime(c.firstBroken.ts)}): ${c.firstBroken.reason}`
                        : '–'}
                    </td>
                    <td>
                      {c.head ? (
                        <span class="mono">
                          #{c.head.seq} {c.head.hash.slice(0, 12)}… <CopyButton text={`${c.head.seq}:${c.head.hash}`} label="Copy head" title={`chain ${c.chain}, head ${c.head.seq}:${c.head.hash}`} />
                        </span>
                      ) : (
                        '–'
                      )}
                    </td>
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
          <p class="muted">
            The access log is one hash chain too, with no gaps in its numbering. Note down its head (newest entry and hash) somewhere Warden cannot write — a ticket, a
            signed e-mail, paper — and check it here later: if entries were cut from the end or rewritten, the noted head is gone or differs.
          </p>
          <ChainCheck />
          <NotedHeadCheck />
        </div>
      )}
    </section>
  );
}

const SEQ = /^[1-9][0-9]{0,18}$/;
const HASH = /^[0-9a-fA-F]{64}$/;

/** GET /api/v1/access-log/verify?expectSeq=&expectHash=: is a head noted earlier still in the chain, unchanged? */
function NotedHeadCheck() {
  const [seq, setSeq] = useState('');
  const [hash, setHash] = useState('');
  const [result, setResult] = useState<{ seq: string; report: AccessLogVerify } | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const seqOk = SEQ.test(seq.trim().replace(/^#/, ''));
  const hashOk = HASH.test(hash.trim());

  /** The copied line ("access log head: seq 42, hash 9f…, at …") pasted into either field fills both. */
  const onPaste = (event: ClipboardEvent) => {
    const text = event.clipboardData?.getData('text') ?? '';
    const pastedHash = /\b[0-9a-fA-F]{64}\b/.exec(text)?.[0];
    const pastedSeq = /seq\s*#?(\d+)/i.exec(text)?.[1];
    if (pastedHash && pastedSeq) {
      event.preventDefault();
      setSeq(pastedSeq);
      setHash(pastedHash);
    }
  };
  const check = async (event: Event) => {
    event.preventDefault();
    const expectSeq = seq.trim().replace(/^#/, '');
    setBusy(true);
    setProblem(null);
    setResult(null);
    try {
      setResult({ seq: expectSeq, report: await get<AccessLogVerify>('/access-log/verify', { expectSeq, expectHash: hash.trim().toLowerCase() }) });
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="noted-head" onSubmit={check} aria-label="Check a head noted earlier">
      <h3>Check a head noted earlier</h3>
      <div class="filter-form">
        <label>
          Entry (seq)
          <input name="expectSeq" class="mono" inputMode="numeric" placeholder="e.g. 1042" required value={seq} onInput={(e) => setSeq(e.currentTarget.value)} onPaste={onPaste} />
        </label>
        <label class="grow">
          Its hash (64 hex digits)
          <input name="expectHash" class="mono" placeholder="paste the noted hash, or the whole copied line" required value={hash} onInput={(e) => setHash(e.currentTarget.value)} onPaste={onPaste} />
        </label>
        <button type="submit" class="primary" disabled={busy || !seqOk || !hashOk}>
          {busy ? 'Checking…' : 'Check'}
        </button>
      </div>
      {(seq !== '' && !seqOk) || (hash !== '' && !hashOk) ? (
        <p class="muted small">{!seqOk && seq !== '' ? 'The seq is a whole number (1 or more). ' : ''}{!hashOk && hash !== '' ? 'The hash is 64 hexadecimal digits.' : ''}</p>
      ) : null}
      <ProblemBox problem={problem} />
      {result && (
        <div class={`head-result ${result.report.ok ? 'ok' : 'broken'} big`} data-testid="noted-head-result" role="status">
          {result.report.ok ? (
            <>✓ Entry #{result.seq} is still in the chain with the hash you noted, and the chain is intact ({result.report.rows} entries).</>
          ) : (
            <>✗ {result.report.firstBroken?.reason ?? 'The chain does not hold the head you noted.'}</>
          )}
          {result.report.head && (
            <div class="small muted">
              <HeadLine head={result.report.head} label="The log now ends at" />
            </div>
          )}
        </div>
      )}
    </form>
  );
}
