/**
 * How long a withdrawn hold (`ScanQueue.withdraw`) is remembered, so that a later enqueue of its
 * request is turned away at once instead of stored to be refused later: BullMQ keeps its gate
 * `refused` this long, the embedded queue its id in memory. Past any enqueue of that request: a
 * guard's comes within its `scanTimeoutMs`, and BullMQ's `HOLD_MS` (ten minutes) after the one
 * before it, or finds its hold expired.
 */
export const WITHDRAWN_MS = 20 * 60_000;

/** The holds withdrawn in the last `WITHDRAWN_MS` (the embedded queue's, in memory). */
export class WithdrawnHolds {
  /** When each was withdrawn, the oldest first (a `Map` keeps the order of insertion). */
  readonly #at = new Map<string, number>();

  add(holdId: string): void {
    this.#forgetOld();
    this.#at.delete(holdId);
    this.#at.set(holdId, Date.now());
  }

  has(holdId: string): boolean {
    this.#forgetOld();
    return this.#at.has(holdId);
  }

  #forgetOld(): void {
    const oldest = Date.now() - WITHDRAWN_MS;
    for (const [holdId, at] of this.#at) {
      if (at > oldest) return;
      this.#at.delete(holdId);
    }
  }
}
