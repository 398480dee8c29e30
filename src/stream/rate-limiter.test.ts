import { describe, expect, it, vi } from 'vitest';
import { ByteRateLimiter, ReadThrottle } from './rate-limiter.ts';

describe('ByteRateLimiter', () => {
  it('lets a burst of one second through without pausing', () => {
    let t = 0;
    const rl = new ByteRateLimiter(1000, () => t);
    expect(rl.consume(600)).toBe(0);
    expect(rl.consume(400)).toBe(0);
  });

  it('asks a flooding reader to pause long enough to bring the average back under the rate', () => {
    let t = 0;
    const rl = new ByteRateLimiter(1000, () => t);
    expect(rl.consume(3000)).toBe(2000);
    t = 2000;
    expect(rl.consume(0)).toBe(0);
  });

  it('refills at the configured rate and caps the refill at one second of burst', () => {
    let t = 0;
    const rl = new ByteRateLimiter(1000, () => t);
    rl.consume(1000);
    t = 10_000;
    expect(rl.consume(1000)).toBe(0);
    expect(rl.consume(500)).toBe(500);
  });
});

describe('ReadThrottle', () => {
  it('pauses a flooding reader and resumes it once the average is back under the rate', () => {
    vi.useFakeTimers();
    try {
      const calls: string[] = [];
      const reader = { pause: () => calls.push('pause'), resume: () => calls.push('resume') };
      const throttle = new ReadThrottle(1000, () => reader, () => true);
      throttle.onRead(500);
      expect(calls).toEqual([]);
      throttle.onRead(2500);
      throttle.onRead(100); // already paused: no second pause
      expect(calls).toEqual(['pause']);
      vi.advanceTimersByTime(2100);
      expect(calls).toEqual(['pause', 'resume']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not resume a reader that closed while paused', () => {
    vi.useFakeTimers();
    try {
      const calls: string[] = [];
      let open = true;
      const throttle = new ReadThrottle(1000, () => ({ pause: () => calls.push('pause'), resume: () => calls.push('resume') }), () => open);
      throttle.onRead(5000);
      open = false;
      vi.runAllTimers();
      expect(calls).toEqual(['pause']);
    } finally {
      vi.useRealTimers();
    }
  });
});
