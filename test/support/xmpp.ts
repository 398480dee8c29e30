// Helpers for driving @xmpp/client in scenario tests.
import { client, xml, type Client } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { WebSocket } from 'ws';
import type { TestServer } from './server.ts';

// The generated certificate is self-signed; @xmpp/client offers no way to pin it.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
// Node 20 has no global WebSocket (22 does); @xmpp/websocket expects the browser API.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

export { xml };
import type { Role } from '../../src/api/principal.ts';

/** Stream-open and request timeout for test clients: generous, since CI machines are loaded. */
export const CLIENT_TIMEOUT_MS = 15_000;

/** An @xmpp/client for the test server's plain-TCP listener (STARTTLS), with a loaded-machine timeout. */
export function xmppClient(port: number, username: string, password: string, resource?: string): Client {
  const xmpp = client({ service: `xmpp://127.0.0.1:${port}`, domain: 'localhost', username, password, ...(resource ? { resource } : {}) });
  (xmpp as unknown as { timeout: number }).timeout = CLIENT_TIMEOUT_MS;
  return xmpp;
}

export interface Party {
  readonly xmpp: Client;
  readonly jid: string;
  /** Every stanza received, in order. */
  readonly inbox: Element[];
  /** Resolves with the first stanza (already received or future) matching pred. */
  next(pred: (el: Element) => boolean, ms?: number): Promise<Element>;
  stop(): Promise<void>;
}

export async function connectParty(
  t: TestServer | { c2sPort: number },
  username: string,
  password: string,
  resource = 'test',
  presence = true,
): Promise<Party> {
  const port = 'server' in t ? t.server.ports.c2s : t.c2sPort;
  const xmpp = xmppClient(port, username, password, resource);
  xmpp.on('error', () => {});
  const inbox: Element[] = [];
  const waiters: Array<{ pred: (el: Element) => boolean; resolve: (el: Element) => void }> = [];
  xmpp.on('stanza', (el: Element) => {
    inbox.push(el);
    for (const w of [...waiters]) {
      if (w.pred(el)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(el);
      }
    }
  });
  const jid = (await xmpp.start()).toString();
  if (presence) await xmpp.send(xml('presence'));
  return {
    xmpp,
    jid,
    inbox,
    next: (pred, ms = 10_000) => {
      const seen = inbox.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching stanza within ${ms} ms; inbox: ${inbox.map(String).join('\n')}`)), ms);
        waiters.push({ pred, resolve: (el) => (clearTimeout(timer), resolve(el)) });
      });
    },
    stop: async () => {
      await xmpp.stop().catch(() => {});
    },
  };
}

export const isMessage = (id?: string) => (el: Element) => el.is('message') && (id === undefined || el.attrs.id === id);

/** One HTTP API call with the bearer token of the console account of `role` (admin: the bootstrap token). */
export async function api(t: TestServer, method: string, path: string, body?: unknown, role: Role = 'admin'): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://127.0.0.1:${t.server.ports.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${t.tokens[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
