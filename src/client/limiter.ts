import Bottleneck from 'bottleneck';
import type { Logger } from '../types.js';
import { closedError, queueFullError } from './failures.js';
import type { SharedBudget, SharedGrant } from './shared-window.js';
import { SlidingWindow } from './window.js';

/**
 * The rate limiter in front of every PhotoDNA call (attempts and retries alike).
 *
 * - At most `perSecond` calls start in any one-second window. The window used is one second plus
 *   `SAFETY_MARGIN_MS`, so that network jitter between here and the service's sliding window does
 *   not turn the last call of a window into a 429; the achieved rate stays above 98% of
 *   `perSecond`. Bottleneck's `minTime` spaces calls evenly (`window / perSecond`), its
 *   `maxConcurrent` bounds calls in flight, and a local sliding-window log double-checks every
 *   start, counted from the moment the request is written to the socket (see `window.ts`); it
 *   also makes a `pause()` after a 429 safe.
 * - Waiting callers sit in our own FIFO, not in bottleneck's queue, so a caller whose signal aborts
 *   is removed at once and never spends a call: bottleneck only ever holds the one job that hands
 *   the next free slot to whoever is first in line when the slot comes up.
 * - The FIFO is bounded: beyond `maxQueue` waiting callers, `acquire` fails at once with
 *   `SCAN_BUSY` and an estimate of how long the queue takes to drain.
 * - With a `shared` budget (`rateLimit.redis`, see `shared-window.ts`), every start also takes a
 *   place in the cluster-wide window, after the local checks: the local FIFO, cancellation and
 *   queue bound stay as they are. When the shared budget fails (`rate-limiter-down`), every
 *   waiting caller is rejected with that error, and new callers are rejected at once while it
 *   fails fast, so no upload waits on a dead Redis for longer than about two seconds.
 */
export interface RateLimiter {
  /**
   * Resolves when the caller may start one call. Rejects with `SCAN_BUSY` when the queue is full,
   * with `signal.reason` when the signal aborts first. `retry: true` puts the caller first in line
   * and skips the queue bound (the call was already admitted once).
   */
  acquire(options?: { signal?: AbortSignal | undefined; retry?: boolean }): Promise<Slot>;
  /** Holds every call back for `ms` (the service answered 429 with `Retry-After`). */
  pause(ms: number): void;
  /** Callers waiting for a slot. */
  readonly queued: number;
  /** Rejects waiting callers and stops timers; calls already started finish on their own. */
  close(): Promise<void>;
}

/** A granted call. */
export interface Slot {
  /** The request was written to the socket just now (the window counts the call from here). */
  sent(): void;
  /** The call is over (answered, failed or abandoned). Idempotent. */
  release(): void;
}

/** Extra length of the window (see above): 1.5% of a second, so the achieved rate is 98.5%. */
export const SAFETY_MARGIN_MS = 15;

export interface LimiterSettings {
  perSecond: number;
  maxQueue: number;
  maxConcurrent: number;
  logger?: Logger | undefined;
  /** A cluster-wide budget every start must also take a place in (`rateLimit.redis`). */
  shared?: SharedBudget | undefined;
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(reason: unknown): void;
  detach(): void;
}

export class LocalRateLimiter implements RateLimiter {
  readonly #settings: LimiterSettings;
  readonly #minTime: number;
  readonly #window: SlidingWindow;
  readonly #bottleneck: Bottleneck;
  readonly #waiting: Waiter[] = [];
  #dispatching = false;
  #running = 0;
  #pausedUntil = 0;
  #closed = false;
  #wake: (() => void) | undefined;
  #stopSleep: (() => void) | undefined;

  constructor(settings: LimiterSettings) {
    this.#settings = settings;
    const windowMs = 1000 + SAFETY_MARGIN_MS;
    this.#minTime = windowMs / settings.perSecond;
    this.#window = new SlidingWindow(settings.perSecond, windowMs);
    this.#bottleneck = new Bottleneck({
      maxConcurrent: settings.maxConcurrent,
      minTime: this.#minTime,
    });
    this.#bottleneck.on('error', (error: unknown) =>
      settings.logger?.error({ err: error }, 'photodna-guard: rate limiter error'),
    );
  }

  get queued(): number {
    const waiting = this.#waiting.length;
    return waiting > 0 && this.#canStartNow() ? waiting - 1 : waiting;
  }

  acquire(options: { signal?: AbortSignal | undefined; retry?: boolean } = {}): Promise<Slot> {
    const { signal, retry = false } = options;
    if (this.#closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const failing = this.#settings.shared?.failing;
    if (failing) return Promise.reject(failing);
    if (!retry && this.queued >= this.#settings.maxQueue) {
      return Promise.reject(queueFullError(this.#drainSeconds()));
    }
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (retry) this.#waiting.unshift(waiter);
      else this.#waiting.push(waiter);
      this.#pump();
    });
  }

  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + ms);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      waiter.detach();
      waiter.reject(closedError());
    }
    this.#wake?.();
    this.#stopSleep?.();
    await this.#bottleneck.stop({ dropWaitingJobs: true });
    await this.#settings.shared?.close();
  }

  /** Makes sure one bottleneck job is on its way to hand a slot to the head of the FIFO. */
  #pump(): void {
    if (this.#dispatching || this.#closed || this.#waiting.length === 0) return;
    this.#dispatching = true;
    this.#bottleneck
      .schedule(() => this.#dispatch())
      .catch((error: unknown) => {
        this.#dispatching = false;
        if (!this.#closed)
          this.#settings.logger?.error({ err: error }, 'photodna-guard: rate limiter job failed');
      });
  }

  /** Runs inside bottleneck's slot: waits for the window, then starts the first waiting caller. */
  async #dispatch(): Promise<void> {
    await this.#waitForWindow();
    const shared = this.#settings.shared ? await this.#takeShared() : undefined;
    this.#dispatching = false;
    const waiter = this.#closed ? undefined : this.#waiting.shift();
    if (!waiter || shared === null) {
      // Every caller in line went away while this slot came up: no call is made.
      shared?.forget();
      this.#pump();
      return;
    }
    waiter.detach();
    const entry = this.#window.open(Date.now());
    this.#running++;
    this.#pump();
    await new Promise<void>((done) => {
      let released = false;
      waiter.resolve({
        sent: () => {
          this.#window.sent(entry, Date.now());
          shared?.sent();
          this.#wake?.();
        },
        release: () => {
          if (released) return;
          released = true;
          this.#window.close(entry);
          shared?.forget();
          this.#running--;
          this.#wake?.();
          done();
        },
      });
    });
  }

  /**
   * A place in the shared window, taken once the local checks pass. `undefined` when nobody is
   * waiting any more or the limiter closed; `null` when the shared budget failed (then every
   * waiting caller has been rejected with its error).
   */
  async #takeShared(): Promise<SharedGrant | null | undefined> {
    const shared = this.#settings.shared as SharedBudget;
    for (;;) {
      if (this.#closed || this.#waiting.length === 0) return undefined;
      let answer: Awaited<ReturnType<SharedBudget['take']>>;
      try {
        answer = await shared.take();
      } catch (error) {
        for (const waiter of this.#waiting.splice(0)) {
          waiter.detach();
          waiter.reject(error);
        }
        return null;
      }
      if ('sent' in answer) {
        if (answer.delayMs > 0) await this.#sleep(answer.delayMs);
        return answer;
      }
      await this.#sleep(answer.waitMs);
      await this.#waitForWindow();
    }
  }

  async #waitForWindow(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const delay = Math.max(this.#pausedUntil, this.#window.nextAllowedAt(now)) - now;
      if (delay <= 0 || this.#closed) return;
      // Woken early when a pending call is sent or ends (the window may then allow us sooner).
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(wake, delay);
        this.#wake = wake;
      });
    }
  }

  /** Waits `ms` for the shared window, or until `close()`. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const stop = () => {
        clearTimeout(timer);
        this.#stopSleep = undefined;
        resolve();
      };
      const timer = setTimeout(stop, ms);
      this.#stopSleep = stop;
    });
  }

  #canStartNow(): boolean {
    const now = Date.now();
    return (
      this.#running < this.#settings.maxConcurrent &&
      now >= this.#pausedUntil &&
      now >= this.#window.nextAllowedAt(now) &&
      now >= this.#window.lastStart(now) + this.#minTime
    );
  }

  /** Seconds until everyone now waiting has started (at least 1). */
  #drainSeconds(): number {
    const pause = Math.max(0, this.#pausedUntil - Date.now());
    return Math.max(1, Math.ceil(((this.#waiting.length + 1) * this.#minTime + pause) / 1000));
  }
}
