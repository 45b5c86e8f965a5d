/**
 * The most of `times` (ms) that lie within any span shorter than `windowMs`: what a sliding
 * one-second rate limit may see at once. Shared by the rate tests and the benchmarks.
 */
export function busiestWindow(times: readonly number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let busiest = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[start] as number) <= (sorted[end] as number) - windowMs) start++;
    busiest = Math.max(busiest, end - start + 1);
  }
  return busiest;
}
