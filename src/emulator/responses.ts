import { randomUUID } from 'node:crypto';

/**
 * The bodies the emulator answers: API Management errors (`{statusCode, message}`) and PhotoDNA
 * answers (`Status`, `TrackingId`, ...), in the shapes of SPEC section 2.
 */

/** An answer ready to be written. */
export interface ApiAnswer {
  httpStatus: number;
  headers?: Record<string, string>;
  /** Serialised as JSON unless it is already a string. */
  body: unknown;
  /** The PhotoDNA `Status.Code`, for the call record. */
  statusCode?: number;
  isMatch?: boolean;
}

export const STATUS_DESCRIPTIONS: Readonly<Record<number, string>> = {
  3000: 'OK',
  3002: 'Invalid or missing request parameter(s)',
  3004: 'Unknown scenario or unhandled error occurred while processing request',
  3206: 'The given file could not be verified as an image',
  3208: 'Image size in pixels is not within allowed range (minimum size is 160x160 pixels; maximum size is 4MB)',
};

export interface PhotoDnaStatus {
  Code: number;
  Description: string;
  Exception: string | null;
}

export interface MatchFlagBody {
  AdvancedInfo: Array<{ Key: string; Value: string }>;
  Source: string;
  Violations: string[];
  MatchDistance: number;
}

/** A unique tracking id in the service's form. */
export function trackingId(): string {
  return `1_photodna_${randomUUID()}`;
}

export function status(code: number, exception: string | null = null): PhotoDnaStatus {
  return {
    Code: code,
    Description: STATUS_DESCRIPTIONS[code] ?? 'Unknown status',
    Exception: exception,
  };
}

/** The `Test` source flag the emulator reports for a known item. */
export function testMatchFlag(matchId: string, distance: number): MatchFlagBody {
  return {
    AdvancedInfo: [{ Key: 'MatchId', Value: matchId }],
    Source: 'Test',
    Violations: ['A1'],
    MatchDistance: distance,
  };
}

/** One Match-shaped result (Match answers it whole; MatchHash lists one per hash). */
export function matchResult(
  code: number,
  flags: MatchFlagBody[] = [],
  extra: { exception?: string | null; trackingId?: string; evaluate?: object | null } = {},
): Record<string, unknown> {
  return {
    Status: status(code, extra.exception ?? null),
    ...(extra.trackingId === undefined ? {} : { TrackingId: extra.trackingId }),
    ContentId: null,
    IsMatch: flags.length > 0,
    MatchDetails: { AdvancedInfo: [], MatchFlags: flags },
    ...(extra.evaluate === undefined ? {} : { EvaluateResponse: extra.evaluate }),
  };
}

/** A whole Match answer (HTTP 200; the outcome is in `Status.Code`). */
export function matchAnswer(
  code: number,
  flags: MatchFlagBody[] = [],
  options: { exception?: string | null; evaluate?: object | null; trackingId?: string } = {},
): ApiAnswer {
  const body = matchResult(code, flags, {
    exception: options.exception ?? null,
    trackingId: options.trackingId ?? trackingId(),
    evaluate: options.evaluate ?? null,
  });
  return { httpStatus: 200, body, statusCode: code, isMatch: flags.length > 0 };
}

const APIM_MESSAGES: Readonly<Record<number, string>> = {
  401: 'Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.',
  403: 'Out of call volume quota. Quota will be replenished in 1.00:00:00.',
  404: 'Resource not found',
  413: 'Request entity too large',
  500: 'Internal server error',
  502: 'Bad gateway',
  503: 'Service unavailable',
  504: 'Gateway timeout',
};

/** API Management's 401 message for a request that carries no subscription key at all. */
const MISSING_KEY_MESSAGE =
  'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.';

/**
 * API Management's 401 for a request without a subscription key; a key it does not know gets
 * `apimError(401)` ("invalid subscription key"), as the real gateway tells the two apart.
 */
export function missingKeyError(): ApiAnswer {
  return { httpStatus: 401, headers: {}, body: { statusCode: 401, message: MISSING_KEY_MESSAGE } };
}

/** An API Management error: a non-200 status with `{statusCode, message}`. */
export function apimError(httpStatus: number, retryAfter?: number): ApiAnswer {
  const seconds = httpStatus === 429 ? Math.max(1, retryAfter ?? 1) : retryAfter;
  const message =
    httpStatus === 429
      ? `Rate limit is exceeded. Try again in ${seconds} seconds.`
      : (APIM_MESSAGES[httpStatus] ?? `The request failed with status ${httpStatus}.`);
  return {
    httpStatus,
    headers: seconds === undefined ? {} : { 'retry-after': String(seconds) },
    body: { statusCode: httpStatus, message },
  };
}
