import { printable } from './printable.js';
import type { PdqFacts } from './types.js';

/**
 * Error classes. Every rejection the guard answers is a `GuardError` with a stable `code` and an
 * HTTP `status`; the table below is the single source of statuses and public messages, and the
 * README's error table is checked against it by a test.
 */

export const ERROR_CODES = {
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The file is not a supported image type.' },
  FILE_TOO_LARGE: { status: 413, message: 'The file is larger than allowed.' },
  LIMIT_EXCEEDED: { status: 413, message: 'The upload has too many files, fields or parts.' },
  INVALID_IMAGE: { status: 422, message: 'The file is not a readable image.' },
  IMAGE_TOO_SMALL: { status: 422, message: 'The image is smaller than allowed.' },
  IMAGE_TOO_LARGE: { status: 422, message: 'The image has more pixels than allowed.' },
  MALFORMED_MULTIPART: { status: 400, message: 'The multipart body is malformed.' },
  UPLOAD_REJECTED: { status: 422, message: 'The upload was rejected.' },
  SCAN_UNAVAILABLE: {
    status: 503,
    message: 'The upload could not be checked right now. Please try again later.',
  },
  SCAN_BUSY: {
    status: 503,
    message: 'Too many uploads are being checked. Please try again shortly.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Why a file could not be checked (for `SCAN_UNAVAILABLE` / `SCAN_BUSY`); reaches `error` events
 * and logs, never the uploader.
 */
export type UnavailableReason =
  | 'timeout'
  | 'rate-limited'
  | 'server-error'
  | 'network'
  | 'malformed-response'
  | 'unauthorized'
  | 'quota-exceeded'
  | 'bad-request'
  | 'queue-full'
  | 'client-share'
  | 'rate-limiter-down'
  | 'store-failure'
  | 'not-configured'
  | 'hasher-failed'
  /**
   * A deferred job's hold expired without a verdict (BullMQ): refused unchecked. Its guard's
   * process died before answering, or Redis lost the release it had recorded (the upload then
   * accepted, never checked).
   */
  | 'hold-expired';

export interface GuardErrorOptions {
  /** Detail for logs and events. Never shown to the uploader (the public message is fixed). */
  detail?: string;
  reason?: UnavailableReason;
  /** Seconds, sent as `Retry-After` with 503 answers. */
  retryAfter?: number;
  cause?: unknown;
  /** The file's PDQ facts, when a PDQ back end hashed it before another back end failed. */
  pdq?: PdqFacts;
}

/** A rejection with a stable code and HTTP status. `message` is safe to show the uploader. */
export class GuardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  readonly reason: UnavailableReason | undefined;
  readonly retryAfter: number | undefined;
  readonly pdq: PdqFacts | undefined;

  constructor(code: ErrorCode, options: GuardErrorOptions = {}) {
    super(ERROR_CODES[code].message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'GuardError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    // Details name what the uploader chose (field names, text field paths) and reach events and
    // logs: no control character, line break or bidi override raw in them.
    this.detail = options.detail === undefined ? undefined : printable(options.detail);
    this.reason = options.reason;
    this.retryAfter = options.retryAfter ?? (this.status === 503 ? 5 : undefined);
    this.pdq = options.pdq;
  }
}

/** Thrown by `photodnaGuard()` and `new PhotoDnaClient()` for an invalid option. */
export class InvalidOptionsError extends Error {
  /** Dotted option paths that failed, e.g. `limits.maxFileSize`. */
  readonly paths: string[];

  constructor(message: string, paths: string[], cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.name = 'InvalidOptionsError';
    this.paths = paths;
  }
}

/**
 * A failed call to the PhotoDNA service, as thrown by `PhotoDnaClient`. The guard turns it into a
 * `GuardError` (see `toGuardError`). `message` never contains the subscription key.
 */
export class PhotoDnaServiceError extends Error {
  /** HTTP status of the answer, when there was one. */
  readonly httpStatus: number | undefined;
  /** PhotoDNA `Status.Code`, when the answer had one. */
  readonly statusCode: number | undefined;
  readonly trackingId: string | undefined;
  /** Whether a retry could succeed (429, 5xx, 3004, resets, timeouts). */
  readonly retryable: boolean;
  /** How the guard maps it. */
  readonly guardCode: ErrorCode;
  readonly reason: UnavailableReason | undefined;
  readonly retryAfter: number | undefined;
  /**
   * Whether the service may have received and acted on the request without an answer saying
   * what became of it: a timeout or reset once it was sent, a 5xx or 408, an answer that could
   * not be read. `false` when it provably never left (connection refused, a queue, a 429 from the
   * gateway) or the service answered its outcome (401, 403, a `Status.Code`). A Report that fails
   * so may have been filed with NCMEC: sending it again may file it twice.
   */
  readonly outcomeUnknown: boolean;

  constructor(
    message: string,
    options: {
      httpStatus?: number;
      statusCode?: number;
      trackingId?: string;
      retryable: boolean;
      guardCode: ErrorCode;
      reason?: UnavailableReason;
      retryAfter?: number;
      outcomeUnknown?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'PhotoDnaServiceError';
    this.outcomeUnknown = options.outcomeUnknown === true;
    this.httpStatus = options.httpStatus;
    this.statusCode = options.statusCode;
    this.trackingId = options.trackingId;
    this.retryable = options.retryable;
    this.guardCode = options.guardCode;
    this.reason = options.reason;
    this.retryAfter = options.retryAfter;
  }
}

/** Thrown by a quarantine store (write failure, integrity mismatch, unknown id). */
export class QuarantineError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'QuarantineError';
  }
}

/** Maps anything a matcher threw to the `GuardError` the uploader gets. */
export function toGuardError(error: unknown): GuardError {
  if (error instanceof GuardError) return error;
  if (error instanceof PhotoDnaServiceError) {
    return new GuardError(error.guardCode, {
      detail: error.message,
      ...(error.reason ? { reason: error.reason } : {}),
      ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new GuardError('SCAN_UNAVAILABLE', { detail, cause: error });
}

/** For `error` events and logs: the underlying failure (its message names the cause), not the public text. */
export function underlyingError(error: GuardError): Error {
  if (error.cause instanceof Error) return error.cause;
  return new Error(error.detail ?? error.message, { cause: error });
}

/** Anything thrown, as an Error. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
