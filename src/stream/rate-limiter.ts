/**
 * A token bucket for bytes read from one connection. It never drops data: `consume` says how
 * long the reader must pause so the average rate stays under `bytesPerSecond` (burst: one
 * second's worth). Pure apart from the injected clock.
 */
export class ByteRateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = bytesPerSecond;
    this.last = now();
  }

  /** Records `bytes` read; returns milliseconds to pause reading (0 = keep reading). */
  consume(bytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.bytesPerSecond, this.tokens + ((t - this.last) * this.bytesPerSecond) / 1000);
    this.last = t;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}

/** Something whose reading can be paused: a net.Socket or a ws WebSocket. */
export interface PausableReader {
  pause(): void;
  resume(): void;
}

/**
 * Applies a ByteRateLimiter to a reader: a flooding client is slowed, not dropped — reading
 * stops until the bucket refills. `reader()` is asked each time (STARTTLS swaps the socket).
 */
export class ReadThrottle {
  private readonly limiter: ByteRateLimiter;
  private paused = false;

  constructor(
    bytesPerSecond: number,
    private readonly reader: () => PausableReader,
    private readonly isOpen: () => boolean,
  ) {
    this.limiter = new ByteRateLimiter(bytesPerSecond);
  }

  onRead(bytes: number): void {
    const pause = this.limiter.consume(bytes);
    if (pause <= 0 || this.paused) return;
    this.paused = true;
    this.reader().pause();
    setTimeout(() => {
      this.paused = false;
      if (this.isOpen()) this.reader().resume();
    }, pause).unref();
  }
}
