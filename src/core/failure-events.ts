/**
 * The `error` event of a file (or request) that could not be checked, and the `reject` event.
 * Built here only: the request path and the deferred-scan worker (src/queue) report the same
 * failure with the same fields, `reason` and `detail`, so the two cannot drift apart.
 */
import { type GuardError, underlyingError } from '../errors.js';
import type { GuardEvents, RejectEvent } from '../events.js';
import type { FileFacts } from '../types.js';
import { type RequestContext, routeFields } from './request-context.js';

/** What a deferred job adds to its `reject` event, as to its `scan` and `match` events. */
export type DeferredJobFields = Pick<RejectEvent, 'deferred' | 'scanId' | 'metadata' | 'url'>;

/**
 * The `error` event (stage `scan`) of a file, or a request, that could not be checked: the
 * underlying failure (its message names the cause, never the public text). `context` (a deferred
 * job's "what failed, for which scan") is put before that message, the failure kept as `cause`.
 */
export function reportScanFailure(
  events: GuardEvents,
  where: Pick<RequestContext, 'route'>,
  error: GuardError,
  file?: FileFacts,
  context?: string,
): void {
  const underlying = underlyingError(error);
  events.emit('error', {
    error:
      context === undefined
        ? underlying
        : new Error(`${context}: ${underlying.message}`, { cause: underlying }),
    stage: 'scan',
    ...(error.reason ? { reason: error.reason } : {}),
    route: where.route,
    ...(file ? { file } : {}),
  });
}

/**
 * The `reject` event of a rejection (built only when someone listens): the code and status of
 * the answer, the detail for logs, who was refused, the file that caused it, and for a deferred
 * job (no answer goes with it) the job's `scanId` and `metadata`.
 */
export function emitReject(
  events: GuardEvents,
  ctx: Pick<RequestContext, 'route' | 'routePattern' | 'method' | 'ip'>,
  error: GuardError,
  file?: RejectEvent['file'],
  job?: DeferredJobFields,
): void {
  if (!events.wants('reject')) return;
  events.emit('reject', {
    code: error.code,
    status: error.status,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    ...routeFields(ctx),
    method: ctx.method,
    ip: ctx.ip,
    ...(file ? { file } : {}),
    ...job,
  });
}
