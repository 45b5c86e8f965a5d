/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts, so nothing a
 * request waits on (a hung matcher, another request's lookup) can outlive its deadline.
 */
export function settleBy<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What a request waits through: `settle` gives up on work once the request has stopped. */
export interface Waiter {
  settle<T>(work: Promise<T>): Promise<T>;
  /** Whether the request stopped (its uploader left or its deadline passed). */
  readonly stopped: boolean;
}

/** A `Waiter` that stops when `signal` aborts. */
export function signalWaiter(signal: AbortSignal): Waiter {
  return {
    settle: (work) => settleBy(work, signal),
    get stopped() {
      return signal.aborted;
    },
  };
}

/** Resolves with `work`, or with `fallback()` once `ms` passed (the timer is cleared either way). */
export async function withTimeout<T>(work: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Settles with `work`, or rejects with `error()` once `ms` passed. Work given as a function gets
 * the deadline's signal, aborted then: work that can be withdrawn (a queued job) is told to be.
 */
export function rejectAfter<T>(
  work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
  ms: number,
  error: () => Error,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(error()), ms);
  // In a promise: a function that throws at once rejects, the timer still cleared.
  const started =
    typeof work === 'function'
      ? new Promise<T>((resolve) => resolve(work(controller.signal)))
      : work;
  return settleBy(started, controller.signal).finally(() => clearTimeout(timer));
}

/**
 * A signal aborted after `ms` with a `TimeoutError`, as `AbortSignal.timeout(ms)` is, and
 * `clear()` to stop its timer (unref'd, as that one's is). Not `AbortSignal.timeout`: given to
 * `AbortSignal.any` and held nowhere else, Node 20 collects it unfired, and the deadline never
 * comes (test/unit/queue/bounded-call.test.ts). Here the timer holds the controller.
 */
export function timeoutSignal(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      ),
    ms,
  );
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
