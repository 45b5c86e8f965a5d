/**
 * One deferred scan job, start to finish: get the bytes, validate them like an upload, ask the
 * matcher, and act on a match exactly as a synchronous scan does (`handleMatches`: quarantine,
 * `match` listeners, `onMatch`). Returns whether the job is done or must be tried again later.
 */
import { createHash } from 'node:crypto';
import { handleMatches, type IncidentContext } from '../core/handle-matches.js';
import type { ReportingDeps } from '../core/match-event.js';
import { checkedResult } from '../core/scan-file.js';
import { validateFile } from '../core/validate-file.js';
import { GuardError, toGuardError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { Limits, RouteConfig } from '../options.js';
import type { FileFacts, Matcher, MatchResult, Policy } from '../types.js';
import { retryDelayMs } from './stored-job.js';
import type { ClaimedJob, JobResult } from './types.js';

export interface JobDeps {
  matcher: Matcher;
  events: GuardEvents;
  reporting: ReportingDeps;
  route: RouteConfig;
  limits: Limits;
  /** The policy of jobs that name none. */
  policy: Policy;
  load: ((ref: string) => Promise<Uint8Array>) | undefined;
  /** Aborted when the worker closes: in-flight calls end, the job waits for the next run. */
  closing: AbortSignal;
}

/** Codes that say the file itself is unacceptable: the job is done, as `invalid`. */
const INVALID_CODES = new Set([
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

export async function processJob(deps: JobDeps, job: ClaimedJob): Promise<JobResult> {
  const ctx = contextOf(job);
  let bytes: Buffer;
  try {
    bytes = await bytesOf(deps, job);
  } catch (error) {
    return retryLater(deps, job, ctx, toGuardError(error), 'could not read the job bytes');
  }
  let file: FileFacts;
  try {
    file = await validateFile(
      { field: job.field, originalname: job.originalname, bytes },
      deps.limits,
    );
  } catch (error) {
    return invalid(deps, ctx, job, toGuardError(error));
  }
  const started = performance.now();
  let result: MatchResult;
  try {
    result = checkedResult(
      await deps.matcher.match({
        bytes,
        contentType: file.mimetype,
        file,
        signal: AbortSignal.any([deps.closing, AbortSignal.timeout(deps.route.scanTimeoutMs)]),
      }),
    );
  } catch (error) {
    const guardError = toGuardError(error);
    if (INVALID_CODES.has(guardError.code)) return invalid(deps, ctx, job, guardError, file);
    return retryLater(deps, job, ctx, guardError, 'PhotoDNA could not be asked', file);
  }
  deps.events.emit('scan', {
    file,
    outcome: result.isMatch ? 'match' : 'clean',
    durationMs: performance.now() - started,
    cached: false,
    trackingId: result.trackingId,
    route: ctx.route,
    ...deferredFields(job),
  });
  if (!result.isMatch) return { done: true, outcome: 'clean' };
  const policy: Policy = deferredPolicy(job.policy ?? deps.policy, deps.reporting);
  const failure = await handleMatches(deps.reporting, ctx, deps.route, policy, [
    {
      file,
      bytes,
      result,
      deferred: {
        incidentId: incidentIdOf(job.scanId),
        scanId: job.scanId,
        ...(job.metadata === undefined ? {} : { metadata: job.metadata }),
      },
    },
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

/** The upload already passed: `block` can only mean "take it away", i.e. quarantine. */
function deferredPolicy(policy: Policy, reporting: ReportingDeps): Policy {
  if (policy === 'block') return reporting.store ? 'quarantine' : 'flag';
  return policy;
}

async function bytesOf(deps: JobDeps, job: ClaimedJob): Promise<Buffer> {
  const { source } = job;
  if (source.kind === 'bytes') return job.bytes();
  if (source.kind === 'ref') {
    if (!deps.load)
      throw new GuardError('SCAN_UNAVAILABLE', {
        reason: 'not-configured',
        detail: 'a job holds a reference but the worker has no load(ref) function',
      });
    const loaded = await deps.load(source.ref);
    if (!(loaded instanceof Uint8Array)) throw new TypeError('load(ref) must resolve to a Buffer');
    // Owned memory (SPEC 4: image-size must not read a pooled slice).
    return Buffer.from(loaded);
  }
  throw new GuardError('SCAN_UNAVAILABLE', {
    reason: 'not-configured',
    detail: `unsupported job source ${(source as { kind: string }).kind}`,
  });
}

function contextOf(job: ClaimedJob): IncidentContext {
  const { uploader } = job;
  return {
    route: uploader.route,
    method: uploader.method,
    ip: uploader.ip,
    userAgent: uploader.userAgent,
    receivedAt: new Date(uploader.receivedAt),
  };
}

function deferredFields(job: ClaimedJob) {
  return {
    deferred: true as const,
    scanId: job.scanId,
    ...(job.metadata === undefined ? {} : { metadata: job.metadata }),
  };
}

function invalid(
  deps: JobDeps,
  ctx: IncidentContext,
  job: ClaimedJob,
  error: GuardError,
  file?: FileFacts,
): JobResult {
  deps.events.emit('reject', {
    code: error.code,
    status: error.status,
    ...(error.detail === undefined
      ? {}
      : { detail: `${error.detail} (deferred scan ${job.scanId})` }),
    route: ctx.route,
    method: ctx.method,
    ip: ctx.ip,
    file: file ?? { field: job.field, originalname: job.originalname },
  });
  return { done: true, outcome: 'invalid', detail: error.code };
}

function retryLater(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  error: GuardError,
  what: string,
  file?: FileFacts,
): JobResult {
  if (!deps.closing.aborted) {
    deps.events.emit('error', {
      error: new Error(
        `${what} for deferred scan ${job.scanId}: ${error.detail ?? error.message}`,
        { cause: error },
      ),
      stage: 'scan',
      ...(error.reason === undefined ? {} : { reason: error.reason }),
      route: ctx.route,
      ...(file ? { file } : {}),
    });
  }
  return {
    done: false,
    retryInMs: retryDelayMs(job.attempt),
    detail: error.detail ?? error.message,
  };
}
