import { channel } from 'node:diagnostics_channel';
import type { Readable } from 'node:stream';
import { endedIdle } from '../multipart/idle-body.js';
import type { Logger } from '../types.js';
import { scopeOf } from './diagnostics-scope.js';
import { type RequestContext, routeFields } from './request-context.js';

/**
 * One message per upload the guard gave up on with no answer, on the
 * `photodna-guard:upload-ended` diagnostics channel (as the client's attempts are published):
 * `aborted` when the uploader left (mid-body, or while its files were checked), `stalled` when
 * its body sent nothing for `limits.bodyIdleMs` and the guard ended it. Neither is an event
 * (docs/events.md); the guard's metrics count them. Never carries bytes, a query or an address.
 */
export interface UploadEndedMessage {
  /**
   * The guard that gave up on it: an opaque object, one per guard (shared by its `route()`s), to
   * tell apart the uploads of several guards in one process (compare by reference; it holds
   * nothing). Each guard's metrics count only their own.
   */
  guard: object;
  reason: 'aborted' | 'stalled';
  /** The request path the router routes on, as sent (the uploader's to choose: no label). */
  route: string;
  /** The pattern of the route the framework matched, when it knew it as the guard ran. */
  routePattern: string | undefined;
}

export const UPLOAD_ENDED_CHANNEL = 'photodna-guard:upload-ended';
const uploadEndedChannel = channel(UPLOAD_ENDED_CHANNEL);

/**
 * Tells of an upload given up on: a message on the channel when something subscribes (naming
 * the guard that emits on `events`), and, when its body stalled, one `debug` line to the guard's
 * logger (the route; no query, no bytes). Called where an abandoned request is refused, never on
 * the way of one that is answered.
 */
export function uploadEnded(
  logger: Logger | undefined,
  events: object,
  ctx: RequestContext,
  body: Readable | undefined,
): void {
  const reason = body !== undefined && endedIdle(body) ? 'stalled' : 'aborted';
  if (reason === 'stalled') {
    logger?.debug(
      routeFields(ctx),
      'photodna-guard: upload body stalled (limits.bodyIdleMs), ended',
    );
  }
  if (!uploadEndedChannel.hasSubscribers) return;
  const message: UploadEndedMessage = {
    guard: scopeOf(events).identity,
    reason,
    route: ctx.route,
    routePattern: ctx.routePattern,
  };
  uploadEndedChannel.publish(message);
}
