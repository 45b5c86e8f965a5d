/**
 * How a deferred scan job ends, whatever its source: its `scan` event, a match acted on exactly
 * as a synchronous scan does (`handleMatches`: quarantine, `match` listeners, `onMatch`), done as
 * `invalid` (with a `reject` event), or tried again later (with an `error` event).
 */
import { createHash } from 'node:crypto';
import { emitReject, reportScanFailure } from '../core/failure-events.js';
import { handleMatches, type IncidentContext } from '../core/handle-matches.js';
import type { ReportingDeps } from '../core/match-event.js';
import { routeFields } from '../core/request-context.js';
import { GuardError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { Limits, RouteConfig } from '../options.js';
import type { FileFacts, Matcher, MatchResult, Policy } from '../types.js';
import { boundedCall } from './bounded-call.js';
import type { JobBytesGoneError } from './job-bytes-gone.js';
import { retryDelayMs } from './stored-job.js';
import type { ClaimedJob, JobResult, StoredJob } from './types.js';

export interface JobDeps {
  /** The guard's own worker's is a `CachedMatcher`, which also says when its cache answered. */
  matcher: Matcher;
  /**
   * Matches a `url` job's image by its URL, the service fetching it (PhotoDNA's Match-by-URL).
   * Absent: the worker downloads the image and asks `matcher`.
   */
  matchUrl: ((url: string, options: { signal: AbortSignal }) => Promise<MatchResult>) | undefined;
  /** Bounds of the worker's own downloads (`url` jobs, their evidence); bytes: `limits.maxFileSize`. */
  download: { timeoutMs: number; maxRedirects: number };
  /** Attempts before an unreachable URL is `invalid`, or a match is emitted without its evidence. */
  urlAttempts: number;
  events: GuardEvents;
  reporting: ReportingDeps;
  route: RouteConfig;
  limits: Limits;
  /** The policy of jobs that name none. */
  policy: Policy;
  load: ((ref: string) => Promise<Uint8Array | null>) | undefined;
  /** Aborted when the worker closes: in-flight calls end, the job waits for the next run. */
  closing: AbortSignal;
}

/** Codes that say the file itself is unacceptable: the job is done, as `invalid`. */
export const INVALID_CODES: ReadonlySet<string> = new Set([
  'UNSUPPORTED_MEDIA_TYPE',
  'FILE_TOO_LARGE',
  'INVALID_IMAGE',
  'IMAGE_TOO_SMALL',
  'IMAGE_TOO_LARGE',
]);

/** The incident id of a deferred job's match: fixed by its `scanId`, so a re-run finds it. */
export function incidentIdOf(scanId: string): string {
  const hex = createHash('sha256').update(`photodna-guard:scan\0${scanId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * One matcher call (`matcher`, `matchUrl`), bounded by the route's scan timeout and the worker
 * closing (`boundedCall`): a matcher that ignores its signal cannot hold the job past either.
 */
export function boundedAsk<T>(
  deps: JobDeps,
  what: string,
  ask: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  return boundedCall(ask, {
    closing: deps.closing,
    timeoutMs: deps.route.scanTimeoutMs,
    what,
    budget: 'scanTimeoutMs',
  });
}

export function contextOf(job: ClaimedJob): IncidentContext {
  const { uploader } = job;
  return {
    route: uploader.route,
    routePattern: uploader.routePattern,
    method: uploader.method,
    ip: uploader.ip,
    network: uploader.network ?? { peer: uploader.ip },
    userAgent: uploader.userAgent,
    receivedAt: readableDate(uploader.receivedAt),
  };
}

/**
 * The job's receipt time; one a queue of an earlier version took unchecked and nobody can read
 * (enqueue now refuses it) is the claim's time, so that its evidence can still be stored.
 */
function readableDate(value: string): Date {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

/** What a job adds to its `scan`, `match` and `reject` events. */
function deferredFields(job: ClaimedJob) {
  return {
    deferred: true as const,
    scanId: job.scanId,
    ...(job.metadata === undefined ? {} : { metadata: job.metadata }),
    ...(job.source.kind === 'url' ? { url: job.source.url } : {}),
  };
}

/** A matcher's answer to a job; `cached`: the guard's dedup cache gave it, no call was made. */
export interface Answer {
  result: MatchResult;
  cached: boolean;
}

export function emitScan(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  file: FileFacts,
  { result, cached }: Answer,
  durationMs: number,
): void {
  deps.events.emit('scan', {
    file,
    outcome: result.isMatch ? 'match' : 'clean',
    durationMs,
    cached,
    trackingId: result.trackingId,
    ...routeFields(ctx),
    ...deferredFields(job),
  });
}

/**
 * Acts on a match like a synchronous scan. `bytes` empty: the evidence could not be had, so the
 * match is only flagged (nothing to store). A failed quarantine write keeps the job for later:
 * the next attempt announces the match again, with the same incident id (at-least-once, as
 * every job's events). A job asking for 'quarantine' from a worker without a store is flagged at
 * once, with an `error`: retrying could never store it.
 */
export async function actOnMatch(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  match: { file: FileFacts; bytes: Buffer; result: MatchResult },
): Promise<JobResult> {
  const wanted = job.policy ?? deps.policy;
  const policy: Policy = match.bytes.byteLength === 0 ? 'flag' : deferredPolicy(wanted, deps);
  if (wanted === 'quarantine' && policy !== 'quarantine' && match.bytes.byteLength > 0) {
    deps.events.emit('error', {
      error: new Error(
        `deferred scan ${job.scanId} matched under policy 'quarantine', but this worker has no quarantine store: the match is announced as 'flag' and not stored (give the worker 'quarantine')`,
      ),
      stage: 'quarantine',
      reason: 'not-configured',
      route: ctx.route,
      file: match.file,
    });
  }
  const { deferred: _deferred, ...fields } = deferredFields(job);
  const failure = await handleMatches(deps.reporting, ctx, deps.route, policy, [
    { ...match, deferred: { incidentId: incidentIdOf(job.scanId), ...fields } },
  ]);
  // The evidence could not be stored: keep the job (and its bytes) and try again.
  if (failure)
    return {
      done: false,
      retryInMs: retryDelayMs(job.attempt),
      detail: failure.detail ?? failure.message,
    };
  return { done: true, outcome: 'match' };
}

/**
 * The upload already passed: `block` can only mean "take it away", i.e. quarantine; without a
 * store, either is a flag.
 */
function deferredPolicy(policy: Policy, deps: JobDeps): Policy {
  if (policy === 'block' || policy === 'quarantine')
    return deps.reporting.store ? 'quarantine' : 'flag';
  return policy;
}

/** The file itself is unacceptable: the job is done, with the `reject` a request would have had. */
export function invalid(
  deps: JobDeps,
  ctx: IncidentContext,
  job: ClaimedJob,
  error: GuardError,
  file?: FileFacts,
): JobResult {
  const refused = file ?? { field: job.field, originalname: job.originalname };
  emitReject(deps.events, ctx, error, refused, deferredFields(job));
  return { done: true, outcome: 'invalid', detail: error.code };
}

/**
 * The job's image is gone for good (`JobBytesGoneError`): it can never be checked, and a retry
 * would fail every 5 minutes forever. The job is done as `unchecked`, with the one `reject` event
 * (`SCAN_UNAVAILABLE`) of an upload that could not be checked under `failMode: 'closed'` (the
 * worker's): the host takes the upload down as for any deferred reject; nothing calls it clean.
 */
export function bytesGone(
  deps: JobDeps,
  ctx: IncidentContext,
  job: ClaimedJob,
  gone: JobBytesGoneError,
): JobResult {
  const error = new GuardError('SCAN_UNAVAILABLE', {
    detail: `the image of deferred scan ${job.scanId} is gone, it cannot be checked: ${gone.message}`,
  });
  const refused = { field: job.field, originalname: job.originalname };
  emitReject(deps.events, ctx, error, refused, deferredFields(job));
  return { done: true, outcome: 'unchecked', detail: gone.message };
}

/** The job could not be checked this time: an `error` event (unless the worker closes), and a retry. */
export function retryLater(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  error: GuardError,
  what: string,
  file?: FileFacts,
): JobResult {
  if (!deps.closing.aborted)
    reportScanFailure(deps.events, ctx, error, file, `${what} for deferred scan ${job.scanId}`);
  return {
    done: false,
    retryInMs: retryDelayMs(job.attempt),
    detail: error.detail ?? error.message,
  };
}

/**
 * The `error` event (stage `queue`, reason `hold-expired`) of a held job its queue refused
 * because its hold expired without a verdict. Usually its guard's process died before answering
 * (its handler never ran), but the same sight follows Redis losing a release the guard had
 * recorded and answered (a failover, a crash under `appendfsync everysec`): the upload was then
 * accepted and is never checked. Said, with the `scanId` to look the upload up by, never silent.
 */
export function reportHoldExpired(events: GuardEvents, job: StoredJob): void {
  events.emit('error', {
    error: new Error(
      `deferred scan ${job.scanId} refused unchecked: its hold expired without a verdict. Its guard's process most likely died before answering the upload, but if Redis lost the release (a failover, a crash under appendfsync everysec) the upload was accepted and is never checked: look up scan ${job.scanId}`,
    ),
    stage: 'queue',
    reason: 'hold-expired',
    route: job.uploader.route,
    scanId: job.scanId,
    ...(job.metadata === undefined ? {} : { metadata: job.metadata }),
  });
}
