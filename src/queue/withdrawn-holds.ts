/**
 * How long a withdrawn hold (`ScanQueue.withdraw`) is remembered, so that a later enqueue of its
 * request is turned away at once instead of stored to be refused later: BullMQ keeps its gate
 * `refused` this long, the embedded queue its id in memory. Past any enqueue of that request: a
 * guard's comes within its `scanTimeoutMs`, and BullMQ's `HOLD_MS` (ten minutes) after the one
 * before it, or finds its hold expired.
 */
export const WITHDRAWN_MS = 20 * 60_000;

/**
 * The most withdrawn holds remembered in memory at once. A flood of refused multi-file requests
 * must not grow the process without bound (one small entry each for `WITHDRAWN_MS`); past it the
 * oldest is forgotten first, and an enqueue into a forgotten hold is only stored `held` and
 * refused at the next open, as before the withdrawal was remembered at all.
 */
export const MAX_WITHDRAWN_HOLDS = 100_000;

/**
 * Sets `key` in `map` as its newest entry (a `Map` keeps the order of insertion) and forgets the
 * oldest past `max`: memory a flood of refused requests cannot grow without bound.
 */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

/**
 * The holds withdrawn in the last `WITHDRAWN_MS`, at most `max` of them (the embedded queue's, in
 * memory). Timed on the monotonic clock: a step of the wall clock neither forgets them early nor
 * keeps them for the step.
 */
export class WithdrawnHolds {
  /** When each was withdrawn, the oldest first (a `Map` keeps the order of insertion). */
  readonly #at = new Map<string, number>();
  readonly #max: number;

  constructor(max = MAX_WITHDRAWN_HOLDS) {
    this.#max = max;
  }

  get size(): number {
    return this.#at.size;
  }

  add(holdId: string): void {
    this.#forgetOld();
    setNewest(this.#at, holdId, performance.now(), this.#max);
  }

  has(holdId: string): boolean {
    this.#forgetOld();
    return this.#at.has(holdId);
  }

  #forgetOld(): void {
    const oldest = performance.now() - WITHDRAWN_MS;
    for (const [holdId, at] of this.#at) {
      if (at > oldest) return;
      this.#at.delete(holdId);
    }
  }
}
