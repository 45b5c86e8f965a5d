/**
 * A call a job's run waits on (its matcher's answer, its `load(ref)`), bounded: it gets a
 * `signal`, aborted when the worker closes or once its budget passed, and is raced against that
 * signal, so a call that ignores it still ends the job's run then (its answer no longer awaited),
 * as the synchronous path's deadline does (`settleBy`). Its rejection then is a `GuardError`
 * (reason `timeout`), which makes the job a retry later with an `error` event; after a close, the
 * job simply waits for the next run.
 */
import { GuardError } from '../errors.js';

export interface CallBounds {
  /** Aborted when the worker closes. */
  closing: AbortSignal;
  timeoutMs: number;
  /** What is called, and the option that sets `timeoutMs`: for the timeout's detail. */
  what: string;
  budget: string;
}

export function boundedCall<T>(
  call: (signal: AbortSignal) => Promise<T>,
  { closing, timeoutMs, what, budget }: CallBounds,
): Promise<T> {
  const signal = AbortSignal.any([closing, AbortSignal.timeout(timeoutMs)]);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const detail = closing.aborted
        ? `the worker closed while ${what} ran`
        : `${what} did not answer within ${timeoutMs} ms (${budget})`;
      reject(new GuardError('SCAN_UNAVAILABLE', { reason: 'timeout', detail }));
    };
    if (signal.aborted) return onAbort();
    // Added before the call gets the signal: on abort, this rejection comes first, whatever the
    // call's own listener does.
    signal.addEventListener('abort', onAbort, { once: true });
    // A rejection after the race was lost is settled here, never unhandled.
    Promise.resolve()
      .then(() => call(signal))
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}
