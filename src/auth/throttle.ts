/**
 * Failed-login throttle per remote address: `maxFailures` failures within `windowMs` of the first
 * one lock the address out for `lockoutMs`. Memory is bounded: past `maxEntries` addresses the
 * one whose last failure is oldest is forgotten (a Map iterates in insertion order, and every
 * failure re-inserts its entry). An attacker with more addresses than that can wash a lockout
 * out of the table, but by then the limit is per-address rate anyway. Pure apart from the
 * injected clock.
 */
export interface LoginThrottleOptions {
  /** Failures within the window that trigger a lockout. */
  maxFailures?: number;
  /** How long failures count, from the first one in the window. */
  windowMs?: number;
  /** How long a locked-out address must wait. */
  lockoutMs?: number;
  /** Addresses remembered at most. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`LoginThrottle: ${name} must be a positive integer, got ${value}`);
  return value;
}

export class LoginThrottle {
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();

  constructor(opts: LoginThrottleOptions = {}) {
    this.maxFailures = positiveInteger('maxFailures', opts.maxFailures ?? 5);
    this.windowMs = positiveInteger('windowMs', opts.windowMs ?? 60_000);
    this.lockoutMs = positiveInteger('lockoutMs', opts.lockoutMs ?? 30_000);
    this.maxEntries = positiveInteger('maxEntries', opts.maxEntries ?? 100_000);
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds this address must still wait before another attempt (0 = allowed). */
  retryAfter(address: string): number {
    const entry = this.entries.get(address);
    if (entry === undefined) return 0;
    const t = this.now();
    if (entry.lockedUntil > t) return entry.lockedUntil - t;
    // Nothing left to remember: drop it now rather than wait for eviction.
    if (t - entry.windowStart >= this.windowMs) this.entries.delete(address);
    return 0;
  }

  recordFailure(address: string): void {
    const t = this.now();
    const old = this.entries.get(address);
    const entry: Entry =
      old !== undefined && t - old.windowStart < this.windowMs
        ? old
        : { failures: 0, windowStart: t, lockedUntil: old?.lockedUntil ?? 0 };
    entry.failures += 1;
    if (entry.failures >= this.maxFailures) {
      entry.lockedUntil = t + this.lockoutMs;
      // A fresh window after the lockout: the next burst of maxFailures locks again.
      entry.failures = 0;
      entry.windowStart = t;
    }
    this.entries.delete(address);
    this.entries.set(address, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  recordSuccess(address: string): void {
    this.entries.delete(address);
  }

  /** Addresses currently remembered (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }
}
