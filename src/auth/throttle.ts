/**
 * Failed-login throttle per key (a remote address, an account name): `maxFailures` failures
 * within `windowMs` of the first one lock the key out for `lockoutMs`. Memory is bounded: past
 * `maxEntries` keys the one whose last failure is oldest is forgotten (a Map iterates in insertion
 * order, and every failure re-inserts its entry). An attacker with more addresses than that can
 * wash a lockout out of the table, but by then the limit is per-address rate anyway. Pure apart
 * from the injected clock.
 *
 * Password checks take tens of milliseconds, so "check, verify, then count the failure" lets a
 * burst of parallel guesses all pass the check before the first failure is counted. An attempt
 * is therefore begun before the password is checked (begin()) and counts against the limit while
 * it is in flight; end() turns it into a failure or lets it go.
 */
import { isIPv4, isIPv6 } from 'node:net';

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
  /** Attempts begun and not yet ended: they count as failures until they end. */
  inFlight: number;
}

/**
 * What a key full of attempts in flight is told to wait: those attempts end within a password
 * check (well under a second), after which the key is either locked or free again.
 */
export const IN_FLIGHT_WAIT_MS = 1000;

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

  /**
   * Milliseconds this key must still wait before another attempt (0 = allowed): while it is
   * locked, or while its failures and the attempts in flight already reach the limit.
   */
  retryAfter(address: string): number {
    const entry = this.entries.get(address);
    if (entry === undefined) return 0;
    const t = this.now();
    if (entry.lockedUntil > t) return entry.lockedUntil - t;
    const windowOver = t - entry.windowStart >= this.windowMs;
    if (entry.inFlight > 0) {
      const failures = windowOver ? 0 : entry.failures;
      return failures + entry.inFlight >= this.maxFailures ? IN_FLIGHT_WAIT_MS : 0;
    }
    // Nothing left to remember: drop it now rather than wait for eviction.
    if (windowOver) this.entries.delete(address);
    return 0;
  }

  /**
   * Begins one attempt on every key (e.g. the address and the account name). When each key may
   * try, the attempt counts against each until end() and 0 is returned; otherwise nothing is
   * counted and the answer is how many milliseconds to wait (the longest of the keys').
   */
  begin(keys: readonly string[]): number {
    const wait = Math.max(0, ...keys.map((k) => this.retryAfter(k)));
    if (wait > 0) return wait;
    const t = this.now();
    for (const key of keys) {
      const entry = this.entries.get(key) ?? { failures: 0, windowStart: t, lockedUntil: 0, inFlight: 0 };
      entry.inFlight += 1;
      this.remember(key, entry);
    }
    return 0;
  }

  /**
   * Ends an attempt begun with begin(): `failed` counts it as a failure (which may lock the key);
   * otherwise it simply stops counting. A key evicted meanwhile is not brought back for a success.
   */
  end(key: string, failed: boolean): void {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.inFlight > 0) entry.inFlight -= 1;
    if (failed) this.recordFailure(key);
  }

  recordFailure(address: string): void {
    const t = this.now();
    const old = this.entries.get(address);
    const entry: Entry =
      old !== undefined && t - old.windowStart < this.windowMs
        ? old
        : { failures: 0, windowStart: t, lockedUntil: old?.lockedUntil ?? 0, inFlight: old?.inFlight ?? 0 };
    entry.failures += 1;
    if (entry.failures >= this.maxFailures) {
      entry.lockedUntil = t + this.lockoutMs;
      // A fresh window after the lockout: the next burst of maxFailures locks again.
      entry.failures = 0;
      entry.windowStart = t;
    }
    this.remember(address, entry);
  }

  /**
   * Forgets a key's failures and lockout (a successful login to that account). Attempts still in
   * flight on it keep counting until they end.
   */
  recordSuccess(address: string): void {
    const entry = this.entries.get(address);
    if (entry === undefined) return;
    if (entry.inFlight === 0) this.entries.delete(address);
    else Object.assign(entry, { failures: 0, lockedUntil: 0, windowStart: this.now() });
  }

  private remember(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Keys currently remembered (for metrics and tests). */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * The throttle key of a remote address: an IPv4 address as it is; an IPv6 address by its /64,
 * because one subscriber usually holds a whole /64 (RFC 6177) and could otherwise take a fresh
 * address for every few guesses. IPv4-mapped IPv6 (::ffff:192.0.2.1) is the IPv4 address. Anything
 * else (not an IP address) is returned unchanged.
 */
export function addressThrottleKey(address: string): string {
  const bare = address.split('%')[0] ?? address; // a zone id (fe80::1%eth0) names no other host
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return address;
  const groups = ipv6Groups(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (node:net has checked its syntax). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is the last two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
