/**
 * Deferred scanning in the request path: a validated file becomes a durable job (a private copy
 * of its bytes, the uploader's context and the route's policy) and the request goes on with a
 * `scanId`. The job is scanned later by a scan worker, which emits the `scan` / `match` events.
 *
 * All or none: a request's jobs are enqueued under one hold (`HeldJobs`) and run only once its
 * verdict is final. A request that passes releases them before its handler answers with their
 * `scanId`s (durably: they run even if the process dies right after); one refused or rejected
 * (another file failed to enqueue, matched, or was refused as bad; the uploader left) withdraws
 * them: they end `refused`, unchecked and silent, as the host keeps no record of their `scanId`s.
 */
import { randomUUID } from 'node:crypto';
import { GuardError, toError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { ScanJobInput, ScanQueue } from '../queue/types.js';
import type { FileFacts, Policy } from '../types.js';
import { rejectAfter } from './abortable.js';
import { reportScanFailure } from './failure-events.js';
import { boundedPolicy } from './policy.js';
import { type RequestContext, routeFields } from './request-context.js';

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
        ...routeFields(ctx),
        method: ctx.method,
        ip: ctx.ip,
        network: ctx.network,
        ...(ctx.userAgent === undefined ? {} : { userAgent: ctx.userAgent }),
        receivedAt: ctx.receivedAt.toISOString(),
      },
      policy,
    };
    const held = heldJobsOf(ctx, deps.queue);
    const enqueue = (signal: AbortSignal) =>
      deps.queue.enqueue(job, held ? { signal, holdId: held.id } : { signal });
    const { scanId } = await rejectAfter(enqueue, route.scanTimeoutMs, () => {
      timedOut = true;
      return new Error(
        `the scan queue did not answer within scanTimeoutMs (${route.scanTimeoutMs} ms)`,
      );
    });
    held?.scanIds.push(scanId);
    return scanId;
  } catch (error) {
    throw queueFailure(deps.events, ctx, error, timedOut, 'queue the file', file);
  }
}

/** A queue's failure as the request's `SCAN_UNAVAILABLE`, its `error` event emitted. */
function queueFailure(
  events: GuardEvents,
  ctx: RequestContext,
  error: unknown,
  timedOut: boolean,
  what: string,
  file?: FileFacts,
): GuardError {
  const guardError = new GuardError('SCAN_UNAVAILABLE', {
    reason: timedOut ? 'timeout' : 'store-failure',
    detail: `could not ${what} for a deferred scan: ${toError(error).message}`,
    cause: error,
  });
  reportScanFailure(events, ctx, guardError, file);
  return guardError;
}

/** A queue that holds jobs until their request's verdict (the engines of this package do). */
type HoldingQueue = ScanQueue & Required<Pick<ScanQueue, 'release' | 'withdraw'>>;

/** One request's queued jobs, held by the queue until the request's verdict is final. */
export class HeldJobs {
  readonly id = randomUUID();
  /** The jobs whose enqueue resolved (those still on their way are withdrawn by their signal). */
  readonly scanIds: string[] = [];
  readonly queue: HoldingQueue;
  /** Settled once: a release confirmed is never withdrawn, a withdrawal never released. */
  settled = false;

  constructor(queue: HoldingQueue) {
    this.queue = queue;
  }
}

/**
 * The request's hold, made at its first enqueue; none for a queue that cannot hold jobs (a
 * host's own `ScanQueue`: its jobs run once stored, as before holds existed).
 */
function heldJobsOf(ctx: RequestContext, queue: ScanQueue): HeldJobs | undefined {
  if (ctx.held) return ctx.held;
  if (typeof queue.release !== 'function' || typeof queue.withdraw !== 'function') return undefined;
  ctx.held = new HeldJobs(queue as HoldingQueue);
  return ctx.held;
}

/**
 * Releases the request's jobs once it passed, before the handler answers with their `scanId`s.
 * Resolves to the request's refusal (its `error` event emitted) when the queue could not release
 * them within the route's deadline: the request is then refused 503 and they are withdrawn.
 */
export async function releaseHeld(
  events: GuardEvents,
  ctx: RequestContext,
  route: RouteConfig,
  held: HeldJobs,
): Promise<GuardError | undefined> {
  if (held.scanIds.length === 0) return undefined;
  let timedOut = false;
  try {
    await rejectAfter(held.queue.release(held.id, held.scanIds), route.scanTimeoutMs, () => {
      timedOut = true;
      return new Error(
        `the scan queue did not answer within scanTimeoutMs (${route.scanTimeoutMs} ms)`,
      );
    });
    held.settled = true;
    return undefined;
  } catch (error) {
    return queueFailure(events, ctx, error, timedOut, "release the request's files");
  }
}

/**
 * Withdraws the jobs of a request refused, rejected or abandoned: they end `refused`. Not waited
 * for: they cannot run before a release, and a withdrawal that fails (its queue unreachable)
 * leaves them held until they expire, refused then.
 */
export function withdrawHeld(ctx: RequestContext): void {
  const held = ctx.held;
  if (!held || held.settled) return;
  held.settled = true;
  held.queue.withdraw(held.id, held.scanIds).catch(() => undefined);
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
