/**
 * The emulator's sliding window on a clock the test moves: which request is refused at which
 * instant, exactly (over HTTP, test/emulator/rate-limit.test.ts checks the 429's shape; moving
 * through the window there would hang on timer margins a busy machine does not keep).
 */
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/emulator/rate-limit.js';

function limiter(limits = { v1: 10, v2: 5 }) {
  let now = 1_000_000;
  const window = new RateLimiter(limits, () => now);
  const take = (count = 1, key = 'k', bucket: 'v1' | 'v2' = 'v2') =>
    Array.from({ length: count }, () => window.take(key, bucket).allowed);
  return {
    take,
    advance: (ms: number) => {
      now += ms;
    },
    window,
  };
}

describe('the emulator rate limit', () => {
  it('v2: 5 pass in a second, the 6th is refused with the wait until the oldest leaves', () => {
    const { take, advance, window } = limiter();
    expect(take(5)).toEqual([true, true, true, true, true]);
    advance(400);
    expect(window.take('k', 'v2')).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('refused requests do not count: 5 pass again once the window has passed', () => {
    const { take, advance } = limiter();
    expect(take(5)).toEqual([true, true, true, true, true]);
    advance(500);
    expect(take(1)).toEqual([false]);
    advance(500); // 1000 ms after the first five: they have left; the refused one never counted
    expect(take(6)).toEqual([true, true, true, true, true, false]);
  });

  it('slides: the window is any one second, not a calendar second', () => {
    const { take, advance } = limiter();
    expect(take(3)).toEqual([true, true, true]);
    advance(600);
    expect(take(3)).toEqual([true, true, false]);
    advance(500); // the first three have left the window; the two taken at 600 ms have not
    expect(take(4)).toEqual([true, true, true, false]);
    advance(499); // 1599 ms: the two from 600 ms are still in
    expect(take(1)).toEqual([false]);
    advance(1); // 1600 ms: they are out
    expect(take(2)).toEqual([true, true]);
  });

  it('keeps v1 and v2 and each key apart; false limits nothing', () => {
    const { take } = limiter();
    expect(take(11, 'k', 'v1').filter((ok) => !ok)).toHaveLength(1);
    expect(take(5, 'k', 'v2').every(Boolean)).toBe(true);
    expect(take(5, 'other', 'v2').every(Boolean)).toBe(true);
    const open = new RateLimiter(false, () => 0);
    for (let i = 0; i < 100; i++) expect(open.take('k', 'v2').allowed).toBe(true);
  });
});
