import { describe, expect, it } from 'vitest';
import { ByteRateLimiter } from './rate-limiter.ts';

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
