import type { MatchResult } from '../types.js';
import type { Waiter } from './abortable.js';

export interface ResultCacheOptions {
  max: number;
  cleanTtlMs: number;
  matchTtlMs: number;
}

interface Entry {
  result: MatchResult;
  /**
   * On the monotonic clock (`performance.now()`): when the wall clock steps back (NTP, a VM
   * restored), a clean result must not outlive `cleanTtlMs` by the length of the step.
   */
  expires: number;
}

/**
 * Match results keyed by the bytes' SHA-256: a bounded LRU with one TTL for clean results and
 * another for matches, plus in-flight sharing, so a re-upload (or a concurrent duplicate) of the
 * same bytes costs no PhotoDNA call. Failures are never cached.
 */
export class ResultCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<MatchResult>>();
  readonly #options: ResultCacheOptions;
  /** Bumped by `clear()`: a call started before it does not fill the cache after it. */
  #generation = 0;

  constructor(options: ResultCacheOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(sha256: string, now = performance.now()): MatchResult | undefined {
    const entry = this.#entries.get(sha256);
    if (!entry) return undefined;
    this.#entries.delete(sha256);
    if (entry.expires <= now) return undefined;
    this.#entries.set(sha256, entry); // most recently used goes last
    return copyOf(entry.result);
  }

  set(sha256: string, result: MatchResult, now = performance.now()): void {
    const ttl = result.isMatch ? this.#options.matchTtlMs : this.#options.cleanTtlMs;
    if (ttl <= 0) return;
    this.#entries.delete(sha256);
    this.#entries.set(sha256, { result: copyOf(result), expires: now + ttl });
    while (this.#entries.size > this.#options.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /**
   * Forgets every result, and the calls in flight: what the matcher answers may have changed (a
   * PDQ list reloaded with new hashes, or with a false positive taken out).
   */
  clear(): void {
    this.#entries.clear();
    this.#inFlight.clear();
    this.#generation++;
  }

  /**
   * The cached result, or the one being fetched for the same bytes, or a new fetch. `cached` is
   * true when no call was started for this lookup. `waiter` bounds the wait for another
   * request's call (the request's own call is bounded by its caller).
   */
  async lookup(
    sha256: string,
    fetch: () => Promise<MatchResult>,
    waiter: Waiter,
  ): Promise<{ result: MatchResult; cached: boolean }> {
    const hit = this.get(sha256);
    if (hit) return { result: hit, cached: true };
    const pending = this.#inFlight.get(sha256);
    if (pending) {
      try {
        return { result: copyOf(await waiter.settle(pending)), cached: true };
      } catch (error) {
        // The other request's failure (its uploader left, its deadline passed) is not ours.
        if (waiter.stopped) throw error;
        if (this.#inFlight.get(sha256) === pending) this.#inFlight.delete(sha256);
      }
    }
    const call = fetch();
    const generation = this.#generation;
    this.#inFlight.set(sha256, call);
    try {
      const result = await call;
      if (generation === this.#generation) this.set(sha256, result);
      return { result, cached: false };
    } finally {
      if (this.#inFlight.get(sha256) === call) this.#inFlight.delete(sha256);
    }
  }
}

/**
 * A result of the cache's own: what it keeps and what each hit gets are copies, so a host that
 * edits what it was handed (a match flag's `matchId` deleted before logging, in an event, a
 * record or `req.photodna`) changes no later upload's result. Results are plain data: a custom
 * matcher's answer is checked into a new object (`checkedResult`) before it is cached, the
 * PhotoDNA client's is parsed JSON.
 */
function copyOf(result: MatchResult): MatchResult {
  return structuredClone(result);
}
