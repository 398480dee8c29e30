import { describe, expect, it } from 'vitest';
import { addressThrottleKey, IN_FLIGHT_WAIT_MS, LoginThrottle } from './throttle.ts';

function throttle(opts: ConstructorParameters<typeof LoginThrottle>[0] = {}): { th: LoginThrottle; clock: { t: number } } {
  const clock = { t: 1_000_000 };
  return { th: new LoginThrottle({ now: () => clock.t, ...opts }), clock };
}

function fail(th: LoginThrottle, address: string, times: number): void {
  for (let i = 0; i < times; i++) th.recordFailure(address);
}

describe('LoginThrottle', () => {
  it('lets an address with no history through', () => {
    expect(throttle().th.retryAfter('192.0.2.1')).toBe(0);
  });

  it.each([
    { failures: 4, wait: 0 },
    { failures: 5, wait: 30_000 },
  ])('after $failures failures within the window an address waits $wait ms (defaults: 5, 30 s)', ({ failures, wait }) => {
    const { th } = throttle();
    fail(th, '192.0.2.1', failures);
    expect(th.retryAfter('192.0.2.1')).toBe(wait);
  });

  it('counts down the lockout with the clock and lifts it when it has passed', () => {
    const { th, clock } = throttle();
    fail(th, '192.0.2.1', 5);
    clock.t += 12_000;
    expect(th.retryAfter('192.0.2.1')).toBe(18_000);
    clock.t += 18_000;
    expect(th.retryAfter('192.0.2.1')).toBe(0);
  });

  it('forgets failures older than the window', () => {
    const { th, clock } = throttle();
    fail(th, '192.0.2.1', 4);
    clock.t += 60_000;
    fail(th, '192.0.2.1', 4);
    expect(th.retryAfter('192.0.2.1')).toBe(0);
    th.recordFailure('192.0.2.1');
    expect(th.retryAfter('192.0.2.1')).toBe(30_000);
  });

  it('locks again after a further burst once a lockout has passed', () => {
    const { th, clock } = throttle();
    fail(th, '192.0.2.1', 5);
    clock.t += 30_000;
    fail(th, '192.0.2.1', 4);
    expect(th.retryAfter('192.0.2.1')).toBe(0);
    th.recordFailure('192.0.2.1');
    expect(th.retryAfter('192.0.2.1')).toBe(30_000);
  });

  it('keeps a lockout longer than the window even when a failure arrives after the window', () => {
    const { th, clock } = throttle({ windowMs: 1_000, lockoutMs: 10_000 });
    fail(th, '192.0.2.1', 5);
    clock.t += 2_000;
    th.recordFailure('192.0.2.1');
    expect(th.retryAfter('192.0.2.1')).toBe(8_000);
  });

  it('clears an address’s failures on success', () => {
    const { th } = throttle();
    fail(th, '192.0.2.1', 4);
    th.recordSuccess('192.0.2.1');
    th.recordFailure('192.0.2.1');
    expect(th.retryAfter('192.0.2.1')).toBe(0);
  });

  it('keeps addresses apart', () => {
    const { th } = throttle();
    fail(th, '192.0.2.1', 5);
    expect(th.retryAfter('192.0.2.2')).toBe(0);
    expect(th.retryAfter('192.0.2.1')).toBe(30_000);
  });

  it('honours custom limits', () => {
    const { th } = throttle({ maxFailures: 2, lockoutMs: 500 });
    fail(th, 'a', 2);
    expect(th.retryAfter('a')).toBe(500);
  });

  it('evicts the address whose last failure is oldest once maxEntries is exceeded', () => {
    const { th } = throttle({ maxEntries: 3, maxFailures: 1 });
    for (const a of ['a', 'b', 'c']) th.recordFailure(a);
    th.recordFailure('a'); // a is now the most recent
    th.recordFailure('d'); // over the limit: b goes
    expect(th.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((a) => th.retryAfter(a) > 0)).toEqual([true, false, true, true]);
  });

  it('stays within maxEntries under a flood of distinct addresses', () => {
    const { th } = throttle({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) th.recordFailure(`10.0.${i >> 8}.${i & 255}`);
    expect(th.size).toBe(100);
  });

  it('drops an entry with nothing left to remember when it is next asked about', () => {
    const { th, clock } = throttle();
    th.recordFailure('a');
    clock.t += 60_000;
    expect(th.retryAfter('a')).toBe(0);
    expect(th.size).toBe(0);
  });

  it.each([{ maxFailures: 0 }, { windowMs: -1 }, { lockoutMs: 1.5 }, { maxEntries: Number.NaN }])('refuses unusable options %j', (opts) => {
    expect(() => new LoginThrottle(opts)).toThrow(RangeError);
  });
});

describe('LoginThrottle attempts in flight (begin/end)', () => {
  it('lets no more attempts begin at once than the limit allows, so a parallel burst cannot pass the check together', () => {
    const { th } = throttle();
    const admitted = Array.from({ length: 40 }, () => th.begin(['ip:a', 'account:x'])).filter((w) => w === 0).length;
    expect(admitted).toBe(5);
    expect(th.begin(['ip:a'])).toBe(IN_FLIGHT_WAIT_MS);
    // The five fail: the key is now locked for the full lockout, not just "busy".
    for (let i = 0; i < 5; i++) {
      th.end('ip:a', true);
      th.end('account:x', true);
    }
    expect(th.retryAfter('ip:a')).toBe(30_000);
    expect(th.retryAfter('account:x')).toBe(30_000);
  });

  it('counts in-flight attempts on top of earlier failures', () => {
    const { th } = throttle();
    fail(th, 'a', 3);
    expect(th.begin(['a'])).toBe(0);
    expect(th.begin(['a'])).toBe(0);
    expect(th.begin(['a'])).toBe(IN_FLIGHT_WAIT_MS);
  });

  it('frees the slot of an attempt that ended without failing, and does not forgive earlier failures for it', () => {
    const { th } = throttle();
    fail(th, 'a', 4);
    expect(th.begin(['a'])).toBe(0);
    expect(th.begin(['a'])).toBe(IN_FLIGHT_WAIT_MS);
    th.end('a', false);
    expect(th.retryAfter('a')).toBe(0);
    th.recordFailure('a'); // the fifth failure: the successes in between did not reset the count
    expect(th.retryAfter('a')).toBe(30_000);
  });

  it('counts nothing on any key when one of them must wait', () => {
    const { th } = throttle();
    fail(th, 'account:x', 5);
    expect(th.begin(['ip:a', 'account:x'])).toBe(30_000);
    for (let i = 0; i < 5; i++) expect(th.begin(['ip:a'])).toBe(0);
    expect(th.begin(['ip:a'])).toBe(IN_FLIGHT_WAIT_MS);
  });

  it('keeps counting attempts in flight when a success clears the key\'s failures', () => {
    const { th } = throttle({ maxFailures: 2 });
    expect(th.begin(['k'])).toBe(0);
    th.recordFailure('k');
    th.recordSuccess('k');
    expect(th.begin(['k'])).toBe(0);
    expect(th.begin(['k'])).toBe(IN_FLIGHT_WAIT_MS);
    th.end('k', false);
    th.end('k', false);
    expect(th.size).toBe(1);
    th.recordSuccess('k');
    expect(th.size).toBe(0);
  });
});

describe('addressThrottleKey', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:c000:0201', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['not an address', 'not an address'],
  ])('keys %s as %s', (address, key) => {
    expect(addressThrottleKey(address)).toBe(key);
  });

  it('puts every address of one /64 under one key and a neighbouring /64 under another', () => {
    expect(addressThrottleKey('2001:db8:0:1::a')).toBe(addressThrottleKey('2001:db8:0:1:ffff:ffff:ffff:ffff'));
    expect(addressThrottleKey('2001:db8:0:1::a')).not.toBe(addressThrottleKey('2001:db8:0:2::a'));
  });
});
