import { randomUUID } from 'node:crypto';
import { hasCredentials, isHttpUrl } from '../download.js';
import {
  assertScanId,
  MAX_JOB_BYTES,
  MAX_JOB_URL_LENGTH,
  type ScanJobInput,
  type StoredJob,
} from './types.js';

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
  const uploader = input.uploader ?? {};
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
      receivedAt: receivedAtOf(uploader.receivedAt, now),
    },
    ...(input.policy === undefined ? {} : { policy: input.policy }),
    enqueuedAt: now,
  };
}

/** An ISO 8601 date-time with its time zone: what `new Date().toISOString()` writes, and more. */
const ISO_DATE_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * `uploader.receivedAt` as stored: ISO, UTC. Checked here because the worker builds the match's
 * evidence from it: a time it cannot read would fail every attempt in the quarantine store.
 */
function receivedAtOf(value: unknown, now: number): string {
  if (value === undefined || value === null) return new Date(now).toISOString();
  const date =
    value instanceof Date
      ? value
      : typeof value === 'string' && ISO_DATE_TIME.test(value) && isCalendarDate(value)
        ? new Date(value)
        : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new TypeError(
      'uploader.receivedAt must be an ISO 8601 date-time with its time zone (new Date().toISOString()) or a valid Date',
    );
  }
  return date.toISOString();
}

/** Whether an ISO date-time's date exists (`2025-02-30` does not; `Date` would roll it over). */
function isCalendarDate(value: string): boolean {
  const [year = 0, month = 0, day = 0] = value.slice(0, 10).split('-').map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Backoff before retrying a job the service could not answer: doubling, capped at 5 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1_000 * 2 ** Math.min(attempt - 1, 16), 300_000);
}
