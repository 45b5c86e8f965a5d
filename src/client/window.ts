/** One call in the window: when it started, and whether its request is yet to leave. */
export interface WindowEntry {
  at: number;
  pending: boolean;
}

/**
 * A sliding-window log of call starts: a call may start at `t` only when fewer than `limit` calls
 * started in `(t - windowMs, t]`. This is the hard guarantee behind the rate limit; the limiter's
 * even spacing only spreads calls out inside it. Times are in ms on the limiter's monotonic clock
 * (`performance.now()`), never the wall clock, which can step.
 *
 * A start is counted from the moment the request is written to the socket (`sent`), not from the
 * moment its slot was granted: a cold connection (TCP and TLS handshakes) can delay the first
 * request of a burst by tens of milliseconds, and counting from the grant would then let the
 * last call of the window reach the service less than a second after the first. Until then the
 * entry is `pending` and counts as starting "now", since it may leave at any moment.
 */
export class SlidingWindow {
  #entries: WindowEntry[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts a call whose request is about to be sent. */
  open(now: number): WindowEntry {
    const entry = { at: now, pending: true };
    this.#entries.push(entry);
    return entry;
  }

  /** The call's request was written to the socket at `now`. */
  sent(entry: WindowEntry, now: number): void {
    if (!entry.pending) return;
    entry.at = Math.max(entry.at, now);
    entry.pending = false;
  }

  /** The call is over; if its request never left, it is forgotten (the service never saw it). */
  close(entry: WindowEntry): void {
    if (!entry.pending) return;
    entry.pending = false;
    this.#entries = this.#entries.filter((e) => e !== entry);
  }

  /** The earliest time the next call may start, as seen at `now`. */
  nextAllowedAt(now: number): number {
    this.#entries = this.#entries.filter((e) => e.pending || e.at > now - this.windowMs);
    if (this.#entries.length < this.limit) return Number.NEGATIVE_INFINITY;
    const times = this.#entries.map((e) => (e.pending ? Math.max(e.at, now) : e.at));
    times.sort((a, b) => b - a);
    return (times[this.limit - 1] ?? 0) + this.windowMs;
  }
}
