/**
 * `url` jobs: the image lives at a URL. With a matcher that fetches by URL (PhotoDNA's
 * Match-by-URL form) the service downloads it and no bytes pass through the worker; otherwise the
 * worker downloads it (`fetchUrl`, bounded) and the job goes on like any other. On a match the
 * worker downloads the image as evidence for the quarantine store; when it cannot, the job is
 * tried again (the match is deterministic) and, at the last of `urlAttempts`, the match is
 * emitted without evidence rather than lost. URLs may carry tokens (presigned URLs): every text
 * that reaches an event or a log has its query string redacted.
 */
import type { IncidentContext } from '../core/handle-matches.js';
import { validateFile } from '../core/validate-file.js';
import { type DownloadOutcome, download } from '../download.js';
import { GuardError, PhotoDnaServiceError, toGuardError } from '../errors.js';
import { checkedResult } from '../matchers/checked-result.js';
import { redactUrl, redactUrlIn } from '../redact.js';
import type { FileFacts, MatchResult } from '../types.js';
import {
  type Answer,
  actOnMatch,
  boundedAsk,
  emitScan,
  INVALID_CODES,
  invalid,
  type JobDeps,
  retryLater,
} from './job-results.js';
import type { ClaimedJob, JobResult } from './types.js';

type FailedDownload = Extract<DownloadOutcome, { ok: false }>;

/** PhotoDNA's answer to a URL it could not fetch (or would not): "invalid request parameter". */
const URL_REFUSED = 3002;

/** Downloads a URL within the worker's bounds (`limits.maxFileSize`, `download`). */
export function fetchUrl(deps: JobDeps, url: string): Promise<DownloadOutcome> {
  return download(url, {
    maxBytes: deps.limits.maxFileSize,
    timeoutMs: deps.download.timeoutMs,
    maxRedirects: deps.download.maxRedirects,
    signal: deps.closing,
  });
}

/** A `url` job the worker downloaded itself could not be downloaded. */
export function downloadFailed(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  failed: FailedDownload,
): JobResult {
  switch (failed.reason) {
    case 'too-large':
      return invalid(deps, ctx, job, new GuardError('FILE_TOO_LARGE', { detail: failed.detail }));
    case 'not-allowed':
      return invalid(deps, ctx, job, new GuardError('INVALID_IMAGE', { detail: failed.detail }));
    case 'aborted':
      return retryLater(deps, job, ctx, unavailable(failed.detail), 'the worker closed');
    case 'unreachable':
      return unreachable(deps, job, ctx, failed.detail);
  }
}

/** A `url` job matched by URL: the service fetches the image. */
export async function scanByUrl(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  url: string,
  matchUrl: NonNullable<JobDeps['matchUrl']>,
): Promise<JobResult> {
  const started = performance.now();
  let result: MatchResult;
  try {
    result = checkedResult(
      await boundedAsk(deps, 'matchUrl', (signal) => matchUrl(url, { signal })),
    );
  } catch (error) {
    const guardError = toGuardError(error);
    const detail = redactUrlIn(guardError.detail ?? guardError.message, url, 1_000);
    if (INVALID_CODES.has(guardError.code))
      return invalid(deps, ctx, job, new GuardError(guardError.code, { detail }));
    if (error instanceof PhotoDnaServiceError && error.statusCode === URL_REFUSED)
      return unreachable(deps, job, ctx, `PhotoDNA could not fetch ${redactUrl(url)}: ${detail}`);
    const retry = new GuardError(guardError.code, {
      detail,
      ...(guardError.reason === undefined ? {} : { reason: guardError.reason }),
    });
    return retryLater(deps, job, ctx, retry, 'PhotoDNA could not be asked');
  }
  const durationMs = performance.now() - started;
  // Never from the dedup cache: the service fetched the image, no bytes to key it by were seen.
  const answer: Answer = { result, cached: false };
  if (!result.isMatch) {
    emitScan(deps, job, ctx, urlOnlyFile(job), answer, durationMs);
    return { done: true, outcome: 'clean' };
  }
  const evidence = await evidenceOf(deps, job, url);
  if ('bytes' in evidence) {
    emitScan(deps, job, ctx, evidence.file, answer, durationMs);
    return actOnMatch(deps, job, ctx, { ...evidence, result });
  }
  if (job.attempt < deps.urlAttempts || deps.closing.aborted) {
    const what = 'the evidence of a match could not be downloaded (the job runs again)';
    return retryLater(deps, job, ctx, unavailable(evidence.detail), what);
  }
  // The last attempt: a match is never lost, even without its evidence.
  deps.events.emit('error', {
    error: new Error(
      `the evidence of the match of deferred scan ${job.scanId} was not retrieved after ${job.attempt} attempts (${evidence.detail}); the match is emitted without it and nothing is quarantined`,
    ),
    stage: 'quarantine',
    reason: 'network',
    route: ctx.route,
  });
  const file = urlOnlyFile(job);
  emitScan(deps, job, ctx, file, answer, durationMs);
  return actOnMatch(deps, job, ctx, { file, bytes: Buffer.alloc(0), result });
}

/** Downloads and validates the image of a match, for the quarantine store. */
async function evidenceOf(
  deps: JobDeps,
  job: ClaimedJob,
  url: string,
): Promise<{ file: FileFacts; bytes: Buffer } | { detail: string }> {
  const fetched = await fetchUrl(deps, url);
  if (!fetched.ok) return { detail: fetched.detail };
  try {
    const bytes = fetched.bytes;
    const file = await validateFile(
      { field: job.field, originalname: job.originalname, bytes },
      deps.limits,
    );
    return { file, bytes };
  } catch (error) {
    const guardError = toGuardError(error);
    return {
      detail: `${redactUrl(url)} now serves no valid image (${guardError.code}: ${guardError.detail ?? guardError.message})`,
    };
  }
}

/** The URL could not be fetched: tried again until `urlAttempts`, then done as `invalid`. */
function unreachable(
  deps: JobDeps,
  job: ClaimedJob,
  ctx: IncidentContext,
  detail: string,
): JobResult {
  const attempts = `attempt ${job.attempt} of ${deps.urlAttempts}`;
  if (job.attempt >= deps.urlAttempts)
    return invalid(
      deps,
      ctx,
      job,
      new GuardError('INVALID_IMAGE', { detail: `${detail} (${attempts})` }),
    );
  return retryLater(
    deps,
    job,
    ctx,
    unavailable(`${detail} (${attempts})`),
    'the image URL could not be fetched',
  );
}

function unavailable(detail: string): GuardError {
  return new GuardError('SCAN_UNAVAILABLE', { reason: 'network', detail });
}

/**
 * A `url` job's file facts when the worker never saw its bytes: only the names are known, the
 * rest is empty (documented on `ScanEvent.url`; the type has no "unknown" member).
 */
function urlOnlyFile(job: ClaimedJob): FileFacts {
  return {
    field: job.field,
    originalname: job.originalname,
    mimetype: '' as FileFacts['mimetype'],
    size: 0,
    width: 0,
    height: 0,
    sha256: '',
  };
}
