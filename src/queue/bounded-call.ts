/**
 * A call a job's run waits on (its matcher's answer, its `load(ref)`), bounded: it gets a
 * `signal`, aborted when the worker closes or once its budget passed, and is raced against that
 * signal (`settleBy`, as a request's deadline is), so a call that ignores it still ends the job's
 * run then (its answer no longer awaited). Its rejection then is a `GuardError` (reason
 * `timeout`), which makes the job a retry later with an `error` event; after a close, the job
 * simply waits for the next run.
 */
import { settleBy, timeoutSignal } from '../core/abortable.js';
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
  const deadline = timeoutSignal(timeoutMs);
  const signal = AbortSignal.any([closing, deadline.signal]);
  const ended = () =>
    new GuardError('SCAN_UNAVAILABLE', {
      reason: 'timeout',
      detail: closing.aborted
        ? `the worker closed while ${what} ran`
        : `${what} did not answer within ${timeoutMs} ms (${budget})`,
    });
  if (signal.aborted) {
    deadline.clear();
    return Promise.reject(ended());
  }
  // In a promise: a call that throws at once rejects. Lost to the signal, its later rejection is
  // settled by `settleBy`, never unhandled.
  const started = new Promise<T>((resolve) => resolve(call(signal)));
  return settleBy(started, signal)
    .catch((error: unknown) => {
      throw signal.aborted && error === signal.reason ? ended() : error;
    })
    .finally(deadline.clear);
}
