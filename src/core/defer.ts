/**
 * Deferred scanning in the request path: a validated file becomes a durable job (a private copy
 * of its bytes, the uploader's context and the route's policy) and the request goes on with a
 * `scanId`. The job is scanned later by a scan worker, which emits the `scan` / `match` events.
 */
import { GuardError, toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { ScanJobInput, ScanQueue } from '../queue/types.js';
import type { FileFacts, Policy } from '../types.js';
import { rejectAfter } from './abortable.js';
import { reportScanFailure } from './failure-events.js';
import { boundedPolicy } from './policy.js';
import type { RequestContext } from './request-context.js';

export type DeferMode = 'never' | 'always' | 'overflow';

/** How a route defers, given whether the guard has a queue. */
export function deferModeOf(route: RouteConfig, queue: ScanQueue | undefined): DeferMode {
  if (!queue || route.defer === false) return 'never';
  if (route.defer === true) return 'always';
  return route.defer.when;
}

/**
 * Queues one file with the request's `policy` (`requestPolicy`, asked once for all its files);
 * resolves to its `scanId`, or throws a `SCAN_UNAVAILABLE` store failure.
 */
export async function enqueueFile(
  deps: { queue: ScanQueue; events: GuardEvents },
  ctx: RequestContext,
  route: RouteConfig,
  policy: Policy,
  file: FileFacts,
  bytes: Buffer,
): Promise<string> {
  let timedOut = false;
  try {
    // A queue that does not answer (its Redis unreachable, a wrong password: ioredis waits for
    // it) must not hold the request forever: it gets the route's scan deadline. The request is
    // then refused, so the enqueue is told (its signal): its job, should it still be stored
    // (ioredis sends what it queued once Redis answers), must never run as if accepted.
    const job: ScanJobInput = {
      source: { kind: 'bytes', bytes },
      field: file.field,
      originalname: file.originalname,
      uploader: {
        route: ctx.route,
        method: ctx.method,
        ip: ctx.ip,
        network: ctx.network,
        ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
        receivedAt: ctx.receivedAt.toISOString(),
      },
      policy,
    };
    const enqueue = (signal: AbortSignal) => deps.queue.enqueue(job, { signal });
    const { scanId } = await rejectAfter(enqueue, route.scanTimeoutMs, () => {
      timedOut = true;
      return new Error(
        `the scan queue did not answer within scanTimeoutMs (${route.scanTimeoutMs} ms)`,
      );
    });
    return scanId;
  } catch (error) {
    const reason = timedOut ? 'timeout' : 'store-failure';
    const guardError = new GuardError('SCAN_UNAVAILABLE', {
      reason,
      detail: `could not queue the file for a deferred scan: ${toError(error).message}`,
      cause: error,
    });
    reportScanFailure(deps.events, ctx, guardError, file);
    throw guardError;
  }
}

/**
 * The route's policy for the files of one request that are queued, asked at most once (a
 * policy function that hangs costs the request one `hookTimeoutMs`, not one per file).
 */
export function requestPolicy(
  events: GuardEvents,
  route: RouteConfig,
  ctx: RequestContext,
): () => Promise<Policy> {
  let asked: Promise<Policy> | undefined;
  return () => {
    asked ??= boundedPolicy(events, route, ctx);
    return asked;
  };
}
