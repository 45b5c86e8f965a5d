/**
 * Pixels decoded at once across every guard in the process, by `sanitize: 'reencode'` and by
 * PDQ hashing. A decode holds its image's pixels (3 to 14 bytes each while sharp re-encodes: a
 * 100-megapixel GIF took 1.4 GB; PDQ 1.2 GB for a flat 10,000×10,000 PNG of 100 KB, and 3 or 4
 * bytes more each for a file whose colour profile or PNG gAMA/cHRM is drawn beside), so
 * concurrent decodes of large images could take more memory than any request's limits suggest.
 * Each waits, in turn, until its pixels fit the budget beside those in flight; one larger than
 * the whole budget runs alone.
 */
import { processWide } from './process-wide.js';

/** One image of the default `limits.maxPixels`. */
export const DECODING_PIXEL_BUDGET = 100_000_000;

/** How long a decode may wait for pixels, and what stops the wait early. */
export interface BudgetWait {
  /** Aborts the wait (the uploader left): rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Gives up after this many milliseconds, rejecting with `tooLong()`. */
  maxWaitMs?: number;
  tooLong?: () => Error;
}

interface Waiter {
  pixels: number;
  start: () => void;
}

export class PixelBudget {
  readonly #budget: number;
  #inUse = 0;
  readonly #waiting: Waiter[] = [];

  constructor(budget: number) {
    this.#budget = budget;
  }

  /** Decodes waiting for pixels. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `work` once `pixels` fit (FIFO), and gives them back when it settles. A wait ends early
   * as `wait` says (nothing is run then, and the queue goes on without it).
   */
  async run<T>(pixels: number, work: () => Promise<T>, wait?: BudgetWait): Promise<T> {
    const taken = Math.min(Math.max(0, pixels), this.#budget);
    if (this.#waiting.length > 0 || !this.#fits(taken)) await this.#wait(taken, wait);
    else this.#inUse += taken;
    try {
      return await work();
    } finally {
      this.#inUse -= taken;
      this.#next();
    }
  }

  #wait(pixels: number, wait: BudgetWait | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (error: Error) => {
        const at = this.#waiting.indexOf(waiter);
        if (at === -1) return; // started already
        this.#waiting.splice(at, 1);
        stop();
        this.#next(); // a smaller one behind it may fit now
        reject(error);
      };
      const onAbort = () => leave(wait?.signal?.reason as Error);
      const { maxWaitMs, tooLong } = wait ?? {};
      const timer =
        maxWaitMs !== undefined && tooLong
          ? setTimeout(() => leave(tooLong()), maxWaitMs)
          : undefined;
      const stop = () => {
        if (timer) clearTimeout(timer);
        wait?.signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        pixels,
        start: () => {
          stop();
          resolve();
        },
      };
      this.#waiting.push(waiter);
      if (wait?.signal?.aborted) onAbort();
      else wait?.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #fits(pixels: number): boolean {
    return this.#inUse === 0 || this.#inUse + pixels <= this.#budget;
  }

  #next(): void {
    for (
      let first = this.#waiting[0];
      first && this.#fits(first.pixels);
      first = this.#waiting[0]
    ) {
      this.#waiting.shift();
      this.#inUse += first.pixels;
      first.start();
    }
  }
}

/** The process's budget, shared by every loaded copy of the library. */
export const decodingPixels = processWide(
  'photodna-guard.decoding-pixels',
  () => new PixelBudget(DECODING_PIXEL_BUDGET),
);
