import type { GuardError } from '../errors.js';
import type { GuardEvents, RejectEvent } from '../events.js';
import type { RequestContext } from './request-context.js';

/** The `reject` event for a rejection, wherever in the flow it was decided. */
export function emitReject(
  events: GuardEvents,
  ctx: RequestContext,
  error: GuardError,
  file?: RejectEvent['file'],
): void {
  events.emit('reject', {
    code: error.code,
    status: error.status,
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    route: ctx.route,
    method: ctx.method,
    ip: ctx.ip,
    ...(file ? { file } : {}),
  });
}
