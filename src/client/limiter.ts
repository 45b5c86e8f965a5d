import { closedError, queueFullError } from './failures.js';
import type { SharedBudget, SharedGrant } from './shared-window.js';
import { SlidingWindow } from './window.js';

/**
 * The rate limiter in front of every PhotoDNA call (attempts and retries alike).
 *
 * - At most `perSecond` calls start in any one-second window. The window used is one second plus
 *   `SAFETY_MARGIN_MS`, so that network jitter between here and the service's sliding window does
 *   not turn the last call of a window into a 429; the achieved rate stays above 98% of
 *   `perSecond`. Calls are spaced evenly (`window / perSecond` apart, on an ideal schedule so
 *   timer lateness does not add up), at most `maxConcurrent` are in flight, and a local
 *   sliding-window log double-checks every start, counted from the moment the request is written
 *   to the socket (see `window.ts`); it also makes a `pause()` after a 429 safe.
 * - Every time here is `performance.now()`, a monotonic clock: when the host's wall clock steps
 *   (NTP, a VM resumed, `date -s`), calls are neither held for the length of the step nor let
 *   through early.
 * - Waiting callers sit in a FIFO (retries first) that one dispatcher serves, so a caller whose
 *   signal aborts is removed at once and never spends a call.
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
  readonly #waiting: Waiter[] = [];
  #dispatching = false;
  #running = 0;
  /** The earliest start of the next call on the even schedule (`#minTime` after the last). */
  #nextSlot = Number.NEGATIVE_INFINITY;
  #pausedUntil = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Ends the dispatcher's current wait early (on `close()`, and see `#wait`). */
  #wake: (() => void) | undefined;
  /** Whether a call being sent or released ends that wait (it may let the next call start). */
  #wakeOnCalls = false;

  constructor(settings: LimiterSettings) {
    this.#settings = settings;
    const windowMs = 1000 + SAFETY_MARGIN_MS;
    this.#minTime = windowMs / settings.perSecond;
    this.#window = new SlidingWindow(settings.perSecond, windowMs);
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
      if (!this.#dispatching) void this.#dispatch();
    });
  }

  pause(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, performance.now() + ms);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) {
      waiter.detach();
      waiter.reject(closedError());
    }
    this.#wake?.();
    await this.#settings.shared?.close();
  }

  /** Hands out slots, first in line first, for as long as anyone waits; one runs at a time. */
  async #dispatch(): Promise<void> {
    this.#dispatching = true;
    while (!this.#closed && this.#waiting.length > 0) {
      const slot = await this.#turn();
      let shared: SharedGrant | undefined;
      if (this.#settings.shared) {
        shared = await this.#takeShared(this.#settings.shared);
        if (!shared) continue;
        // A 429 met while Redis answered paused every call, this one too: the place goes back
        // and the next turn waits the pause out.
        if (this.#pausedUntil > performance.now()) {
          shared.forget();
          continue;
        }
      }
      const waiter = this.#closed ? undefined : this.#waiting.shift();
      if (!waiter) {
        // Every caller in line went away while this slot came up: no call is made.
        shared?.forget();
        continue;
      }
      this.#nextSlot = slot + this.#minTime;
      this.#start(waiter, shared);
    }
    this.#dispatching = false;
  }

  /**
   * Waits until the first in line may start: below `maxConcurrent`, past the pause, the window
   * and its slot. Returns the time that slot was due, so the next one follows it and not a late
   * timer; never earlier than the turn began, so a queue that was idle starts a new schedule.
   */
  async #turn(): Promise<number> {
    let since = performance.now();
    for (;;) {
      const now = performance.now();
      const full = this.#running >= this.#settings.maxConcurrent;
      const due = Math.max(since, this.#dueAt(now));
      if (this.#closed || this.#waiting.length === 0 || (!full && due <= now)) return due;
      await this.#wait(full ? undefined : due - now, true);
      if (full) since = performance.now();
    }
  }

  /** Starts the call of `waiter`: counts it in the window and in flight, and resolves its slot. */
  #start(waiter: Waiter, shared: SharedGrant | undefined): void {
    waiter.detach();
    const entry = this.#window.open(performance.now());
    this.#running++;
    let released = false;
    waiter.resolve({
      sent: () => {
        this.#window.sent(entry, performance.now());
        shared?.sent();
        if (this.#wakeOnCalls) this.#wake?.();
      },
      release: () => {
        if (released) return;
        released = true;
        this.#window.close(entry);
        shared?.forget();
        this.#running--;
        if (this.#wakeOnCalls) this.#wake?.();
      },
    });
  }

  /**
   * A place in the shared window, taken once the local checks pass (waiting out its delay).
   * `undefined` when there is none this turn: the window said to come back later (and that wait
   * is over), nobody is waiting any more, or the shared budget failed (then every waiting caller
   * has been rejected with its error).
   */
  async #takeShared(shared: SharedBudget): Promise<SharedGrant | undefined> {
    if (this.#closed || this.#waiting.length === 0) return undefined;
    let answer: Awaited<ReturnType<SharedBudget['take']>>;
    try {
      answer = await shared.take();
    } catch (error) {
      for (const waiter of this.#waiting.splice(0)) {
        waiter.detach();
        waiter.reject(error);
      }
      return undefined;
    }
    if (!('sent' in answer)) {
      await this.#wait(answer.waitMs, false);
      return undefined;
    }
    if (answer.delayMs > 0) await this.#wait(answer.delayMs, false);
    return answer;
  }

  /**
   * Waits `ms` (until woken, when `undefined`), or until `close()`. With `wakeOnCalls`, a call
   * being sent or released ends the wait too: the window or `maxConcurrent` may then allow the
   * next call sooner.
   */
  #wait(ms: number | undefined, wakeOnCalls: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(wake, ms);
      this.#wake = wake;
      this.#wakeOnCalls = wakeOnCalls;
    });
  }

  /** When the pause, the window and the even schedule let the next call start, seen at `now`. */
  #dueAt(now: number): number {
    return Math.max(this.#nextSlot, this.#pausedUntil, this.#window.nextAllowedAt(now));
  }

  #canStartNow(): boolean {
    const now = performance.now();
    return this.#running < this.#settings.maxConcurrent && this.#dueAt(now) <= now;
  }

  /** Seconds until everyone now waiting has started (at least 1). */
  #drainSeconds(): number {
    const pause = Math.max(0, this.#pausedUntil - performance.now());
    return Math.max(1, Math.ceil(((this.#waiting.length + 1) * this.#minTime + pause) / 1000));
  }
}
