/** Nearest-rank percentile (`p` from 0 to 100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

export const MIB = 1024 * 1024;

/**
 * A distribution-free confidence interval for the median of independent samples: the order
 * statistics `[x(k), x(n+1-k)]` with the largest `k` for which the binomial tail P(X < k) with
 * X ~ B(n, 1/2) stays within half of `1 - confidence`. With 12 samples at 95%: the 3rd and 10th
 * smallest (96.1% coverage); with 5, the smallest and largest (93.8%, the best 5 samples give).
 */
export function medianInterval(
  samples: readonly number[],
  confidence = 0.95,
): [low: number, high: number] {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [Number.NaN, Number.NaN];
  const tail = (1 - confidence) / 2;
  let k = 1;
  // below = P(X <= j) for X ~ B(n, 1/2), grown one term at a time; k - 1 = the last j within.
  // The terms are kept as logarithms: 0.5 ** n underflows to 0 from about 1,075 samples on.
  let below = 0;
  let logTerm = n * Math.log(0.5); // log P(X = 0)
  for (let j = 0; j < n; j++) {
    below += Math.exp(logTerm);
    if (below > tail) break;
    k = j + 1;
    logTerm += Math.log(n - j) - Math.log(j + 1);
  }
  k = Math.min(k, Math.ceil(n / 2));
  return [sorted[k - 1] ?? Number.NaN, sorted[n - k] ?? Number.NaN];
}
