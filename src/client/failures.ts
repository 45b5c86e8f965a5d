import { type ErrorCode, PhotoDnaServiceError, type UnavailableReason } from '../errors.js';

/**
 * Builds the `PhotoDnaServiceError` for every way a call can fail. Messages name the cause for
 * logs and `error` events; they never contain the subscription key or NCMEC credentials (text
 * that came from the service is passed through `redact` first).
 */

/** Status codes of the PhotoDNA `Status.Code` field (SPEC section 2). */
export const STATUS = {
  OK: 3000,
  INVALID_REQUEST: 3002,
  UNHANDLED_ERROR: 3004,
  NOT_AN_IMAGE: 3206,
  OUT_OF_RANGE: 3208,
} as const;

/** Above this many bytes, a 3208 answer means "too large" rather than "too small". */
export const SERVICE_MAX_BYTES = 4_000_000;

interface Fields {
  httpStatus?: number | undefined;
  statusCode?: number | undefined;
  trackingId?: string | undefined;
  retryAfter?: number | undefined;
  outcomeUnknown?: boolean | undefined;
  cause?: unknown;
}

function serviceError(
  message: string,
  guardCode: ErrorCode,
  reason: UnavailableReason | undefined,
  retryable: boolean,
  fields: Fields = {},
): PhotoDnaServiceError {
  const options: ConstructorParameters<typeof PhotoDnaServiceError>[1] = { retryable, guardCode };
  if (reason !== undefined) options.reason = reason;
  if (fields.httpStatus !== undefined) options.httpStatus = fields.httpStatus;
  if (fields.statusCode !== undefined) options.statusCode = fields.statusCode;
  if (fields.trackingId !== undefined) options.trackingId = fields.trackingId;
  if (fields.retryAfter !== undefined) options.retryAfter = fields.retryAfter;
  if (fields.outcomeUnknown === true) options.outcomeUnknown = true;
  if (fields.cause !== undefined) options.cause = fields.cause;
  return new PhotoDnaServiceError(message, options);
}

/** A non-2xx answer from API Management or the service. */
export function httpStatusError(
  status: number,
  fields: Fields & { serviceMessage?: string | undefined } = {},
): PhotoDnaServiceError {
  const detail = fields.serviceMessage ? `: ${fields.serviceMessage}` : '';
  const f = { ...fields, httpStatus: status };
  if (status === 401) {
    return serviceError(
      `PhotoDNA rejected the subscription key (HTTP 401)${detail}. Check apiKey / PHOTODNA_API_KEY.`,
      'SCAN_UNAVAILABLE',
      'unauthorized',
      false,
      f,
    );
  }
  if (status === 403) {
    return serviceError(
      `PhotoDNA refused the subscription: quota spent or access denied (HTTP 403)${detail}.`,
      'SCAN_UNAVAILABLE',
      'quota-exceeded',
      false,
      f,
    );
  }
  if (status === 429) {
    return serviceError(
      `PhotoDNA rate limit exceeded (HTTP 429)${detail}.`,
      'SCAN_UNAVAILABLE',
      'rate-limited',
      true,
      f,
    );
  }
  // A gateway timeout or server error says nothing of what the service did with the request.
  if (status === 408) {
    return serviceError(
      `PhotoDNA timed out (HTTP 408)${detail}.`,
      'SCAN_UNAVAILABLE',
      'timeout',
      true,
      { ...f, outcomeUnknown: true },
    );
  }
  if (status >= 500) {
    return serviceError(
      `PhotoDNA answered HTTP ${status}${detail}.`,
      'SCAN_UNAVAILABLE',
      'server-error',
      true,
      { ...f, outcomeUnknown: true },
    );
  }
  if (status === 413) {
    return serviceError(
      `PhotoDNA refused the body as too large (HTTP 413)${detail}.`,
      'FILE_TOO_LARGE',
      undefined,
      false,
      f,
    );
  }
  return serviceError(
    `PhotoDNA rejected the request (HTTP ${status})${detail}. Check baseUrl and apiVersion.`,
    'SCAN_UNAVAILABLE',
    'bad-request',
    false,
    f,
  );
}

/** A PhotoDNA `Status.Code` other than 3000. */
export function statusCodeError(
  code: number,
  fields: Fields & { description?: string | undefined; bytes?: number | undefined } = {},
): PhotoDnaServiceError {
  const detail = fields.description ? `: ${fields.description}` : '';
  const f = { ...fields, statusCode: code };
  switch (code) {
    case STATUS.INVALID_REQUEST:
      return serviceError(
        `PhotoDNA rejected a request parameter (status 3002)${detail}.`,
        'SCAN_UNAVAILABLE',
        'bad-request',
        false,
        f,
      );
    case STATUS.UNHANDLED_ERROR:
      return serviceError(
        `PhotoDNA had an unhandled error (status 3004)${detail}.`,
        'SCAN_UNAVAILABLE',
        'server-error',
        true,
        f,
      );
    case STATUS.NOT_AN_IMAGE:
      return serviceError(
        `PhotoDNA could not verify the file as an image (status 3206)${detail}.`,
        'INVALID_IMAGE',
        undefined,
        false,
        f,
      );
    case STATUS.OUT_OF_RANGE: {
      const tooLarge = fields.bytes !== undefined && fields.bytes > SERVICE_MAX_BYTES;
      return serviceError(
        `PhotoDNA found the image outside the allowed range (status 3208, ${tooLarge ? 'over 4 MB' : 'under 160x160'})${detail}.`,
        tooLarge ? 'FILE_TOO_LARGE' : 'IMAGE_TOO_SMALL',
        undefined,
        false,
        f,
      );
    }
    default:
      return serviceError(
        `PhotoDNA answered the unknown status ${code}${detail}.`,
        'SCAN_UNAVAILABLE',
        'server-error',
        false,
        f,
      );
  }
}

/**
 * An answer that is not JSON, or JSON of an unexpected shape: never a clean result. What the
 * service did with the request is unknown.
 */
export function malformedError(message: string, fields: Fields = {}): PhotoDnaServiceError {
  return serviceError(
    `PhotoDNA answered ${message}.`,
    'SCAN_UNAVAILABLE',
    'malformed-response',
    true,
    { ...fields, outcomeUnknown: true },
  );
}

/** No answer in time; `sent: false` when the request provably never left (connect timeout). */
export function timeoutError(message: string, cause?: unknown, sent = true): PhotoDnaServiceError {
  return serviceError(message, 'SCAN_UNAVAILABLE', 'timeout', true, {
    cause,
    outcomeUnknown: sent,
  });
}

/** A failed connection; `sent: false` when the request provably never left (refused). */
export function networkError(
  message: string,
  retryable: boolean,
  cause?: unknown,
  sent = true,
): PhotoDnaServiceError {
  return serviceError(message, 'SCAN_UNAVAILABLE', 'network', retryable, {
    cause,
    outcomeUnknown: sent,
  });
}

/** Bytes no image may have (over 4 MiB): refused without a call. */
export function notSentTooLargeError(bytes: number): PhotoDnaServiceError {
  return serviceError(
    `The image (${bytes} bytes) is over PhotoDNA's 4 MB limit; it was not sent.`,
    'FILE_TOO_LARGE',
    undefined,
    false,
  );
}

export function queueFullError(retryAfter: number): PhotoDnaServiceError {
  return serviceError(
    `The PhotoDNA call queue is full; it should drain in about ${retryAfter} s.`,
    'SCAN_BUSY',
    'queue-full',
    true,
    { retryAfter },
  );
}

/** The shared (Redis) rate limiter could not be reached or did not answer in time. */
export function rateLimiterDownError(detail: string, cause?: unknown): PhotoDnaServiceError {
  return serviceError(
    `The shared rate limiter (Redis) is unavailable: ${detail}. No PhotoDNA call was made.`,
    'SCAN_UNAVAILABLE',
    'rate-limiter-down',
    true,
    { cause },
  );
}

/** The configuration cannot work on this installation (e.g. an optional dependency is missing). */
export function notConfiguredError(message: string, cause?: unknown): PhotoDnaServiceError {
  return serviceError(message, 'SCAN_UNAVAILABLE', 'not-configured', false, { cause });
}

export function closedError(): PhotoDnaServiceError {
  return serviceError('The PhotoDNA client is closed.', 'SCAN_UNAVAILABLE', undefined, false);
}

/** The same failure, its message saying how many attempts were made. */
export function afterAttempts(error: PhotoDnaServiceError, attempts: number): PhotoDnaServiceError {
  if (attempts <= 1) return error;
  return serviceError(
    `${error.message.replace(/\.$/, '')} (gave up after ${attempts} attempts).`,
    error.guardCode,
    error.reason,
    error.retryable,
    { ...error, cause: error.cause },
  );
}

export { redact } from '../redact.js';
