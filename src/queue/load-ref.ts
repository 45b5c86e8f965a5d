/**
 * The worker's `load(ref)`, bounded like its downloads (`boundedCall`): each call gets
 * `{ signal }`, aborted when the worker closes or after `download.timeoutMs`, and a load that
 * ignores it still ends the job's run then.
 */
import { boundedCall } from './bounded-call.js';

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
  return (ref) =>
    boundedCall((signal) => load(ref, { signal }), {
      ...bounds,
      what: 'load(ref)',
      budget: 'download.timeoutMs',
    });
}
