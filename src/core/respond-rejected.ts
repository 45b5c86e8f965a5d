import type { GuardError } from '../errors.js';
import type { GuardEvents, RejectEvent } from '../events.js';
import type { RouteConfig } from '../options.js';
import { emitReject } from './failure-events.js';
import { Respond } from './outcome.js';
import { rejectionResponse } from './rejection.js';
import type { RequestContext } from './request-context.js';

/**
 * The answer to a rejected request, and its `reject` event, wherever in the flow the rejection
 * was decided. The answer is built first: a failing `rejectionBody` hook reports an `error`, and
 * an `error` comes before the `reject` it leads to, which is the request's last event
 * (docs/events.md).
 */
export function respondRejected(
  events: GuardEvents,
  route: Pick<RouteConfig, 'rejectionBody' | 'matchAnswer'>,
  ctx: RequestContext,
  error: GuardError,
  file?: RejectEvent['file'],
): Respond {
  const response = rejectionResponse(error, route, (hostError) =>
    events.emit('error', { error: hostError, stage: 'hook', route: ctx.route }),
  );
  emitReject(events, ctx, error, file);
  return new Respond(error.code, response.status, response.headers, response.body);
}
