import { GuardError } from '../errors.js';

/**
 * A fair share of the scan queue per uploader: at most `maxPerClient` files of one client key
 * may wait for or hold a PhotoDNA call at once. One flooder meets `SCAN_BUSY` on its own excess
 * files while the shared queue (`rateLimit.maxQueue`) keeps room for everyone else. Counts
 * per process; keys are forgotten when their last file is decided.
 */
export class FairShare {
  readonly #maxPerClient: number;
  readonly #inFlight = new Map<string, number>();

  constructor(maxPerClient: number) {
    this.#maxPerClient = maxPerClient;
  }

  /** Runs `call` in `key`'s share, or rejects at once with `SCAN_BUSY` when the share is full. */
  async run<T>(key: string, call: () => Promise<T>): Promise<T> {
    const held = this.#inFlight.get(key) ?? 0;
    if (held >= this.#maxPerClient) {
      throw new GuardError('SCAN_BUSY', {
        reason: 'client-share',
        detail: `this uploader already has ${held} files waiting for a check (fairShare.maxPerClient)`,
        retryAfter: 2,
      });
    }
    this.#inFlight.set(key, held + 1);
    try {
      return await call();
    } finally {
      const left = (this.#inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(key, left);
      else this.#inFlight.delete(key);
    }
  }
}
