// Legal holds (officers): a hold on a user or on one conversation keeps its messages out of
// retention until it is released. Placing and releasing each take a reason and are recorded in
// the access log; a released hold stays listed as the record (Released, All), with who released
// it, when and why.
// The address may carry a target to fill in (#/legal-holds?jid=alice, ?a=alice&b=bob).
import type { RefObject } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { del, get, post, problemFrom } from '../api.ts';
import { Modal } from '../components/modal.tsx';
import { usePaged } from '../components/paged.ts';
import { ProblemBox } from '../components/problem.tsx';
import { useListNavigation } from '../components/selection.ts';
import { formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { href, param, type Route } from '../router.ts';
import type { LegalHold, Page, Problem } from '../types.ts';

/** The API's limit for a placing or a releasing reason (src/api/routes/legal-holds.ts). */
const MAX_REASON_CHARS = 2000;

type Shown = 'true' | 'false' | 'all';
const SHOWN: readonly { readonly value: Shown; readonly label: string }[] = [
  { value: 'true', label: 'Active' },
  { value: 'false', label: 'Released' },
  { value: 'all', label: 'All' },
];

/** "alice@example.com", or "alice@example.com ↔ bob@example.com". */
export const holdTarget = (h: LegalHold) => (h.kind === 'user' ? (h.jid ?? '') : `${h.a ?? ''} ↔ ${h.b ?? ''}`);

export function LegalHoldsPage({ route }: { route: Route }) {
  const raw = param(route, 'active');
  const shown: Shown = raw === 'false' || raw === 'all' ? raw : 'true';
  const key = `legal-holds:${shown}`;
  const list = usePaged<LegalHold>(key, (cursor) => get<Page<LegalHold>>('/legal-holds', { active: shown === 'all' ? undefined : shown, limit: 50, cursor }), { fresh: true });
  const [problem, setProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const nav = useListNavigation(key, list.items.length, () => {}, () => void list.loadMore());
  const firstField = useRef<HTMLSelectElement>(null);

  /** The hold whose release is being asked for (the dialog asks why). */
  const [releasing, setReleasing] = useState<LegalHold | null>(null);
  const released = (hold: LegalHold) => {
    setReleasing(null);
    setProblem(null);
    if (list.loading) list.reload();
    else list.update((items) => (shown === 'true' ? items.filter((h) => h.id !== hold.id) : items.map((h) => (h.id === hold.id ? hold : h))));
    setNotice(`Released hold #${hold.id} on ${holdTarget(hold)}.`);
  };
  const releaseFailed = (p: Problem) => {
    // Released by someone else meanwhile (409) or gone (404): show what is true now.
    if (p.status === 409 || p.status === 404) {
      setReleasing(null);
      setNotice(null);
      setProblem(p);
      list.reload();
    }
  };

  const placed = (hold: LegalHold) => {
    setProblem(null);
    setNotice(`Placed hold #${hold.id} on ${holdTarget(hold)}.`);
    if (shown === 'false') location.hash = href('/legal-holds');
    // A first page still on its way was asked for before this hold existed: ask again.
    else if (!list.loaded || list.loading) list.reload();
    else list.update((items) => [hold, ...items.filter((h) => h.id !== hold.id)]);
  };

  const selected = list.items[nav.selected];
  useKeys({
    r: () => list.reload(),
    n: () => firstField.current?.focus(),
    R: () => {
      if (selected && selected.releasedAt === null) setReleasing(selected);
    },
  });

  return (
    <section class="legal-holds">
      <header class="page-head">
        <h1>Legal holds</h1>
        <div class="filters" role="toolbar" aria-label="Show">
          <span class="group">
            {SHOWN.map((s) => (
              <a key={s.value} class={`chip${shown === s.value ? ' active' : ''}`} href={href('/legal-holds', { active: s.value === 'true' ? '' : s.value })} aria-pressed={shown === s.value}>
                {s.label}
              </a>
            ))}
          </span>
        </div>
        <span class="muted">A held user’s or conversation’s messages are kept past retention until the hold is released.</span>
      </header>
      <NewHoldForm route={route} selectRef={firstField} onPlaced={placed} onProblem={(p) => {
          setNotice(null);
          setProblem(p);
        }} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ProblemBox problem={problem ?? list.problem} onDismiss={() => setProblem(null)} />
      {list.loaded && list.items.length === 0 && !list.problem && <p class="empty">{shown === 'false' ? 'No hold has been released.' : shown === 'true' ? 'No legal hold is active.' : 'No legal hold yet.'}</p>}
      {list.items.length > 0 && (
        <table class="grid legal-holds-table" ref={nav.attach}>
          <thead>
            <tr>
              <th class="num">#</th>
              <th>On</th>
              <th>Reason</th>
              <th>Placed</th>
              <th>Released (why)</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.items.map((h, index) => (
              <tr key={h.id} class={`legal-hold-row${index === nav.selected ? ' selected' : ''}${h.releasedAt ? ' is-released' : ''}`} aria-selected={index === nav.selected} data-hold={h.id} onClick={() => nav.select(index)}>
                <td class="num mono">{h.id}</td>
                <td>
                  <span class="badge">{h.kind}</span>{' '}
                  <a href={h.kind === 'user' ? href('/search', { user: h.jid }) : href('/conversation', { a: h.a, b: h.b })} class="target" onClick={(e) => e.stopPropagation()}>
                    {holdTarget(h)}
                  </a>
                </td>
                <td class="reason">{h.reason}</td>
                <td class="nowrap">
                  {formatTime(h.createdAt)} <span class="muted">by {h.createdBy}</span>
                </td>
                <td class="nowrap">
                  {h.releasedAt ? (
                    <>
                      {formatTime(h.releasedAt)} <span class="muted">by {h.releasedBy ?? '?'}</span>
                      {h.releaseReason && (
                        <div class="release-reason" data-testid="release-reason">
                          {h.releaseReason}
                        </div>
                      )}
                    </>
                  ) : (
                    <span class="ok">active</span>
                  )}
                </td>
                <td onClick={(e) => e.stopPropagation()}>
                  {h.releasedAt === null && (
                    <button type="button" class="danger" onClick={() => setReleasing(h)}>
                      Release…
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {releasing && <ReleaseDialog hold={releasing} onReleased={released} onFailed={releaseFailed} onCancel={() => setReleasing(null)} />}
      <footer class="list-foot">
        <span class="muted">
          {list.items.length} shown{list.next ? '' : list.loaded ? ' · no more' : ''} · <kbd>n</kbd> new hold, <kbd>R</kbd> release the selected one
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

function NewHoldForm({
  route,
  selectRef,
  onPlaced,
  onProblem,
}: {
  route: Route;
  selectRef: RefObject<HTMLSelectElement | null>;
  onPlaced: (hold: LegalHold) => void;
  onProblem: (problem: Problem) => void;
}) {
  const [kind, setKind] = useState<'user' | 'conversation'>(param(route, 'a') || param(route, 'b') ? 'conversation' : 'user');
  const [jid, setJid] = useState(param(route, 'jid'));
  const [a, setA] = useState(param(route, 'a'));
  const [b, setB] = useState(param(route, 'b'));
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const body = kind === 'user' ? { kind, jid: jid.trim(), reason: reason.trim() } : { kind, a: a.trim(), b: b.trim(), reason: reason.trim() };
      const hold = await post<LegalHold>('/legal-holds', body);
      setJid('');
      setA('');
      setB('');
      setReason('');
      onPlaced(hold);
    } catch (err) {
      onProblem(problemFrom(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="filter-form card new-hold" onSubmit={submit} aria-label="Place a legal hold">
      <select ref={selectRef} name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as 'user' | 'conversation')} aria-label="Hold on">
        <option value="user">A user (all their messages)</option>
        <option value="conversation">A conversation (between two)</option>
      </select>
      {kind === 'user' ? (
        // Keyed: switching the kind must not hand one field's DOM (and its typed text, focus) to another.
        <input key="jid" name="jid" placeholder="User (alice or alice@domain)" aria-label="User" required value={jid} onInput={(e) => setJid(e.currentTarget.value)} />
      ) : (
        <>
          <input key="a" name="a" placeholder="One side (alice)" aria-label="One side" required value={a} onInput={(e) => setA(e.currentTarget.value)} />
          <input key="b" name="b" placeholder="Other side (bob)" aria-label="Other side" required value={b} onInput={(e) => setB(e.currentTarget.value)} />
        </>
      )}
      <input
        key="reason"
        class="grow"
        name="reason"
        placeholder="Reason (matter, case number, who asked)"
        aria-label="Reason"
        required
        maxLength={MAX_REASON_CHARS}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      <button type="submit" class="primary" disabled={busy}>
        Place hold
      </button>
    </form>
  );
}

/** Releasing says why (DELETE /legal-holds/:id {"reason"}): the reason is kept with the hold and in the access log. */
function ReleaseDialog({ hold, onReleased, onFailed, onCancel }: { hold: LegalHold; onReleased: (hold: LegalHold) => void; onFailed: (p: Problem) => void; onCancel: () => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (reason.trim() === '') return;
    setBusy(true);
    setProblem(null);
    try {
      onReleased(await del<LegalHold>(`/legal-holds/${encodeURIComponent(hold.id)}`, { reason: reason.trim() }));
    } catch (err) {
      const p = problemFrom(err);
      setProblem(p);
      setBusy(false);
      onFailed(p);
    }
  };
  return (
    <Modal title={`Release legal hold #${hold.id}?`} onClose={onCancel} class="release-hold">
      <form onSubmit={submit}>
        <p>
          On <strong>{holdTarget(hold)}</strong>, placed {formatTime(hold.createdAt)} by {hold.createdBy}: “{hold.reason}”.
        </p>
        <p class="muted">Its messages become subject to retention again. Say why it is released; the reason is kept with the hold and in the access log.</p>
        <ProblemBox problem={problem} />
        <label>
          Reason for releasing
          <textarea name="release-reason" rows={3} required maxLength={MAX_REASON_CHARS} data-autofocus value={reason} onInput={(e) => setReason(e.currentTarget.value)} placeholder="Matter settled, hold placed in error, who decided …" />
        </label>
        <div class="button-row">
          <button type="submit" class="danger-solid" disabled={busy || reason.trim() === ''}>
            {busy ? 'Releasing…' : 'Release hold'}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel <kbd>Esc</kbd>
          </button>
        </div>
      </form>
    </Modal>
  );
}
