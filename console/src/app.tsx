// The shell: login when there is no session; otherwise the header (navigation by role, the
// account, log out), the page the address names, and the keyboard help. When the session ends
// under the person, the page is hidden but kept (with whatever was typed into it) behind the
// re-login dialog.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useKeys } from './keys.ts';
import { HOME, navFor } from './nav.ts';
import { navigate, useRoute, type Route } from './router.ts';
import { logOut, useSession } from './session.ts';
import type { Me } from './types.ts';
import { LoginPage, ReloginDialog } from './pages/login.tsx';
import { QueuePage } from './pages/queue.tsx';
import { IncidentPage } from './pages/incident.tsx';
import { HoldsPage } from './pages/holds.tsx';
import { SearchPage } from './pages/search.tsx';
import { ConversationPage } from './pages/conversation.tsx';
import { ExportsPage } from './pages/exports.tsx';
import { LegalHoldsPage } from './pages/legal-holds.tsx';
import { RulesPage } from './pages/rules.tsx';
import { AccessLogPage } from './pages/access-log.tsx';
import { VerifyPage } from './pages/verify.tsx';
import { AccountsPage } from './pages/accounts.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { HelpOverlay } from './pages/help.tsx';

export function App() {
  const session = useSession();
  if (session.kind === 'checking') return <p class="booting">Loading the Warden console…</p>;
  if (session.kind === 'anonymous') return <LoginPage {...(session.reason ? { notice: session.reason } : {})} />;
  return (
    <>
      <SignedIn me={session.me} expired={session.expired} />
      {session.expired && <ReloginDialog username={session.me.username} />}
    </>
  );
}

function SignedIn({ me, expired }: { me: Me; expired: boolean }) {
  const route = useRoute();
  const [help, setHelp] = useState(false);
  const items = navFor(me.role);
  const mainRef = useRef<HTMLElement>(null);
  useEffect(() => {
    if (expired) setHelp(false);
  }, [expired]);

  // "g then a letter": a ref, not state, so the second key works however soon it follows.
  const pendingG = useRef(0);
  const G_WINDOW_MS = 1500;
  useKeys(
    {
      '?': () => setHelp(true),
      g: () => {
        pendingG.current = Date.now();
      },
      ...Object.fromEntries(
        items.map((item) => [
          item.key,
          () => {
            if (Date.now() - pendingG.current > G_WINDOW_MS) return false;
            pendingG.current = 0;
            navigate(item.path);
            return true;
          },
        ]),
      ),
    },
    { first: true },
  );

  const section = route.path[0] ?? '';
  useEffect(() => {
    if (section === '') navigate(HOME[me.role], {}, { replace: true });
  }, [section, me.role]);
  if (section === '') return null;
  return (
    // Hidden, not unmounted, while the session is renewed: the page keeps its state.
    <div class="shell" hidden={expired}>
      <header class="topbar">
        <button type="button" class="skip" onClick={() => mainRef.current?.focus()}>
          Skip to the page
        </button>
        <a class="brand" href={`#${HOME[me.role]}`}>
          Warden
        </a>
        <nav aria-label="Main">
          {items.map((item) => (
            <a key={item.path} href={`#${item.path}`} class={`/${section}` === item.path ? 'active' : ''} aria-current={`/${section}` === item.path ? 'page' : undefined} title={`g ${item.key}`}>
              {item.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <span class="account" data-testid="account">
            {me.username} <span class={`role role-${me.role}`}>{me.role}</span>
          </span>
          <button type="button" class="link" onClick={() => setHelp(true)} title="Keyboard shortcuts (?)">
            Keys
          </button>
          <button type="button" class="link" onClick={() => void logOut()}>
            Log out
          </button>
        </div>
      </header>
      <main class="page" id="main" ref={mainRef} tabIndex={-1}>
        <Page route={route} me={me} />
      </main>
      {help && <HelpOverlay items={items} onClose={() => setHelp(false)} />}
    </div>
  );
}

function Page({ route, me }: { route: Route; me: Me }) {
  const [section, id] = route.path;
  switch (section) {
    case 'incidents':
      return id === undefined ? <QueuePage route={route} me={me} /> : <IncidentPage key={id} id={id} route={route} me={me} />;
    case 'holds':
      return <HoldsPage route={route} />;
    case 'search':
      return <SearchPage route={route} />;
    case 'conversation':
      return <ConversationPage route={route} />;
    case 'exports':
      return <ExportsPage />;
    case 'legal-holds':
      return <LegalHoldsPage route={route} />;
    case 'rules':
      return <RulesPage me={me} />;
    case 'access-log':
      return <AccessLogPage route={route} />;
    case 'verify':
      return <VerifyPage me={me} />;
    case 'accounts':
      return <AccountsPage />;
    case 'tokens':
      return <TokensPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page <code>#{route.path.join('/')}</code>. <a href={`#${HOME[me.role]}`}>Go to the start page.</a>
          </p>
        </section>
      );
  }
}
