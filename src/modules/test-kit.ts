// For the modules' tests only: the real Router and ModuleHost with sessions that have no socket.
// A test "connects" a session, sends it stanzas through the router as a client would, and reads
// what the server sent back — a dialogue without the stream layer.
import type { AuditTap } from '../audit/audit-tap.ts';
import { silentLogger } from '../log.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import { ModuleHost } from '../stanza/module-host.ts';
import { Router } from '../stanza/router.ts';
import { SessionRegistry } from '../stanza/session-registry.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import type { StreamError } from '../stream/stream-error.ts';
import { xml, type Element } from '../xml.ts';

export const DOMAIN = 'localhost';

/** The parts of a C2SSession that the router and the modules use. */
export class FakeSession {
  readonly id: string;
  readonly bareJid: string;
  readonly fullJid: string;
  readonly data = new Map<string, unknown>();
  available = false;
  priority = 0;
  isBound = true;
  isClosed = false;
  failed: StreamError | undefined;
  readonly sent: Element[] = [];
  private waiters: Array<{ match: (el: Element) => boolean; resolve: (el: Element) => void }> = [];
  /** Called after each send (tests use it to close a session mid-way). */
  onSend: ((el: Element) => void) | undefined;

  constructor(
    readonly local: string,
    readonly resource: string,
  ) {
    this.id = `${local}/${resource}`;
    this.bareJid = `${local}@${DOMAIN}`;
    this.fullJid = `${this.bareJid}/${resource}`;
  }

  send(el: Element | string): void {
    if (this.isClosed || typeof el === 'string') return;
    this.sent.push(el);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(el)) return true;
      w.resolve(el);
      return false;
    });
    this.onSend?.(el);
  }

  fail(err: StreamError): void {
    this.failed ??= err;
    this.isClosed = true;
    this.isBound = false;
  }

  /** The first element sent (already or later) that matches, or a timeout error. */
  next(match: (el: Element) => boolean, timeoutMs = 2000): Promise<Element> {
    const already = this.sent.find(match);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.fullJid}: nothing matching arrived in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (el) => {
          clearTimeout(timer);
          resolve(el);
        },
      });
    });
  }

  get asSession(): C2SSession {
    return this as unknown as C2SSession;
  }
}

export interface Harness {
  readonly host: ModuleHost;
  readonly router: Router;
  readonly sessions: SessionRegistry<C2SSession>;
  /** Binds a session (and emits 'session-bound'). */
  connect(local: string, resource: string, opts?: { available?: boolean; priority?: number }): FakeSession;
  /** Unbinds it (and emits 'session-closed'), as the stream layer does on close. */
  disconnect(session: FakeSession): void;
  /** Sends an iq as the client and resolves with the server's answer to it. */
  iq(session: FakeSession, type: 'get' | 'set', payload: Element, to?: string): Promise<Element>;
  /** Sends any stanza as the client. */
  send(session: FakeSession, stanza: Element): void;
}

let iqIds = 0;

export function harness(build: (parts: { router: Router; sessions: SessionRegistry<C2SSession> }) => WardenModule[], accounts: readonly string[] = []): Harness {
  const sessions = new SessionRegistry<C2SSession>();
  const host = new ModuleHost(DOMAIN, silentLogger);
  // Every message is "archived" and delivered.
  const audit: AuditTap = { inspect: async (m) => ({ kind: 'deliver', stanza: m.stanza, archiveId: 'test' }) };
  const known = new Set(accounts);
  const router = new Router({ domain: DOMAIN, sessions, modules: host, audit, accountExists: async (l) => known.has(l), log: silentLogger });
  for (const m of build({ router, sessions })) host.load(m);
  return {
    host,
    router,
    sessions,
    connect(local, resource, opts = {}) {
      known.add(local);
      const s = new FakeSession(local, resource);
      s.available = opts.available ?? false;
      s.priority = opts.priority ?? 0;
      sessions.bind(s.asSession);
      host.emit('session-bound', { session: s.asSession });
      return s;
    },
    disconnect(s) {
      s.isClosed = true;
      s.isBound = false;
      sessions.unbind(s.asSession);
      host.emit('session-closed', { session: s.asSession });
    },
    iq(session, type, payload, to) {
      const id = `t${iqIds++}`;
      const attrs: Record<string, string> = { type, id };
      if (to !== undefined) attrs.to = to;
      const answer = session.next((el) => el.name === 'iq' && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'));
      router.fromClient(session.asSession, xml('iq', attrs, payload));
      return answer;
    },
    send(session, stanza) {
      router.fromClient(session.asSession, stanza);
    },
  };
}

/** The defined condition of an error reply, or undefined for a result. */
export function errorCondition(reply: Element): string | undefined {
  const error = reply.getChild('error');
  if (!error) return undefined;
  const condition = error.children.find((c): c is Element => typeof c !== 'string' && c.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas' && c.name !== 'text');
  return condition?.name;
}
