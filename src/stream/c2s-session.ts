// One client-to-server stream, on any transport: header exchange, STARTTLS, SASL, resource
// binding (RFC 6120 §4–§7), then stanzas handed to the router. It knows nothing of policy or SQL.
import { randomBytes } from 'node:crypto';
import type { CredentialLookup } from '../auth/scram-credential.ts';
import { offeredMechanisms, startSaslExchange, type SaslExchange, type SaslStep } from '../auth/sasl.ts';
import { addressThrottleKey, type LoginThrottle } from '../auth/throttle.ts';
import type { Logger } from '../log.ts';
import { NS } from '../ns.ts';
import { normalizeLocalpart, normalizeResourcepart } from '../stanza/jid.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import { StanzaError, errorReply } from '../stanza/stanza-error.ts';
import { Element, escapeXML, xml } from '../xml.ts';
import { StreamParser } from './parser.ts';
import { streamError, type StreamError } from './stream-error.ts';
import type { Transport } from './transport.ts';

export interface C2SContext {
  readonly domain: string;
  readonly requireTls: boolean;
  readonly tlsAvailable: boolean;
  readonly maxStanzaBytes: number;
  readonly authTimeoutMs: number;
  /** Failed SASL attempts allowed on one stream before it is closed (RFC 6120 §6.4.5). */
  readonly maxAuthAttemptsPerStream: number;
  readonly log: Logger;
  readonly lookupCredential: CredentialLookup;
  readonly throttle: LoginThrottle;
  readonly sessions: SessionRegistry<C2SSession>;
  /** Extra stream features offered after authentication (e.g. roster versioning). */
  readonly boundFeatures: () => readonly Element[];
  /** Every stanza from a bound session goes here, in order. */
  readonly route: (session: C2SSession, stanza: Element) => void;
  readonly sessionBound: (session: C2SSession) => void;
  readonly sessionClosed: (session: C2SSession) => void;
  /** Any stream ended, bound or not. */
  readonly streamClosed: (session: C2SSession) => void;
  /** XEP-0077 account creation before authentication; absent when registration is off. */
  readonly preAuthRegister?: (iq: Element) => Promise<Element>;
}

type State =
  | 'await-header' // before the (next) stream header
  | 'negotiating' // header answered, features sent, not yet authenticated
  | 'authenticated' // SASL done, stream restarted, not yet bound
  | 'bound'
  | 'closed';

const CLOSE_TAG = { stream: '</stream:stream>', websocket: `<close xmlns='${NS.framing}'/>` } as const;

export class C2SSession {
  readonly id = randomBytes(12).toString('base64url');
  readonly since = new Date();
  local = '';
  resource = '';
  /** local@domain/resource once bound. */
  fullJid = '';
  bareJid = '';
  /** Sent initial presence and not since unavailable (RFC 6121 §4.2): an "available resource". */
  available = false;
  /** Presence priority, -128..127 (RFC 6121 §4.7.2.3); negative resources get no bare-JID messages. */
  priority = 0;
  /** Free per-session state for modules (presence, carbons, …), keyed by module. */
  readonly data = new Map<string, unknown>();

  private state: State = 'await-header';
  private headerSent = false;
  private authenticated = false;
  private sasl: SaslExchange | undefined;
  /**
   * The throttle key of the SASL exchange in progress. It counts against the address from its
   * <auth/> until it ends, so parallel streams cannot all pass the throttle before the first
   * wrong password is counted.
   */
  private saslAttempt: string | undefined;
  private failedAuth = 0;
  private readonly parser: StreamParser;
  private authTimer: NodeJS.Timeout | undefined;
  private busy = false;
  private readonly backlog: Element[] = [];

  constructor(
    readonly transport: Transport,
    private readonly ctx: C2SContext,
  ) {
    this.parser = new StreamParser(
      {
        onStreamOpen: (attrs) => this.onHeader(attrs),
        onStanza: (el) => this.onElement(el),
        onStreamClose: () => this.onPeerClose(),
        onError: (err) => this.fail(err),
      },
      { framing: transport.framing, maxStanzaBytes: ctx.maxStanzaBytes },
    );
    transport.listen({ data: (chunk) => this.parser.write(chunk), close: () => this.cleanup() });
    this.authTimer = setTimeout(
      () => this.fail(streamError('connection-timeout', 'Authentication took too long')),
      ctx.authTimeoutMs,
    );
    this.authTimer.unref();
  }

  get isBound(): boolean {
    return this.state === 'bound';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Sends a stanza or raw XML to the client. */
  send(stanza: Element | string): void {
    if (this.state === 'closed') return;
    if (typeof stanza === 'string') return this.transport.write(stanza);
    // RFC 7395 §3.3.3: each WebSocket frame is standalone, so stanzas carry their namespace.
    if (this.transport.framing === 'websocket' && stanza.attrs.xmlns === undefined) stanza.attrs.xmlns = NS.client;
    this.transport.write(stanza.toString());
  }

  /** Ends the stream with a stream error (RFC 6120 §4.9): error, close tag, then the transport. */
  fail(err: StreamError): void {
    if (this.state === 'closed') return;
    if (!this.headerSent) this.sendHeader();
    const streamNs = this.transport.framing === 'websocket' ? ` xmlns:stream='${NS.stream}'` : '';
    const text = err.text ? `<text xmlns='${NS.streams}' xml:lang='en'>${escapeXML(err.text)}</text>` : '';
    this.transport.write(
      `<stream:error${streamNs}><${err.condition} xmlns='${NS.streams}'/>${text}</stream:error>${CLOSE_TAG[this.transport.framing]}`,
    );
    this.ctx.log.debug('stream error', { session: this.id, condition: err.condition, jid: this.fullJid || undefined });
    this.closeTransport();
  }

  /** Closes the stream without an error (RFC 6120 §4.4). */
  close(): void {
    if (this.state === 'closed') return;
    if (this.headerSent) this.transport.write(CLOSE_TAG[this.transport.framing]);
    this.closeTransport();
  }

  private closeTransport(): void {
    this.transport.end();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.state === 'closed') return;
    const wasBound = this.state === 'bound';
    this.state = 'closed';
    this.endSaslAttempt(false);
    clearTimeout(this.authTimer);
    this.ctx.streamClosed(this);
    if (wasBound) {
      this.ctx.sessions.unbind(this); // false when a newer session replaced this one
      this.ctx.sessionClosed(this);
    }
  }

  private sendHeader(attrs: Record<string, string> = {}): void {
    this.headerSent = true;
    const id = `${this.id}-${randomBytes(4).toString('hex')}`;
    const to = attrs.from && this.authenticated ? ` to='${escapeXML(attrs.from)}'` : '';
    this.transport.write(
      this.transport.framing === 'websocket'
        ? `<open xmlns='${NS.framing}' id='${id}' from='${escapeXML(this.ctx.domain)}'${to} version='1.0' xml:lang='en'/>`
        : `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' id='${id}' from='${escapeXML(this.ctx.domain)}'${to} version='1.0' xml:lang='en'>`,
    );
  }

  private onHeader(attrs: Record<string, string>): void {
    if (this.state !== 'await-header') return this.fail(streamError('not-well-formed', 'Unexpected stream header'));
    this.sendHeader(attrs);
    // RFC 6120 §4.7.5: a version below 1.0 is a stream we do not speak.
    const version = attrs.version ?? '0.9';
    if (!/^1\.\d+$/.test(version)) return this.fail(streamError('unsupported-version', 'XMPP 1.0 streams only'));
    if (attrs.to === undefined || attrs.to.toLowerCase().replace(/\.$/, '') !== this.ctx.domain) {
      return this.fail(streamError('host-unknown', `This server hosts ${this.ctx.domain}`));
    }
    if (!this.authenticated && !this.mayAuthenticate() && !(this.transport.canStartTls && this.ctx.tlsAvailable)) {
      // RFC 7395 has no STARTTLS: a plain ws:// stream from the network can never authenticate.
      return this.fail(streamError('policy-violation', 'TLS is required: connect with wss:// or use STARTTLS'));
    }
    this.state = this.authenticated ? 'authenticated' : 'negotiating';
    this.send(this.features());
  }

  private mayAuthenticate(): boolean {
    return this.transport.secure || !this.ctx.requireTls;
  }

  private features(): Element {
    const features = xml('stream:features', this.transport.framing === 'websocket' ? { 'xmlns:stream': NS.stream } : {});
    if (this.authenticated) {
      features.cnode(xml('bind', { xmlns: NS.bind }));
      // RFC 6121 legacy session establishment, offered as optional (draft-cridland-xmpp-session).
      features.cnode(xml('session', { xmlns: NS.session }, xml('optional')));
      for (const f of this.ctx.boundFeatures()) features.cnode(f);
      return features;
    }
    if (this.transport.canStartTls && this.ctx.tlsAvailable) {
      const starttls = features.c('starttls', { xmlns: NS.tls });
      if (this.ctx.requireTls) starttls.c('required');
    }
    if (this.mayAuthenticate()) {
      if (this.ctx.preAuthRegister) features.c('register', { xmlns: NS.registerFeature });
      const mechanisms = features.c('mechanisms', { xmlns: NS.sasl });
      for (const m of offeredMechanisms({ secure: this.transport.secure, plainAllowedInsecure: false })) {
        mechanisms.c('mechanism').t(m);
      }
    }
    return features;
  }

  private onElement(el: Element): void {
    if (this.state === 'closed') return;
    if (this.busy) {
      this.backlog.push(el);
      return;
    }
    const pending = this.handle(el);
    if (pending) this.waitFor(pending);
  }

  /** Holds later elements back while an asynchronous step (SASL lookup) runs, so order is kept. */
  private waitFor(pending: Promise<void>): void {
    this.busy = true;
    pending
      .catch((err: unknown) => {
        this.ctx.log.error('session step failed', { session: this.id, error: String(err) });
        this.fail(streamError('internal-server-error'));
      })
      .finally(() => {
        this.busy = false;
        while (!this.busy && this.backlog.length > 0 && this.state !== 'closed') {
          const next = this.handle(this.backlog.shift()!);
          if (next) this.waitFor(next);
        }
      });
  }

  private handle(el: Element): Promise<void> | void {
    const xmlns = el.attrs.xmlns as string | undefined;
    switch (this.state) {
      case 'bound':
        this.ctx.route(this, el);
        return;
      case 'negotiating':
        if (xmlns === NS.tls && el.name === 'starttls') return this.startTls();
        if (xmlns === NS.sasl) return this.onSasl(el);
        if (el.name === 'iq' && this.ctx.preAuthRegister && el.getChild('query', NS.register)) return this.register(el, this.ctx.preAuthRegister);
        // RFC 6120 §6.4.1 / §4.9.3.12: stanzas before authentication.
        return this.fail(streamError('not-authorized', 'Authenticate first'));
      case 'authenticated':
        if (el.name === 'iq' && el.attrs.type === 'set' && el.getChild('bind', NS.bind)) return this.bind(el);
        if (el.name === 'iq') return this.send(errorReply(el, new StanzaError('auth', 'not-authorized', 'Bind a resource first')));
        return this.fail(streamError('not-authorized', 'Bind a resource first'));
      default:
        return this.fail(streamError('not-well-formed'));
    }
  }

  /** XEP-0077 §3.1 in-band registration on a not-yet-authenticated stream. */
  private register(iq: Element, preAuthRegister: (iq: Element) => Promise<Element>): Promise<void> | void {
    if (!this.mayAuthenticate()) return this.send(errorReply(iq, new StanzaError('auth', 'not-authorized', 'Use TLS first')));
    const key = addressThrottleKey(this.transport.remoteAddress);
    const wait = this.ctx.throttle.retryAfter(key);
    if (wait > 0) return this.send(errorReply(iq, new StanzaError('wait', 'resource-constraint', 'Too many attempts; retry later')));
    // Each sign-up costs two password derivations: count it against the address like a failed
    // login, at once (before the derivations), so parallel sign-ups are counted too.
    if (iq.attrs.type === 'set') this.ctx.throttle.recordFailure(key);
    return preAuthRegister(iq).then((reply) => this.send(reply));
  }

  private startTls(): Promise<void> | void {
    if (!this.transport.canStartTls || !this.ctx.tlsAvailable) {
      this.send(xml('failure', { xmlns: NS.tls }));
      return this.close();
    }
    this.send(xml('proceed', { xmlns: NS.tls }));
    this.parser.reset();
    this.headerSent = false;
    this.state = 'await-header';
    return this.transport.startTls().catch((err: unknown) => {
      // RFC 6120 §5.4.3.2: a failed handshake ends the TCP connection without a stream error.
      this.ctx.log.debug('TLS handshake failed', { session: this.id, error: String(err) });
      this.closeTransport();
    });
  }

  private onSasl(el: Element): Promise<void> | void {
    if (!this.mayAuthenticate()) {
      return this.saslFailure({ kind: 'failure', condition: 'encryption-required', text: 'Use STARTTLS first' });
    }
    if (el.name === 'abort') {
      this.sasl = undefined;
      return this.saslFailure({ kind: 'failure', condition: 'aborted' });
    }
    let payload: Buffer;
    const text = el.getText().trim();
    if (text === '' || text === '=') payload = Buffer.alloc(0);
    else if (/^[A-Za-z0-9+/]+={0,2}$/.test(text) && text.length % 4 === 0) payload = Buffer.from(text, 'base64');
    else return this.saslFailure({ kind: 'failure', condition: 'incorrect-encoding' });

    if (el.name === 'auth') {
      // A new <auth/> replaces an exchange in progress (RFC 6120 §6.4.5 allows retries).
      this.endSaslAttempt(false);
      const key = addressThrottleKey(this.transport.remoteAddress);
      const wait = this.ctx.throttle.begin([key]);
      if (wait > 0) {
        return this.saslFailure({
          kind: 'failure',
          condition: 'temporary-auth-failure',
          text: `Too many failed logins; retry in ${Math.ceil(wait / 1000)} s`,
        });
      }
      const started = startSaslExchange(el.attrs.mechanism ?? '', {
        secure: this.transport.secure,
        plainAllowedInsecure: false, // PLAIN only over TLS, whatever C2S_REQUIRE_TLS says
        lookup: this.ctx.lookupCredential,
        normalizeUsername: normalizeLocalpart,
        domain: this.ctx.domain,
      });
      if ('kind' in started) {
        this.ctx.throttle.end(key, false);
        return this.saslFailure(started);
      }
      this.saslAttempt = key;
      this.sasl = started;
    } else if (el.name !== 'response' || !this.sasl) {
      return this.saslFailure({ kind: 'failure', condition: 'malformed-request' });
    }
    const exchange = this.sasl;
    return exchange.step(payload).then((step) => this.onSaslStep(step));
  }

  private onSaslStep(step: SaslStep): void {
    if (this.state === 'closed') return;
    if (step.kind === 'challenge') {
      this.send(xml('challenge', { xmlns: NS.sasl }, step.data.toString('base64')));
      return;
    }
    this.sasl = undefined;
    const key = this.saslAttempt;
    if (step.kind === 'failure') {
      // Only a wrong password counts as a failure; a malformed message is no guess.
      this.endSaslAttempt(step.condition === 'not-authorized');
      return this.saslFailure(step);
    }
    this.endSaslAttempt(false);
    if (key !== undefined) this.ctx.throttle.recordSuccess(key);
    this.authenticated = true;
    this.local = step.username;
    this.bareJid = `${step.username}@${this.ctx.domain}`;
    const success = xml('success', { xmlns: NS.sasl });
    if (step.additionalData?.length) success.t(step.additionalData.toString('base64'));
    this.send(success);
    // RFC 6120 §6.4.6: both sides discard the old stream; the client opens a new one.
    this.parser.reset();
    this.headerSent = false;
    this.state = 'await-header';
  }

  private endSaslAttempt(failed: boolean): void {
    if (this.saslAttempt === undefined) return;
    this.ctx.throttle.end(this.saslAttempt, failed);
    this.saslAttempt = undefined;
  }

  private saslFailure(step: Extract<SaslStep, { kind: 'failure' }> | { kind: 'failure'; condition: string; text?: string }): void {
    this.sasl = undefined;
    this.endSaslAttempt(false); // an exchange ended by abort or a malformed message
    const failure = xml('failure', { xmlns: NS.sasl }, xml(step.condition));
    if (step.text) failure.c('text', { 'xml:lang': 'en' }).t(step.text);
    this.send(failure);
    if (step.condition !== 'aborted' && ++this.failedAuth >= this.ctx.maxAuthAttemptsPerStream) {
      this.fail(streamError('policy-violation', 'Too many failed authentication attempts'));
    }
  }

  private bind(iq: Element): void {
    const requested = iq.getChild('bind', NS.bind)?.getChildText('resource');
    let resource: string | undefined;
    if (requested) {
      resource = normalizeResourcepart(requested);
      // RFC 6120 §7.7.2.1: a resource that cannot be processed gets <bad-request/>.
      if (resource === undefined) {
        return this.send(errorReply(iq, new StanzaError('modify', 'bad-request', 'Invalid resource')));
      }
    } else {
      resource = `warden-${randomBytes(6).toString('base64url')}`;
    }
    this.resource = resource;
    this.fullJid = `${this.bareJid}/${resource}`;
    this.state = 'bound';
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    // RFC 6120 §7.7.2.2: our policy on a conflicting resource is to replace the old session.
    const previous = this.ctx.sessions.bind(this);
    if (previous && previous !== this) {
      previous.fail(streamError('conflict', 'Replaced by a new connection for the same resource'));
    }
    const result = xml('iq', { type: 'result', id: iq.attrs.id }, xml('bind', { xmlns: NS.bind }, xml('jid', {}, this.fullJid)));
    this.send(result);
    this.ctx.sessionBound(this);
  }

  private onPeerClose(): void {
    // RFC 6120 §4.4: answer the closing tag with ours, then close the transport.
    this.close();
  }
}
