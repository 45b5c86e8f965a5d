/**
 * Pixels decoded at once for `sanitize: 'reencode'`, across every guard in the process. A
 * re-encode holds its image decoded (3 to 14 bytes a pixel while sharp works: a 100-megapixel GIF
 * took 1.4 GB), so concurrent re-encodes of large images could take more memory than any
 * request's limits suggest. Each waits, in turn, until its pixels fit the budget beside those in
 * flight; one larger than the whole budget runs alone.
 */
import { processWide } from './process-wide.js';

/** One image of the default `limits.maxPixels`. */
export const REENCODE_PIXEL_BUDGET = 100_000_000;

export class PixelBudget {
  readonly #budget: number;
  #inUse = 0;
  readonly #waiting: Array<{ pixels: number; start: () => void }> = [];

  constructor(budget: number) {
    this.#budget = budget;
  }

  /** Runs `work` once `pixels` fit (FIFO), and gives them back when it settles. */
  async run<T>(pixels: number, work: () => Promise<T>): Promise<T> {
    const taken = Math.min(Math.max(0, pixels), this.#budget);
    if (this.#waiting.length > 0 || !this.#fits(taken)) {
      await new Promise<void>((start) => this.#waiting.push({ pixels: taken, start }));
    } else this.#inUse += taken;
    try {
      return await work();
    } finally {
      this.#inUse -= taken;
      this.#next();
    }
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
export const reencodePixels = processWide(
  'photodna-guard.reencode-pixels',
  () => new PixelBudget(REENCODE_PIXEL_BUDGET),
);
