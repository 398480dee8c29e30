// A transport is only framing and bytes: TCP (+STARTTLS), direct TLS, or WebSocket. The one
// stream/session core (c2s-session.ts) runs on top of any of them.
export type TransportKind = 'tcp' | 'tls' | 'websocket';

export interface TransportEvents {
  data(chunk: Buffer | string): void;
  close(): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** 'stream': one long XML document (RFC 6120); 'websocket': one element per frame (RFC 7395). */
  readonly framing: 'stream' | 'websocket';
  readonly remoteAddress: string;
  /** Encrypted now (TLS, direct TLS, wss, or TLS terminated by a trusted proxy). */
  readonly secure: boolean;
  /** Plain TCP that can still be upgraded with STARTTLS. */
  readonly canStartTls: boolean;
  /** Bytes queued for the peer and not yet written out (for slow-reader protection). */
  readonly pendingBytes: number;
  listen(events: TransportEvents): void;
  write(data: string): void;
  /** Upgrades to TLS in place (RFC 6120 §5.4.3.3); call after <proceed/> was written. */
  startTls(): Promise<void>;
  /** Flushes what is queued, then closes. */
  end(): void;
}
