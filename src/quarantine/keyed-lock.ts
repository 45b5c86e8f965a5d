/**
 * Serializes async work per key inside one process: a second task for the same key starts only
 * after the first settled (fulfilled or rejected). Keys with nothing queued hold no memory.
 */
import { settleBy } from '../core/abortable.js';

export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `task` in its turn for `key`. A `signal` aborted before then leaves the queue at once:
   * the call rejects with its reason and `task` never runs; those queued behind it still wait
   * for the task ahead of it. Once `task` has started the signal has no effect here.
   */
  run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    // A tail never rejects: it settles once its task has, or once its turn has come and gone.
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = (signal ? settleBy(previous, signal) : previous).then(() => task());
    // Rejected: the task failed (its turn is over) or never started (the one ahead decides).
    const tail = result.then(
      () => undefined,
      () => previous,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
