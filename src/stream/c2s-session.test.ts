// Unit tests of the stream core on an in-memory transport (the real transports are covered by
// the interop tests under test/).
import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../auth/throttle.ts';
import { silentLogger } from '../log.ts';
import { SessionRegistry } from '../stanza/session-registry.ts';
import { C2SSession, type C2SContext } from './c2s-session.ts';
import type { Transport, TransportEvents } from './transport.ts';

class MemoryTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly framing = 'websocket' as const;
  readonly remoteAddress = '203.0.113.9';
  readonly canStartTls = false;
  readonly pendingBytes = 0;
  written: string[] = [];
  ended = false;
  events: TransportEvents | undefined;
  constructor(readonly secure: boolean) {}
  listen(e: TransportEvents) {
    this.events = e;
  }
  write(d: string) {
    this.written.push(d);
  }
  startTls() {
    return Promise.reject(new Error('no'));
  }
  end() {
    this.ended = true;
  }
}

function context(requireTls: boolean): C2SContext {
  return {
    domain: 'localhost',
    requireTls,
    tlsAvailable: true,
    maxStanzaBytes: 65536,
    authTimeoutMs: 10_000,
    maxAuthAttemptsPerStream: 3,
    log: silentLogger,
    lookupCredential: async () => undefined,
    throttle: new LoginThrottle(),
    sessions: new SessionRegistry(),
    boundFeatures: () => [],
    route: () => {},
    sessionBound: () => {},
    sessionClosed: () => {},
    streamClosed: () => {},
  };
}

const OPEN = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`;

describe('C2SSession on a plain WebSocket from the network', () => {
  it('refuses to negotiate when TLS is required, saying why', () => {
    const t = new MemoryTransport(false);
    new C2SSession(t, context(true));
    t.events!.data(OPEN);
    const all = t.written.join('');
    expect(all).toContain('<policy-violation');
    expect(all).toContain('wss://');
    expect(t.ended).toBe(true);
  });

  it('offers SCRAM but never PLAIN when C2S_REQUIRE_TLS=false', () => {
    const t = new MemoryTransport(false);
    new C2SSession(t, context(false));
    t.events!.data(OPEN);
    const features = t.written.join('');
    expect(features).toContain('SCRAM-SHA-256');
    expect(features).not.toContain('PLAIN');
    expect(t.ended).toBe(false);
  });

  it('offers PLAIN once the transport is protected', () => {
    const t = new MemoryTransport(true);
    new C2SSession(t, context(true));
    t.events!.data(OPEN);
    expect(t.written.join('')).toContain('<mechanism>PLAIN</mechanism>');
  });

  it('answers an unsupported stream version with <unsupported-version/>', () => {
    const t = new MemoryTransport(true);
    new C2SSession(t, context(true));
    t.events!.data(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='0.9'/>`);
    expect(t.written.join('')).toContain('<unsupported-version');
  });
});

describe('C2SSession login throttle', () => {
  it('checks at most the throttle\'s limit of passwords sent at once from one address on parallel streams', async () => {
    const throttle = new LoginThrottle({ maxFailures: 5 });
    const ctx = { ...context(true), throttle };
    const plain = Buffer.from('\0alice\0not-her-password').toString('base64');
    const streams = Array.from({ length: 20 }, () => {
      const t = new MemoryTransport(true);
      new C2SSession(t, ctx);
      t.events!.data(OPEN);
      t.events!.data(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`);
      return t;
    });
    const answered = () => streams.every((t) => t.written.join('').includes('<failure'));
    for (let i = 0; i < 200 && !answered(); i++) await new Promise((r) => setTimeout(r, 25));
    const outcomes = streams.map((t) => (t.written.join('').includes('<not-authorized') ? 'checked' : t.written.join('').includes('<temporary-auth-failure') ? 'refused' : 'none'));
    expect(outcomes.filter((o) => o === 'checked').length).toBeLessThanOrEqual(5);
    expect(outcomes.filter((o) => o === 'refused').length).toBeGreaterThanOrEqual(15);
    expect(throttle.retryAfter('203.0.113.9')).toBeGreaterThan(1000); // locked, not merely busy
  });
});
