import { randomUUID } from 'node:crypto';
import { hasCredentials, isHttpUrl } from '../download.js';
import {
  assertScanId,
  MAX_JOB_BYTES,
  MAX_JOB_URL_LENGTH,
  type ScanJobInput,
  type StoredJob,
} from './types.js';
import { checkUploader } from './uploader-schema.js';

/** Checks an `enqueue` input and turns it into the JSON the engines store (bytes apart). */
export function toStoredJob(input: ScanJobInput, now = Date.now()): StoredJob {
  const scanId = input.scanId ?? randomUUID();
  assertScanId(scanId);
  const { source } = input;
  let stored: StoredJob['source'];
  if (source?.kind === 'bytes') {
    if (!(source.bytes instanceof Uint8Array)) throw new TypeError('source.bytes must be a Buffer');
    if (source.bytes.byteLength > MAX_JOB_BYTES)
      throw new RangeError(`source.bytes is larger than ${MAX_JOB_BYTES} bytes`);
    stored = { kind: 'bytes' };
  } else if (source?.kind === 'ref' && typeof source.ref === 'string' && source.ref) {
    stored = { kind: 'ref', ref: source.ref };
  } else if (source?.kind === 'url') {
    if (!isHttpUrl(source.url)) throw new TypeError('source.url must be an absolute http(s) URL');
    if (hasCredentials(source.url)) {
      throw new TypeError(
        'source.url must not hold a user name or password (fetch refuses them): use a presigned URL, or a ref and load(ref)',
      );
    }
    if (source.url.length > MAX_JOB_URL_LENGTH)
      throw new RangeError(`source.url is longer than ${MAX_JOB_URL_LENGTH} characters`);
    stored = { kind: 'url', url: source.url };
  } else {
    throw new TypeError(
      "source must be { kind: 'bytes', bytes }, { kind: 'ref', ref } or { kind: 'url', url }",
    );
  }
  const uploader = checkUploader(input.uploader);
  return {
    scanId,
    source: stored,
    field: input.field ?? 'file',
    originalname: input.originalname ?? '',
    ...(input.metadata === undefined ? {} : { metadata: input.metadata }),
    uploader: {
      route: uploader.route ?? 'deferred',
      ...(uploader.routePattern === undefined ? {} : { routePattern: uploader.routePattern }),
      method: uploader.method ?? 'POST',
      ip: uploader.ip ?? '',
      ...(uploader.network === undefined ? {} : { network: uploader.network }),
      ...(uploader.userAgent === undefined ? {} : { userAgent: uploader.userAgent }),
      receivedAt: uploader.receivedAt ?? new Date(now).toISOString(),
    },
    ...(input.policy === undefined ? {} : { policy: input.policy }),
    enqueuedAt: now,
  };
}

/** Backoff before retrying a job the service could not answer: doubling, capped at 5 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1_000 * 2 ** Math.min(attempt - 1, 16), 300_000);
}
