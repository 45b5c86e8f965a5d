/**
 * A job's image that no longer exists: its private copy deleted (ENOENT), its BullMQ bytes key
 * missing, or the host's `load(ref)` resolving `null`. Bytes that are gone cannot come back, so
 * the worker ends such a job (`bytesGone` in `job-results.ts`) instead of retrying it forever;
 * any other failure to read them (EIO, Redis down, a `load` that rejects) is retried.
 */
export class JobBytesGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobBytesGoneError';
  }
}
