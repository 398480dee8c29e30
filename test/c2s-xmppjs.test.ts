// Dialogues with a client this team did not write (@xmpp/client from npm): log in over
// TCP+STARTTLS and over WebSocket, bind, run two resources, and see a conflicting resource
// replace the older session. @xmpp/client 0.14 implements SCRAM-SHA-1 and PLAIN but not
// SCRAM-SHA-256; slixmpp covers SCRAM-SHA-256 (c2s-slixmpp.test.ts).
import { client, type Client } from '@xmpp/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from './support/server.ts';

// The generated certificate is self-signed; @xmpp/client offers no way to pin it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
// Node 20 has no global WebSocket (22 does); @xmpp/websocket expects the browser API, which ws provides.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.addUser('alice', 'wonderland');
  await t.addUser('bob', 'builder');
});
afterAll(async () => t?.close());

type Transport = 'tcp' | 'websocket';
function connect(transport: Transport, username: string, password: string, resource?: string, mechanism?: string): Client {
  const service = transport === 'tcp' ? `xmpp://127.0.0.1:${t.server.ports.c2s}` : `ws://127.0.0.1:${t.server.ports.http}/xmpp-websocket`;
  const xmpp = client({ service, domain: 'localhost', username, password, resource });
  if (mechanism) {
    // Restrict the client to one SASL mechanism to prove each works on its own.
    const saslFactory = (xmpp as unknown as { saslFactory: { _mechs: Array<{ name: string }> } }).saslFactory;
    saslFactory._mechs = saslFactory._mechs.filter((m) => m.name === mechanism);
  }
  xmpp.on('error', () => {});
  return xmpp;
}

async function online(xmpp: Client): Promise<string> {
  const address = await xmpp.start();
  return address.toString();
}

describe.each<Transport>(['tcp', 'websocket'])('over %s', (transport) => {
  it.each(['SCRAM-SHA-1', 'PLAIN'])('logs in with %s and binds the requested resource', async (mechanism) => {
    const xmpp = connect(transport, 'alice', 'wonderland', 'laptop', mechanism);
    const jid = await online(xmpp);
    expect(jid).toBe('alice@localhost/laptop');
    const session = t.server.sessions.get('alice', 'laptop');
    expect(session?.transport.kind).toBe(transport === 'tcp' ? 'tcp' : 'websocket');
    expect(session?.transport.secure).toBe(true); // STARTTLS on TCP; loopback counts as protected on ws
    await xmpp.stop();
  });

  it('rejects a wrong password with not-authorized', async () => {
    const xmpp = connect(transport, 'bob', 'wrong-password');
    await expect(xmpp.start()).rejects.toMatchObject({ condition: 'not-authorized' });
    await xmpp.stop().catch(() => {});
  });

  it('keeps two resources of one account online at once', async () => {
    const a = connect(transport, 'bob', 'builder', 'phone');
    const b = connect(transport, 'bob', 'builder', 'desk');
    expect(await online(a)).toBe('bob@localhost/phone');
    expect(await online(b)).toBe('bob@localhost/desk');
    expect([...t.server.sessions.resourcesOf('bob')].map((s) => s.resource).sort()).toEqual(['desk', 'phone']);
    await Promise.all([a.stop(), b.stop()]);
  });

  it('replaces the older session when a new one binds the same resource, telling it <conflict/>', async () => {
    const first = connect(transport, 'alice', 'wonderland', 'same');
    await online(first);
    const streamError = new Promise<string>((resolve) =>
      first.on('error', (err: { condition?: string }) => resolve(String(err.condition))),
    );
    const second = connect(transport, 'alice', 'wonderland', 'same');
    await online(second);
    expect(await streamError).toBe('conflict');
    expect(t.server.sessions.get('alice', 'same')).toBeDefined();
    await second.stop();
    await first.stop().catch(() => {});
  });

  it('generates a resource when the client asks for none', async () => {
    const xmpp = connect(transport, 'alice', 'wonderland');
    const jid = await online(xmpp);
    expect(jid).toMatch(/^alice@localhost\/.+/);
    await xmpp.stop();
  });
});

describe('the sessions API against live sessions', () => {
  const call = (method: string, path: string) =>
    fetch(`http://127.0.0.1:${t.server.ports.http}${path}`, { method, headers: { authorization: `Bearer ${t.adminToken}` } });

  it('lists a connected resource and kicks it by its full JID, case-folded like the bind', async () => {
    const xmpp = connect('tcp', 'bob', 'builder', 'kickme');
    await online(xmpp);
    const listed = (await (await call('GET', '/api/v1/sessions')).json()) as { items: Array<{ jid: string; transport: string }> };
    expect(listed.items).toContainEqual(expect.objectContaining({ jid: 'bob@localhost/kickme', transport: 'tcp' }));
    const ended = new Promise<string>((resolve) => xmpp.on('error', (err: { condition?: string }) => resolve(String(err.condition))));
    expect((await call('DELETE', `/api/v1/sessions/${encodeURIComponent('BOB@localhost/kickme')}`)).status).toBe(204);
    expect(await ended).toBe('policy-violation');
    expect(t.server.sessions.get('bob', 'kickme')).toBeUndefined();
    await xmpp.stop().catch(() => {});
  });

  it('does not kick a local session named with another domain', async () => {
    const xmpp = connect('tcp', 'bob', 'builder', 'stays');
    await online(xmpp);
    expect((await call('DELETE', `/api/v1/sessions/${encodeURIComponent('bob@elsewhere.example/stays')}`)).status).toBe(404);
    expect(t.server.sessions.get('bob', 'stays')).toBeDefined();
    await xmpp.stop();
  });
});
