// A conversation between two bare JIDs in time order, opened around one message (from an
// incident or a search result) and extended page by page in either direction.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, problemFrom } from '../api.ts';
import { VerdictBadge } from '../components/badges.tsx';
import { MessageBody } from '../components/message-row.tsx';
import { ProblemBox } from '../components/problem.tsx';
import { bare, formatTime } from '../format.ts';
import { useKeys } from '../keys.ts';
import { navigate, param, type Route } from '../router.ts';
import type { ArchivedMessage, ConversationPage as Page, Problem } from '../types.ts';

/** Messages fetched on each side of the one opened, and per "earlier"/"later" page. */
export const CONVERSATION_PAGE_SIZE = 25;

interface Loaded {
  readonly items: readonly ArchivedMessage[];
  readonly before: string | null;
  readonly after: string | null;
}

export function ConversationPage({ route }: { route: Route }) {
  const a = param(route, 'a');
  const b = param(route, 'b');
  const around = param(route, 'around');
  if (!a || !b) return <PickConversation a={a} b={b} />;
  return <Conversation key={`${a}|${b}|${around}`} a={a} b={b} around={around} />;
}

function PickConversation({ a, b }: { a: string; b: string }) {
  const [first, setFirst] = useState(a);
  const [second, setSecond] = useState(b);
  return (
    <section>
      <header class="page-head">
        <h1>Conversation</h1>
      </header>
      <form
        class="filter-form"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('/conversation', { a: first.trim(), b: second.trim() });
        }}
      >
        <input name="a" placeholder="alice@domain" value={first} onInput={(e) => setFirst(e.currentTarget.value)} required />
        <span>and</span>
        <input name="b" placeholder="bob@domain" value={second} onInput={(e) => setSecond(e.currentTarget.value)} required />
        <button type="submit" class="primary">
          Open
        </button>
      </form>
      <p class="empty">Open a conversation from an incident or a search result, or name both sides (bare JIDs). Reading it is recorded in the access log.</p>
    </section>
  );
}

function Conversation({ a, b, around }: { a: string; b: string; around: string }) {
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState<'before' | 'after' | null>(null);
  const listRef = useRef<HTMLOListElement>(null);

  useEffect(() => {
    get<Page>('/conversations', { a, b, around, limit: CONVERSATION_PAGE_SIZE })
      .then((page) => setLoaded(page))
      .catch((err: unknown) => setProblem(problemFrom(err)));
  }, [a, b, around]);

  // Bring the message it was opened for into view once, when it first appears.
  const scrolled = useRef(false);
  useEffect(() => {
    if (scrolled.current || !loaded) return;
    const target = listRef.current?.querySelector<HTMLElement>('.bubble.target') ?? listRef.current?.lastElementChild;
    if (target instanceof HTMLElement) target.scrollIntoView({ block: 'center' });
    scrolled.current = true;
  }, [loaded]);

  const extend = async (direction: 'before' | 'after') => {
    if (!loaded || busy) return;
    const cursor = loaded[direction];
    if (cursor === null) return;
    setBusy(direction);
    try {
      const page = await get<Page>('/conversations', { a, b, [direction]: cursor, limit: CONVERSATION_PAGE_SIZE });
      setLoaded(
        direction === 'before'
          ? { items: [...page.items, ...loaded.items], before: page.before, after: loaded.after }
          : { items: [...loaded.items, ...page.items], before: loaded.before, after: page.after },
      );
    } catch (err) {
      setProblem(problemFrom(err));
    } finally {
      setBusy(null);
    }
  };
  useKeys({ p: () => void extend('before'), n: () => void extend('after'), u: () => history.back() });

  const left = bare(a);
  return (
    <section class="conversation">
      <header class="page-head">
        <h1>
          {a} <span class="arrow">⇄</span> {b}
        </h1>
        <a href="#/conversation" class="muted">
          Other conversation
        </a>
      </header>
      <ProblemBox problem={problem} />
      {!loaded && !problem && <p class="muted">Loading…</p>}
      {loaded && (
        <>
          {loaded.before !== null && (
            <button type="button" class="load-earlier" onClick={() => void extend('before')} disabled={busy !== null}>
              {busy === 'before' ? 'Loading…' : 'Load earlier'} <kbd>p</kbd>
            </button>
          )}
          {loaded.items.length === 0 && <p class="empty">No messages between these two.</p>}
          <ol class="bubbles" ref={listRef}>
            {loaded.items.map((m) => (
              <li key={m.id} class={`bubble ${bare(m.from) === left ? 'left' : 'right'}${m.id === around ? ' target' : ''}${m.verdict !== 'allow' ? ' flagged' : ''}`} data-message={m.id}>
                <div class="meta">
                  <strong>{bare(m.from)}</strong> <span class="muted">{formatTime(m.ts)}</span> {m.verdict !== 'allow' && <VerdictBadge verdict={m.verdict} />}
                </div>
                <div class="body">
                  <MessageBody message={m} />
                </div>
              </li>
            ))}
          </ol>
          {loaded.after !== null && (
            <button type="button" class="load-later" onClick={() => void extend('after')} disabled={busy !== null}>
              {busy === 'after' ? 'Loading…' : 'Load later'} <kbd>n</kbd>
            </button>
          )}
        </>
      )}
    </section>
  );
}
