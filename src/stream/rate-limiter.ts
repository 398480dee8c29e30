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
