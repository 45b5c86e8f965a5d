import { GuardError, toError } from '../errors.js';
import type { RejectionBody } from '../events.js';
import type { RouteConfig } from '../options.js';

export interface RejectionResponse {
  status: number;
  /** Lower-case header names, `content-type` included. */
  headers: Record<string, string>;
  /** The JSON text of the body. */
  body: string;
}

/**
 * The longest `Retry-After` an uploader is told. The service's own (a 429 or 503 may say a day;
 * the client keeps up to 86,400 s to pace itself) is about our calls, not the upload: passed on,
 * one such answer would send every uploader away until tomorrow, and a retry sooner costs at
 * most another 503.
 */
const MAX_RETRY_AFTER_S = 60;

/** What a match is answered as under `matchAnswer: 'disguised'`: the commonest 422. */
const DISGUISE = new GuardError('INVALID_IMAGE');

/**
 * The HTTP answer to a rejection, the same for every adapter: the fixed public message (never
 * the detail: a match must look like any other rejection), `Retry-After` on 503, and the host's
 * `rejectionBody` when it has one and it can be sent as JSON. Under `matchAnswer: 'disguised'`
 * a match is answered exactly as an unreadable image (the host's `rejectionBody` sees that too).
 */
export function rejectionResponse(
  rejection: GuardError,
  route: Pick<RouteConfig, 'rejectionBody' | 'matchAnswer'>,
  onHostError: (error: Error) => void,
): RejectionResponse {
  const error =
    rejection.code === 'UPLOAD_REJECTED' && route.matchAnswer !== 'explicit' ? DISGUISE : rejection;
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  };
  if (error.status === 503) {
    const seconds = Math.ceil(error.retryAfter ?? 5);
    headers['retry-after'] = String(Math.min(MAX_RETRY_AFTER_S, Math.max(1, seconds)));
  }
  const standard: RejectionBody = { error: { code: error.code, message: error.message } };
  return {
    status: error.status,
    headers,
    body: hostBody(error, standard, route, onHostError) ?? JSON.stringify(standard),
  };
}

/** The host's body as JSON text, or undefined (and an error report) when it cannot be one. */
function hostBody(
  error: GuardError,
  standard: RejectionBody,
  route: Pick<RouteConfig, 'rejectionBody'>,
  onHostError: (error: Error) => void,
): string | undefined {
  if (!route.rejectionBody) return undefined;
  try {
    const json: unknown = JSON.stringify(
      route.rejectionBody({ ...standard.error, status: error.status }),
    );
    if (typeof json === 'string') return json;
    onHostError(new TypeError('rejectionBody returned a value JSON cannot encode'));
  } catch (failure) {
    // A broken rejectionBody must not turn a rejection into a 500 (or a leaked stack trace).
    onHostError(toError(failure));
  }
  return undefined;
}
