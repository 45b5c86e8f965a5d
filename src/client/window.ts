/**
 * A sliding-window log: the start times of the last `limit` calls. A call may start at `t` only
 * when fewer than `limit` calls started in `(t - windowMs, t]`, i.e. when the oldest of the last
 * `limit` starts is at least `windowMs` old. This is the hard guarantee behind the rate limit;
 * bottleneck's `minTime` only spreads calls out evenly inside it.
 */
export class SlidingWindow {
  readonly #starts: number[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** The earliest time (ms since the epoch) the next call may start. */
  nextAllowedAt(): number {
    if (this.#starts.length < this.limit) return Number.NEGATIVE_INFINITY;
    return (this.#starts[0] ?? 0) + this.windowMs;
  }

  /** The start time of the latest call, or `-Infinity`. */
  lastStart(): number {
    return this.#starts[this.#starts.length - 1] ?? Number.NEGATIVE_INFINITY;
  }

  record(at: number): void {
    this.#starts.push(at);
    if (this.#starts.length > this.limit) this.#starts.shift();
  }
}
