/** Sliding-window limits, one window per subscription key and API version. */

const WINDOW_MS = 1_000;
/** Above this many tracked windows, expired ones are swept (keys can be arbitrary strings). */
const SWEEP_ABOVE = 1_000;

export type RateBucket = 'v1' | 'v2';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class RateLimiter {
  /** Arrival times of accepted requests in the last second, oldest first. */
  private readonly windows = new Map<string, number[]>();

  constructor(
    private readonly limits: Readonly<Record<RateBucket, number>> | false,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts the request against its window when it is within the limit. A refused request does
   * not count, so a client that backs off for `retryAfterSeconds` gets through.
   */
  take(key: string, bucket: RateBucket): RateDecision {
    if (this.limits === false) return { allowed: true };
    const limit = this.limits[bucket];
    const now = this.now();
    const id = `${bucket}\u0000${key}`;
    const window = (this.windows.get(id) ?? []).filter((at) => at > now - WINDOW_MS);
    if (window.length >= limit) {
      this.windows.set(id, window);
      const oldest = window[0] ?? now;
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1_000)),
      };
    }
    window.push(now);
    this.windows.set(id, window);
    if (this.windows.size > SWEEP_ABOVE) this.sweep(now);
    return { allowed: true };
  }

  reset(): void {
    this.windows.clear();
  }

  private sweep(now: number): void {
    for (const [id, window] of this.windows) {
      if ((window[window.length - 1] ?? 0) <= now - WINDOW_MS) this.windows.delete(id);
    }
  }
}
