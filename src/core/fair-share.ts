import { GuardError } from '../errors.js';

/** Where a file's client key comes from, asked only when it matters (a `RequestContext`). */
export interface KeySource {
  clientKeyBy(clientKey: ((req: unknown) => string) | undefined): string;
}

/** One file holding (or waiting for) a call; its key is read only once contention is possible. */
class Slot {
  readonly source: KeySource;
  key: string | undefined;

  constructor(source: KeySource) {
    this.source = source;
    this.key = undefined;
  }
}

/**
 * A fair share of the scan queue per uploader: at most `maxPerClient` files of one client key
 * may wait for or hold a PhotoDNA call at once. One flooder meets `SCAN_BUSY` on its own excess
 * files while the shared queue (`rateLimit.maxQueue`) keeps room for everyone else. Counts
 * per process; keys are forgotten when their last file is decided.
 *
 * While fewer than `maxPerClient` files are in flight in all, no client can reach its share, so
 * nobody's key is needed (deriving it, e.g. Express's `req.ip` through `trust proxy`, is most of
 * the share's cost): those files are counted without it, and the keys of all of them are read
 * the moment the total reaches the share. The bound is the same as counting every key at once.
 */
export class FairShare {
  readonly #maxPerClient: number;
  readonly #clientKey: ((req: unknown) => string) | undefined;
  readonly #inFlight = new Map<string, number>();
  /** Files in flight whose key was not needed yet. */
  readonly #unkeyed = new Set<Slot>();
  #total = 0;

  constructor(maxPerClient: number, clientKey?: (req: unknown) => string) {
    this.#maxPerClient = maxPerClient;
    this.#clientKey = clientKey;
  }

  /**
   * Runs `call` in the share of `source`'s client key, or rejects at once with `SCAN_BUSY` when
   * that share is full.
   */
  run<T>(source: KeySource, call: () => Promise<T>): Promise<T> {
    const slot = new Slot(source);
    if (this.#total < this.#maxPerClient) this.#unkeyed.add(slot);
    else {
      for (const other of this.#unkeyed) this.#hold(other);
      this.#unkeyed.clear();
      const key = this.#keyOf(slot);
      const held = this.#inFlight.get(key) ?? 0;
      if (held >= this.#maxPerClient) {
        return Promise.reject(
          new GuardError('SCAN_BUSY', {
            reason: 'client-share',
            detail: `this uploader already has ${held} ${held === 1 ? 'file' : 'files'} waiting for a check (fairShare.maxPerClient)`,
            retryAfter: 2,
          }),
        );
      }
      this.#hold(slot);
    }
    this.#total++;
    let work: Promise<T>;
    try {
      work = call();
    } catch (error) {
      this.#release(slot);
      return Promise.reject(error);
    }
    // Released when the call settles, either way (no async wrapper: one hop fewer per file).
    return work.then(
      (value) => {
        this.#release(slot);
        return value;
      },
      (error: unknown) => {
        this.#release(slot);
        throw error;
      },
    );
  }

  #release(slot: Slot): void {
    this.#total--;
    if (slot.key === undefined) this.#unkeyed.delete(slot);
    else {
      const left = (this.#inFlight.get(slot.key) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(slot.key, left);
      else this.#inFlight.delete(slot.key);
    }
  }

  #keyOf(slot: Slot): string {
    slot.key ??= slot.source.clientKeyBy(this.#clientKey);
    return slot.key;
  }

  #hold(slot: Slot): void {
    const key = this.#keyOf(slot);
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
  }
}
