/**
 * The reviewer actions a console is running, so that closing it waits for them: a report that
 * went out is recorded (and audited) before the process may exit, or the next report of the
 * incident, once its claim expired, would send it to NCMEC again.
 */
import { HttpError } from './http-io.js';

export class ActionsInFlight {
  readonly #running = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  #closed = false;

  /**
   * Aborted as the console closes: a report still waiting on another reporter's claim stops then
   * (nothing sent) rather than holding the shutdown until that claim ends (up to ten minutes).
   */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** Runs `action`, tracked until it settles; refused with 503 once the console is closing. */
  run<T>(action: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new HttpError(503, 'the console is shutting down');
    const result = action();
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.#running.add(settled);
    void settled.then(() => this.#running.delete(settled));
    return result;
  }

  /**
   * Refuses new actions, stops those not yet sending (`closing`) and resolves once all running
   * have settled.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    while (this.#running.size > 0) await Promise.all(this.#running);
  }
}
