// XMPP over WebSocket (RFC 7395): subprotocol "xmpp", one element per text frame.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ReadThrottle } from './rate-limiter.ts';
import { normaliseAddress } from './socket-transport.ts';
import type { Transport, TransportEvents } from './transport.ts';

export const XMPP_WEBSOCKET_PATH = '/xmpp-websocket';
const END_GRACE_MS = 3000;

class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly framing = 'websocket' as const;
  readonly canStartTls = false;
  private events: TransportEvents | undefined;
  private closed = false;
  private readonly throttle: ReadThrottle;

  constructor(
    private readonly socket: WebSocket,
    readonly remoteAddress: string,
    readonly secure: boolean,
    rateBytesPerSecond: number,
  ) {
    this.throttle = new ReadThrottle(rateBytesPerSecond, () => socket, () => !this.closed);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      this.throttle.onRead(data.length);
      // RFC 7395 §3.2: XMPP frames are text; a binary frame is not XML we can trust to decode.
      this.events?.data(isBinary ? '<binary-frame/>' : data);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.events?.close();
    });
  }

  get pendingBytes(): number {
    return this.socket.bufferedAmount;
  }

  listen(events: TransportEvents): void {
    this.events = events;
  }

  write(data: string): void {
    if (!this.closed && this.socket.readyState === this.socket.OPEN) this.socket.send(data);
  }

  startTls(): Promise<void> {
    return Promise.reject(new Error('RFC 7395 has no STARTTLS'));
  }

  end(): void {
    if (this.closed) return;
    this.socket.close(1000);
    setTimeout(() => this.socket.terminate(), END_GRACE_MS).unref();
  }
}

export interface XmppWebSocketOptions {
  /** This listener is HTTPS (wss://). */
  readonly tls: boolean;
  readonly trustedProxies: readonly string[];
  readonly allowedOrigins: readonly string[];
  readonly maxFrameBytes: number;
  readonly rateBytesPerSecond: number;
  readonly onTransport: (transport: Transport) => void;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.');

/** Who the peer is and whether its stream is protected, believing only configured proxies. */
export function describePeer(
  req: Pick<FastifyRequest, 'headers'> & { socket: { remoteAddress?: string } },
  opts: Pick<XmppWebSocketOptions, 'tls' | 'trustedProxies'>,
): { address: string; secure: boolean } {
  const direct = normaliseAddress(req.socket.remoteAddress);
  if (opts.trustedProxies.includes(direct)) {
    const forwardedFor = String(req.headers['x-forwarded-for'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const proto = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]?.trim();
    return { address: forwardedFor.at(-1) ?? direct, secure: opts.tls || proto === 'https' };
  }
  // Loopback traffic never leaves the machine: it counts as protected (a local proxy or test).
  return { address: direct, secure: opts.tls || isLoopback(direct) };
}

export async function registerXmppWebSocket(app: FastifyInstance, opts: XmppWebSocketOptions): Promise<void> {
  const websocket = (await import('@fastify/websocket')).default;
  await app.register(websocket, {
    options: {
      maxPayload: opts.maxFrameBytes,
      // RFC 7395 §3.1: the server agrees to the "xmpp" subprotocol.
      handleProtocols: (protocols: Set<string>) => (protocols.has('xmpp') ? 'xmpp' : false),
    },
  });
  app.get(
    XMPP_WEBSOCKET_PATH,
    {
      websocket: true,
      preValidation: async (req, reply) => {
        const origin = req.headers.origin;
        if (opts.allowedOrigins.length > 0 && origin !== undefined && !opts.allowedOrigins.includes(origin)) {
          return reply
            .code(403)
            .type('application/problem+json')
            .send({ type: 'about:blank', title: 'Forbidden', status: 403, detail: `Origin ${origin} is not allowed` });
        }
        const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
        if (!protocols.includes('xmpp')) {
          return reply
            .code(400)
            .type('application/problem+json')
            .send({ type: 'about:blank', title: 'Bad Request', status: 400, detail: 'Request the "xmpp" WebSocket subprotocol (RFC 7395)' });
        }
      },
    },
    (socket, req) => {
      const peer = describePeer(req, opts);
      opts.onTransport(new WebSocketTransport(socket, peer.address, peer.secure, opts.rateBytesPerSecond));
    },
  );
}
