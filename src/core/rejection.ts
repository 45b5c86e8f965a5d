import type { GuardError } from '../errors.js';
import type { RejectionBody } from '../events.js';
import type { RouteConfig } from '../options.js';

export interface RejectionResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * The HTTP answer to a rejection, the same for every adapter: the fixed public message (never
 * the detail: a match must look like any other rejection), `Retry-After` on 503, and the host's
 * `rejectionBody` when it has one.
 */
export function rejectionResponse(
  error: GuardError,
  route: Pick<RouteConfig, 'rejectionBody'>,
  onHostError: (error: Error) => void,
): RejectionResponse {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (error.status === 503)
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfter ?? 5)));
  const standard: RejectionBody = { error: { code: error.code, message: error.message } };
  let body: unknown = standard;
  if (route.rejectionBody) {
    try {
      body = route.rejectionBody({ ...standard.error, status: error.status });
    } catch (failure) {
      // A broken rejectionBody must not turn a rejection into a 500 (or a leaked stack trace).
      onHostError(failure instanceof Error ? failure : new Error(String(failure)));
    }
  }
  return { status: error.status, headers, body };
}
