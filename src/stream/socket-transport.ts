// TCP with STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368) listeners for client streams.
import net from 'node:net';
import tls from 'node:tls';
import { ReadThrottle } from './rate-limiter.ts';
import type { Transport, TransportEvents } from './transport.ts';

/** A peer that does not close its side within this time after ours is destroyed. */
const END_GRACE_MS = 3000;

export class SocketTransport implements Transport {
  readonly framing = 'stream' as const;
  readonly remoteAddress: string;
  private socket: net.Socket;
  private events: TransportEvents | undefined;
  private readonly throttle: ReadThrottle;
  private closed = false;

  constructor(
    socket: net.Socket,
    readonly kind: 'tcp' | 'tls',
    private readonly secureContext: tls.SecureContext | undefined,
    rateBytesPerSecond: number,
  ) {
    this.socket = socket;
    this.remoteAddress = normaliseAddress(socket.remoteAddress);
    this.throttle = new ReadThrottle(rateBytesPerSecond, () => this.socket, () => !this.closed);
    socket.setNoDelay(true);
    socket.on('error', () => {}); // 'close' follows every error
    socket.on('close', () => this.onClose());
    this.attach(socket);
  }

  get secure(): boolean {
    return this.socket instanceof tls.TLSSocket;
  }

  get canStartTls(): boolean {
    return !this.secure && this.secureContext !== undefined;
  }

  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  listen(events: TransportEvents): void {
    this.events = events;
  }

  write(data: string): void {
    // Not corked per tick: measured slower (5.7k vs 9.2k msgs/s in the throughput bench).
    if (!this.closed && this.socket.writable) this.socket.write(data);
  }

  startTls(): Promise<void> {
    const raw = this.socket;
    if (!this.secureContext || raw instanceof tls.TLSSocket) return Promise.reject(new Error('TLS not available'));
    raw.removeAllListeners('data');
    const secured = new tls.TLSSocket(raw, { isServer: true, secureContext: this.secureContext });
    this.socket = secured;
    secured.on('error', () => raw.destroy());
    return new Promise((resolve, reject) => {
      secured.once('secure', () => {
        this.attach(secured);
        resolve();
      });
      secured.once('error', reject);
    });
  }

  end(): void {
    if (this.closed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.throttle.onRead(chunk.length);
      this.events?.data(chunk);
    });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.events?.close();
  }
}

export function normaliseAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export interface C2SListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Direct TLS (XEP-0368) when true; otherwise plain TCP offering STARTTLS when a context is given. */
  readonly directTls: boolean;
  readonly secureContext: tls.SecureContext | undefined;
  /** PEM certificate and key: tls.Server builds its own context from them (it ignores secureContext). */
  readonly pem: { readonly cert: string; readonly key: string } | undefined;
  readonly rateBytesPerSecond: number;
  readonly handshakeTimeoutMs: number;
  readonly onTransport: (transport: Transport) => void;
}

export async function listenC2S(opts: C2SListenerOptions): Promise<net.Server> {
  let server: net.Server;
  if (opts.directTls) {
    if (!opts.pem) throw new Error('direct TLS needs a certificate');
    server = tls.createServer(
      {
        cert: opts.pem.cert,
        key: opts.pem.key,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['xmpp-client'],
        handshakeTimeout: opts.handshakeTimeoutMs,
      },
      (socket) => opts.onTransport(new SocketTransport(socket, 'tls', undefined, opts.rateBytesPerSecond)),
    );
    server.on('tlsClientError', (_err, socket) => socket.destroy());
  } else {
    server = net.createServer((socket) =>
      opts.onTransport(new SocketTransport(socket, 'tcp', opts.secureContext, opts.rateBytesPerSecond)),
    );
  }
  server.maxConnections = 1_000_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
