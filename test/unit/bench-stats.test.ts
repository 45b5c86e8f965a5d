import { describe, expect, it } from 'vitest';
import { median, medianInterval } from '../../bench/lib/stats.js';
import { verdict } from '../../bench/lib/table.js';

/** 1..n in a shuffled order: the interval is read from the sorted samples. */
const samples = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % n) + 1);

describe('medianInterval (the benchmarks’ 95% interval of a median)', () => {
  it.each([
    // n, the order statistics [k, n + 1 - k] with P(X < k) <= 2.5% for X ~ B(n, 1/2)
    [1, [1, 1]],
    [5, [1, 5]], // the widest 5 samples give (93.8%)
    [8, [1, 8]], // k = 2 would cover only 93.0%
    [12, [3, 10]], // 96.1%; [4, 9] would be 85.4%
    [20, [6, 15]],
    [40, [14, 27]],
    // P(X <= 955) = 2.33%, P(X <= 956) = 2.59% (normal approximation, continuity corrected):
    // beyond 1,075 samples 0.5 ** n is 0 in floating point, which once gave [1000, 1001].
    [2000, [956, 1045]],
  ] as const)('%i samples: order statistics %j', (n, expected) => {
    expect(medianInterval(samples(n))).toEqual(expected);
  });

  it('holds the median, and narrows with more samples of the same spread', () => {
    for (const n of [5, 12, 40]) {
      const [low, high] = medianInterval(samples(n));
      expect(low).toBeLessThanOrEqual(median(samples(n)));
      expect(high).toBeGreaterThanOrEqual(median(samples(n)));
    }
    const width = (n: number) => {
      const [low, high] = medianInterval(samples(n));
      return (high - low) / n;
    };
    expect(width(40)).toBeLessThan(width(12));
  });

  it('is NaN for no samples', () => {
    expect(medianInterval([])).toEqual([Number.NaN, Number.NaN]);
  });
});

describe('verdict (a goal against an interval)', () => {
  it('is met or missed only when the whole interval says so', () => {
    expect(verdict([0.96, 0.99], 0.95, 'at least')).toBe(true);
    expect(verdict([0.9, 0.94], 0.95, 'at least')).toBe(false);
    expect(verdict([0.93, 0.97], 0.95, 'at least')).toBe('undecided');
    expect(verdict([10, 20], 25, 'at most')).toBe(true);
    expect(verdict([30, 60], 25, 'at most')).toBe(false);
    expect(verdict([-5, 40], 25, 'at most')).toBe('undecided');
  });
});
