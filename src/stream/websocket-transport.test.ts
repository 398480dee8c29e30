import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../../test/support/server.ts';
import { describePeer } from './websocket-transport.ts';

describe('describePeer', () => {
  const req = (remoteAddress: string, headers: Record<string, string> = {}) => ({ headers, socket: { remoteAddress } });
  it.each([
    ['loopback over plain HTTP counts as protected', req('127.0.0.1'), { tls: false, trustedProxies: [] }, { address: '127.0.0.1', secure: true }],
    ['IPv6 loopback too', req('::1'), { tls: false, trustedProxies: [] }, { address: '::1', secure: true }],
    ['a remote peer over plain HTTP is not protected', req('203.0.113.5'), { tls: false, trustedProxies: [] }, { address: '203.0.113.5', secure: false }],
    ['a remote peer over HTTPS is', req('203.0.113.5'), { tls: true, trustedProxies: [] }, { address: '203.0.113.5', secure: true }],
    [
      'a trusted proxy that terminated TLS is believed',
      req('10.0.0.2', { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'https' }),
      { tls: false, trustedProxies: ['10.0.0.2'] },
      { address: '198.51.100.7', secure: true },
    ],
    [
      'forwarded headers from an untrusted peer are ignored',
      req('10.0.0.3', { 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https' }),
      { tls: false, trustedProxies: ['10.0.0.2'] },
      { address: '10.0.0.3', secure: false },
    ],
    [
      'a trusted proxy forwarding plain HTTP is not protected',
      req('10.0.0.2', { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-proto': 'http' }),
      { tls: false, trustedProxies: ['10.0.0.2'] },
      { address: '198.51.100.7', secure: false },
    ],
  ])('%s', (_name, r, opts, expected) => {
    expect(describePeer(r, opts)).toEqual(expected);
  });
});

describe('the /xmpp-websocket endpoint', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ ALLOWED_ORIGINS: 'https://chat.example.com' });
  });
  afterAll(async () => t?.close());

  const open = (protocols: string[], origin?: string) =>
    new Promise<{ status?: number; protocol?: string; socket?: WebSocket }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`, protocols, origin ? { origin } : {});
      ws.on('open', () => resolve({ protocol: ws.protocol, socket: ws }));
      ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      ws.on('error', () => {});
    });

  it('agrees to the xmpp subprotocol and answers <open/> with <open/> and features', async () => {
    const r = await open(['xmpp'], 'https://chat.example.com');
    expect(r.protocol).toBe('xmpp');
    const frames: string[] = [];
    r.socket!.on('message', (d) => frames.push(d.toString()));
    r.socket!.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`);
    await new Promise((res) => setTimeout(res, 500));
    expect(frames[0]).toMatch(/^<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/);
    expect(frames[1]).toContain('SCRAM-SHA-256');
    r.socket!.close();
  });

  it('refuses a client that does not ask for the xmpp subprotocol', async () => {
    expect((await open(['chat'])).status).toBe(400);
  });

  it('refuses a browser page from an origin not in ALLOWED_ORIGINS', async () => {
    expect((await open(['xmpp'], 'https://evil.example.net')).status).toBe(403);
  });

  it('ends a stream whose frame holds broken XML with <not-well-formed/> and a <close/>', async () => {
    const r = await open(['xmpp']);
    const frames: string[] = [];
    r.socket!.on('message', (d) => frames.push(d.toString()));
    const closed = new Promise((res) => r.socket!.on('close', res));
    r.socket!.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`);
    r.socket!.send(`<message><body>unclosed`);
    await closed;
    expect(frames.join('')).toContain('<not-well-formed');
    expect(frames.at(-1)).toContain('<close');
  });
});
