// XEP-0199 XMPP Ping, both directions.
// - Client → server: pings to the server or the user's own account are answered (§4.2).
// - Server → client (§4.1): a session we have heard nothing from for PING_INTERVAL_MS is pinged;
//   one that does not answer within PING_TIMEOUT_MS is closed with <connection-timeout/>
//   (RFC 6120 §4.9.3.4), which is how half-open TCP connections are found.
//
// Cost for 10k sessions: no timer per session. One sweep timer (running only while sessions are
// bound) walks the registry every interval/4 (at most 30 s) and reads one timestamp per session;
// only idle sessions get a ping, and each ping holds one Router.request timer while in flight.
// "Heard from" is tracked where it is cheap — bind, presence, client pings, ping answers — not
// per stanza on the routing hot path, so a busy session may still get a ping per interval.
import { NS } from '../ns.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import type { Router } from '../stanza/router.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { streamError } from '../stream/stream-error.ts';
import { xml } from '../xml.ts';

export interface PingModuleDeps {
  readonly router: Pick<Router, 'request'>;
  readonly sessions: Pick<SessionRegistry<C2SSession>, 'all' | 'size'>;
  /** PING_INTERVAL_MS; 0 turns server pings off. */
  readonly intervalMs: number;
  /** PING_TIMEOUT_MS. */
  readonly timeoutMs: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** Per-session state, kept in session.data under this key. */
const KEY = 'ping';

interface PingState {
  /** When we last heard from the session (ms since epoch). */
  heard: number;
  /** A server ping is awaiting its answer. */
  inFlight: boolean;
}

/** How often the sweep runs for a given interval: a quarter of it, within [50 ms, 30 s]. */
export function sweepPeriod(intervalMs: number): number {
  return Math.min(Math.max(Math.floor(intervalMs / 4), 50), 30_000);
}

/** Whether a session last heard from at `heard` is due a ping at `now`. */
export function pingDue(state: { readonly heard: number; readonly inFlight: boolean }, now: number, intervalMs: number): boolean {
  return !state.inFlight && now - state.heard >= intervalMs;
}

export interface PingModule extends WardenModule {
  /** One sweep now (tests drive it directly). */
  sweep(): void;
}

export function pingModule(deps: PingModuleDeps): PingModule {
  const now = deps.now ?? Date.now;
  const enabled = deps.intervalMs > 0;
  let timer: NodeJS.Timeout | undefined;

  const stateOf = (session: C2SSession): PingState => {
    let state = session.data.get(KEY) as PingState | undefined;
    if (!state) {
      state = { heard: now(), inFlight: false };
      session.data.set(KEY, state);
    }
    return state;
  };
  const heardFrom = (session: C2SSession) => {
    if (enabled) stateOf(session).heard = now();
  };

  const ping = (session: C2SSession, state: PingState) => {
    state.inFlight = true;
    const sentAt = now();
    const iq = xml('iq', { type: 'get' }, xml('ping', { xmlns: NS.ping }));
    void deps.router.request(session, iq, deps.timeoutMs).then((answer) => {
      state.inFlight = false;
      // Any answer proves the connection alive, even an error from a client without XEP-0199.
      if (answer) {
        state.heard = now();
        return;
      }
      if (session.isClosed || state.heard > sentAt) return;
      session.fail(streamError('connection-timeout', `No answer to a ping within ${deps.timeoutMs} ms`));
    });
  };

  const sweep = () => {
    if (!enabled) return;
    if (deps.sessions.size === 0) {
      // Nothing to watch: stop until the next session binds (and let a stopped server go).
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const t = now();
    for (const session of deps.sessions.all()) {
      if (!session.isBound) continue;
      const state = stateOf(session);
      if (pingDue(state, t, deps.intervalMs)) ping(session, state);
    }
  };

  return {
    name: 'ping',
    sweep,
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.ping);
      ctx.handleIq('get', NS.ping, 'host', ({ session }) => heardFrom(session));
      ctx.handleIq('get', NS.ping, 'account', ({ session }) => heardFrom(session));
      if (!enabled) return;
      ctx.hook('session-bound', ({ session }) => {
        heardFrom(session);
        if (!timer) {
          timer = setInterval(sweep, sweepPeriod(deps.intervalMs));
          timer.unref();
        }
      });
      // Presence is rare and cheap to watch; a priority above the presence module's, never stopping it.
      ctx.hook('presence-out', ({ session }) => heardFrom(session), 100);
    },
  };
}
