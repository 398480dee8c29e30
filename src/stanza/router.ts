// Stanza routing for client streams (RFC 6120 §8 and §10, RFC 6121 §8). Every message goes
// through the audit tap before any delivery; presence is handed to the presence module; iq
// requests to the server or an account go to module handlers by namespace.
import type { AuditTap, AuditedMessage } from '../audit/audit-tap.ts';
import type { Logger } from '../log.ts';
import { WardenMetrics } from '../metrics/warden-metrics.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { streamError } from '../stream/stream-error.ts';
import { NS } from '../ns.ts';
import { Element, xml } from '../xml.ts';
import { isJidError, makeJid, parseJid, type Jid } from './jid.ts';
import type { IqTarget } from './module-api.ts';
import type { ModuleHost } from './module-host.ts';
import type { SessionRegistry } from './session-registry.ts';
import { StanzaError, errorReply } from './stanza-error.ts';

export interface RouterDeps {
  readonly domain: string;
  readonly sessions: SessionRegistry<C2SSession>;
  readonly modules: ModuleHost;
  readonly audit: AuditTap;
  /** Whether a local account exists (used only when it has no bound session). */
  readonly accountExists: (local: string) => Promise<boolean>;
  readonly log: Logger;
  /** Counts stanzas by kind for /metrics; a private instance when not given. */
  readonly metrics?: WardenMetrics;
}

const ACCOUNT_CACHE_MS = 60_000;
const ACCOUNT_CACHE_MAX = 100_000;

const MESSAGE_TYPES = new Set(['chat', 'error', 'groupchat', 'headline', 'normal']);

/**
 * Payloads one client may send another in an iq. Everything else — Jingle, in-band bytestreams,
 * SOCKS5 negotiation, stream initiation, custom payloads — would be a channel between users that
 * bypasses the audit pipeline (a file sent by IBB is just base64 in iq stanzas), so it is refused.
 */
export const CLIENT_IQ_NAMESPACES: ReadonlySet<string> = new Set([
  NS.discoInfo,
  NS.discoItems,
  NS.version,
  NS.time,
  NS.ping,
  NS.last,
  NS.stanzas, // <error/> payloads carry conditions in this namespace
]);

function iqPayloadAllowed(stanza: Element): boolean {
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    // An error reply's <error/> is in the stanza's own namespace; its condition children are checked below.
    if (child.name === 'error' && child.attrs.xmlns === undefined) {
      for (const c of child.children) if (typeof c !== 'string' && !CLIENT_IQ_NAMESPACES.has(String(c.attrs.xmlns ?? ''))) return false;
      continue;
    }
    if (!CLIENT_IQ_NAMESPACES.has(String(child.attrs.xmlns ?? ''))) return false;
  }
  return true;
}

export class Router {
  private readonly hostJid: Jid;
  /** Server-originated iq requests awaiting the client's answer, by id. */
  private readonly pending = new Map<string, { resolve: (el: Element) => void; timer: NodeJS.Timeout }>();
  private nextIqId = 0;
  /** Accounts recently found to exist (local → when), and lookups in flight. */
  private readonly existing = new Map<string, number>();
  private readonly lookups = new Map<string, Promise<boolean>>();
  private readonly metrics: WardenMetrics;

  constructor(private readonly deps: RouterDeps) {
    this.hostJid = makeJid('', deps.domain);
    this.metrics = deps.metrics ?? new WardenMetrics();
  }

  /** Entry point for every stanza from a bound client session. */
  fromClient(session: C2SSession, stanza: Element): void {
    const name = stanza.name;
    if (name !== 'message' && name !== 'presence' && name !== 'iq') {
      return session.fail(streamError('unsupported-stanza-type', `<${name}/> is not a stanza`));
    }
    this.metrics.stanzaRouted(name);
    // RFC 6120 §8.1.2.1: the server stamps the session's full JID, whatever the client wrote.
    stanza.attrs.from = session.fullJid;
    const from = makeJid(session.local, this.deps.domain, session.resource);
    let to: Jid | undefined;
    const rawTo = stanza.attrs.to as string | undefined;
    if (rawTo !== undefined) {
      const parsed = parseJid(rawTo);
      if (isJidError(parsed)) return this.refuse(session, stanza, new StanzaError('modify', 'jid-malformed', parsed.reason));
      to = parsed;
    }
    switch (name) {
      case 'message':
        return void this.routeMessage(session, stanza, from, to ?? makeJid(session.local, this.deps.domain)).catch((err: unknown) =>
          this.internalError(session, stanza, err),
        );
      case 'presence':
        this.deps.modules.emit('presence-out', { session, stanza, to });
        return;
      case 'iq':
        return this.routeIq(session, stanza, from, to);
    }
  }

  /**
   * Whether a local account exists: synchronously when it has sessions or was seen lately,
   * otherwise one shared lookup. Every message to the same account awaits the same promise, so
   * they continue in arrival order (promise reactions run in registration order) — RFC 6120
   * §10.1 in-order processing survives the database round trip.
   */
  private accountKnown(local: string): boolean | Promise<boolean> {
    const pending = this.lookups.get(local);
    if (pending) return pending;
    if (this.deps.sessions.has(local)) return true;
    const seen = this.existing.get(local);
    if (seen !== undefined && performance.now() - seen < ACCOUNT_CACHE_MS) return true;
    const lookup = this.deps.accountExists(local).then(
      (exists) => {
        this.lookups.delete(local);
        if (exists) this.rememberAccount(local);
        return exists;
      },
      (err: unknown) => {
        this.lookups.delete(local);
        throw err;
      },
    );
    this.lookups.set(local, lookup);
    return lookup;
  }

  private rememberAccount(local: string): void {
    if (this.existing.size >= ACCOUNT_CACHE_MAX) this.existing.delete(this.existing.keys().next().value!);
    this.existing.set(local, performance.now());
  }

  /** Forgets a deleted account at once (the cache would otherwise vouch for it for a while). */
  forgetAccount(local: string): void {
    this.existing.delete(local);
  }

  /** Sends an iq request to a client and resolves with its answer (XEP-0199 pings, roster checks). */
  request(session: C2SSession, iq: Element, timeoutMs: number): Promise<Element | undefined> {
    const id = `w${(this.nextIqId++).toString(36)}`;
    iq.attrs.id = id;
    iq.attrs.to = session.fullJid;
    iq.attrs.from ??= this.deps.domain;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(`${session.id}/${id}`);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.pending.set(`${session.id}/${id}`, { resolve, timer });
      session.send(iq);
    });
  }

  // --- messages (RFC 6121 §8.5) -------------------------------------------------------------

  private async routeMessage(session: C2SSession, stanza: Element, from: Jid, to: Jid): Promise<void> {
    const type = (stanza.attrs.type as string | undefined) ?? 'normal';
    if (!MESSAGE_TYPES.has(type)) {
      return this.refuse(session, stanza, new StanzaError('modify', 'bad-request', `Unknown message type ${type}`));
    }
    if (to.domain !== this.deps.domain) {
      // Federation is not enabled: RFC 6120 §8.3.3.15.
      return this.refuse(session, stanza, new StanzaError('cancel', 'remote-server-not-found', `${to.domain} is not served here`));
    }
    if (to.local === '') {
      // Messages to the server itself: nothing here consumes them (RFC 6121 §8.5.1).
      return type === 'error' ? undefined : this.refuse(session, stanza, new StanzaError('cancel', 'service-unavailable'));
    }
    const filter = { from, to, stanza } as { from: Jid; to: Jid; stanza: Element; refusal?: StanzaError };
    if (this.deps.modules.emit('stanza-filter', filter)) {
      return filter.refusal ? this.refuse(session, stanza, filter.refusal) : undefined;
    }
    const known = this.accountKnown(to.local);
    if (!(typeof known === 'boolean' ? known : await known)) {
      // RFC 6121 §8.5.2.2.3 / §8.5.3.2.3: no such account.
      if (type === 'error' || type === 'headline') return;
      return this.refuse(session, stanza, new StanzaError('cancel', 'service-unavailable'));
    }
    const message: AuditedMessage = { stanza, from, to, direction: 'internal' };
    const outcome = await this.deps.audit.inspect(message);
    if (outcome.kind === 'refuse') return this.refuse(session, stanza, outcome.error);
    if (outcome.kind === 'hold') return;
    await this.deliverMessage(outcome.stanza, to, type);
  }

  /**
   * Delivers an audited message to a local account by RFC 6121 §8.5.2 (bare) and §8.5.3 (full).
   * Also used by the audit pipeline when an officer releases a held message.
   */
  async deliverMessage(stanza: Element, to: Jid, type: string = (stanza.attrs.type as string | undefined) ?? 'normal'): Promise<void> {
    if (to.resource !== '') {
      const target = this.deps.sessions.get(to.local, to.resource);
      if (target) return this.toSession(target, stanza);
      // §8.5.3.2.1: no such resource — chat/normal as if to the bare JID, headline/error dropped.
      if (type === 'headline' || type === 'error') return;
      if (type === 'groupchat') return this.bounce(stanza, new StanzaError('cancel', 'service-unavailable'));
    }
    if (type === 'groupchat') return this.bounce(stanza, new StanzaError('cancel', 'service-unavailable'));
    const targets = this.availableResources(to.local, type);
    if (targets.length > 0) {
      for (const target of targets) this.toSession(target, stanza);
      return;
    }
    if (type === 'headline' || type === 'error') return; // §8.5.2.2.1: silently ignored
    const offline = this.deps.modules.service('offline');
    if (!offline) return this.bounce(stanza, new StanzaError('cancel', 'service-unavailable'));
    try {
      await offline.store(to.local, stanza);
    } catch (err) {
      this.bounce(stanza, err instanceof StanzaError ? err : new StanzaError('wait', 'internal-server-error'));
    }
  }

  /**
   * §8.5.2.1.1: normal and chat go to the highest-priority non-negative available resource(s)
   * (to all of them when tied); headline to all non-negative ones.
   */
  private availableResources(local: string, type: string): C2SSession[] {
    let best = -1;
    let chosen: C2SSession[] = [];
    for (const s of this.deps.sessions.resourcesOf(local)) {
      if (!s.available || s.priority < 0) continue;
      if (type === 'headline') chosen.push(s);
      else if (s.priority > best) {
        best = s.priority;
        chosen = [s];
      } else if (s.priority === best) chosen.push(s);
    }
    return chosen;
  }

  private toSession(target: C2SSession, stanza: Element): void {
    if (this.deps.modules.emit('message-deliver', { recipient: target, stanza })) return;
    target.send(stanza);
  }

  // --- iq (RFC 6120 §8.2.3) ------------------------------------------------------------------

  private routeIq(session: C2SSession, stanza: Element, from: Jid, to: Jid | undefined): void {
    const type = stanza.attrs.type as string | undefined;
    if (type === 'result' || type === 'error') {
      if (to === undefined || (to.local === '' && to.domain === this.deps.domain) || (to.local === session.local && to.resource === '' && to.domain === this.deps.domain)) {
        const key = `${session.id}/${String(stanza.attrs.id)}`;
        const waiting = this.pending.get(key);
        if (waiting) {
          this.pending.delete(key);
          clearTimeout(waiting.timer);
          waiting.resolve(stanza);
        }
        return;
      }
      if (to.resource !== '') return this.forwardIq(session, stanza, from, to);
      return;
    }
    if ((type !== 'get' && type !== 'set') || stanza.attrs.id === undefined) {
      return this.refuse(session, stanza, new StanzaError('modify', 'bad-request', 'An iq needs an id and type get or set'));
    }
    const children = stanza.children.filter((c): c is Element => typeof c !== 'string');
    if (children.length !== 1) {
      // RFC 6120 §8.2.3: a get or set has exactly one payload child.
      return this.refuse(session, stanza, new StanzaError('modify', 'bad-request', 'An iq get/set has exactly one child'));
    }
    const payload = children[0]!;
    const target: Jid = to ?? makeJid(session.local, this.deps.domain);
    if (target.domain !== this.deps.domain) {
      return this.refuse(session, stanza, new StanzaError('cancel', 'remote-server-not-found', `${target.domain} is not served here`));
    }
    if (target.resource !== '' && target.local !== '') return this.forwardIq(session, stanza, from, target);
    const where: IqTarget = target.local === '' ? 'host' : 'account';
    const handler = this.deps.modules.iqHandler(type, where, (payload.attrs.xmlns as string | undefined) ?? '');
    if (!handler) return this.refuse(session, stanza, new StanzaError('cancel', 'service-unavailable'));
    let result: Element | void | Promise<Element | void>;
    try {
      result = handler({ session, stanza, payload, from, to: target });
    } catch (err) {
      return this.handlerError(session, stanza, err);
    }
    if (result instanceof Promise) {
      result.then(
        (r) => this.answer(session, stanza, r),
        (err: unknown) => this.handlerError(session, stanza, err),
      );
    } else this.answer(session, stanza, result);
  }

  private forwardIq(session: C2SSession, stanza: Element, from: Jid, to: Jid): void {
    const target = this.deps.sessions.get(to.local, to.resource);
    const type = stanza.attrs.type as string;
    const isRequest = type === 'get' || type === 'set';
    const filter = { from, to, stanza } as { from: Jid; to: Jid; stanza: Element; refusal?: StanzaError };
    if (this.deps.modules.emit('stanza-filter', filter)) {
      if (filter.refusal && isRequest) this.refuse(session, stanza, filter.refusal);
      return;
    }
    // RFC 6121 §8.5.3.2.1: an iq to a resource that is not connected gets <service-unavailable/>.
    if (!target) return isRequest ? this.refuse(session, stanza, new StanzaError('cancel', 'service-unavailable')) : undefined;
    if (!iqPayloadAllowed(stanza)) {
      if (isRequest) {
        this.refuse(session, stanza, new StanzaError('cancel', 'policy-violation', 'Direct exchanges between clients (file transfer, calls, custom payloads) are not permitted here: everything must pass the compliance archive.'));
      }
      return;
    }
    target.send(stanza);
  }

  private answer(session: C2SSession, request: Element, payload: Element | void): void {
    const attrs: Record<string, string> = { type: 'result', id: String(request.attrs.id) };
    const to = request.attrs.to as string | undefined;
    if (to !== undefined) attrs.from = to;
    attrs.to = session.fullJid;
    session.send(payload ? xml('iq', attrs, payload) : xml('iq', attrs));
  }

  private handlerError(session: C2SSession, stanza: Element, err: unknown): void {
    if (err instanceof StanzaError) return this.refuse(session, stanza, err);
    this.internalError(session, stanza, err);
  }

  private internalError(session: C2SSession, stanza: Element, err: unknown): void {
    if (err instanceof StanzaError) return this.refuse(session, stanza, err);
    this.deps.log.error('stanza handling failed', { stanza: stanza.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    this.refuse(session, stanza, new StanzaError('cancel', 'internal-server-error'));
  }

  /** Answers the sender with an error — never an error to an error (RFC 6120 §8.3.1). */
  private refuse(session: C2SSession, stanza: Element, error: StanzaError): void {
    if (stanza.attrs.type === 'error') return;
    const reply = errorReply(stanza, error, stanza.name === 'message');
    reply.attrs.to = session.fullJid;
    session.send(reply);
  }

  /** Returns an undeliverable message to its (local) sender, if still connected. */
  private bounce(stanza: Element, error: StanzaError): void {
    if (stanza.attrs.type === 'error') return;
    const from = parseJid(String(stanza.attrs.from ?? ''));
    if (isJidError(from) || from.domain !== this.deps.domain) return;
    const reply = errorReply(stanza, error, true);
    const sender = this.deps.sessions.get(from.local, from.resource);
    sender?.send(reply);
  }

  get host(): Jid {
    return this.hostJid;
  }
}
