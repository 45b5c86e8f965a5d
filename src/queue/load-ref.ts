/**
 * The worker's `load(ref)`, bounded like its downloads: each call gets `{ signal }`, aborted when
 * the worker closes or after `download.timeoutMs`, and is raced against that signal, so a load
 * that ignores it still ends the job's run. Its rejection is a `GuardError` (reason `timeout`),
 * which makes the job a retry later with an `error` event; after a close, the job simply waits
 * for the next run.
 */
import { GuardError } from '../errors.js';

/**
 * Resolves a job's `ref` source to the bytes (the host's own storage), or to `null` when the ref
 * no longer exists (deleted): the job then ends as `unchecked` instead of being retried. A
 * rejection is a failure to read, retried later.
 */
export type LoadRef = (ref: string, options: { signal: AbortSignal }) => Promise<Uint8Array | null>;

export function boundLoad(
  load: LoadRef,
  bounds: { closing: AbortSignal; timeoutMs: number },
): (ref: string) => Promise<Uint8Array | null> {
  return (ref) => {
    const signal = AbortSignal.any([bounds.closing, AbortSignal.timeout(bounds.timeoutMs)]);
    return new Promise<Uint8Array | null>((resolve, reject) => {
      const onAbort = () => {
        const detail = bounds.closing.aborted
          ? 'the worker closed while load(ref) ran'
          : `load(ref) did not answer within ${bounds.timeoutMs} ms (download.timeoutMs)`;
        reject(new GuardError('SCAN_UNAVAILABLE', { reason: 'timeout', detail }));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      // A rejection after the race was lost is settled here, never unhandled.
      Promise.resolve()
        .then(() => load(ref, { signal }))
        .then(resolve, reject)
        .finally(() => signal.removeEventListener('abort', onAbort));
    });
  };
}
