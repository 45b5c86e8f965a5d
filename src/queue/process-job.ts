/**
 * One deferred scan job, start to finish: get the bytes (the private copy, the host's `load(ref)`,
 * or a download of the job's URL), validate them like an upload, ask the matcher, and act on a
 * match exactly as a synchronous scan does. A `url` job whose matcher can fetch by URL (PhotoDNA's
 * Match-by-URL) goes to `url-job.ts` instead. Returns whether the job is done or must be tried
 * again later.
 */

import { CachedMatcher } from '../core/cached-matcher.js';
import { validateFile } from '../core/validate-file.js';
import { GuardError, toGuardError } from '../errors.js';
import { checkedResult } from '../matchers/checked-result.js';
import type { FileFacts, Matcher, MatchRequest } from '../types.js';
import { JobBytesGoneError } from './job-bytes-gone.js';
import {
  type Answer,
  actOnMatch,
  boundedAsk,
  bytesGone,
  contextOf,
  emitScan,
  INVALID_CODES,
  invalid,
  type JobDeps,
  retryLater,
} from './job-results.js';
import type { ClaimedJob, JobResult } from './types.js';
import { downloadFailed, fetchUrl, scanByUrl } from './url-job.js';

export { incidentIdOf, type JobDeps } from './job-results.js';

export async function processJob(deps: JobDeps, job: ClaimedJob): Promise<JobResult> {
  const ctx = contextOf(job);
  const { source } = job;
  if (source.kind === 'url' && deps.matchUrl)
    return scanByUrl(deps, job, ctx, source.url, deps.matchUrl);
  let bytes: Buffer;
  if (source.kind === 'url') {
    const fetched = await fetchUrl(deps, source.url);
    if (!fetched.ok) return downloadFailed(deps, job, ctx, fetched);
    bytes = fetched.bytes;
  } else {
    try {
      bytes = await bytesOf(deps, job);
    } catch (error) {
      if (error instanceof JobBytesGoneError) return bytesGone(deps, ctx, job, error);
      return retryLater(deps, job, ctx, toGuardError(error), 'could not read the job bytes');
    }
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
  let answer: Answer;
  try {
    answer = await boundedAsk(deps, 'the matcher', (signal) =>
      ask(deps.matcher, { bytes, contentType: file.mimetype, file, signal }),
    );
  } catch (error) {
    const guardError = toGuardError(error);
    if (INVALID_CODES.has(guardError.code)) return invalid(deps, ctx, job, guardError, file);
    return retryLater(deps, job, ctx, guardError, 'PhotoDNA could not be asked', file);
  }
  const { result } = answer;
  emitScan(deps, job, ctx, file, answer, performance.now() - started);
  if (!result.isMatch) return { done: true, outcome: 'clean' };
  return actOnMatch(deps, job, ctx, { file, bytes, result });
}

/**
 * The matcher's answer, and whether the guard's dedup cache gave it without a call (the guard's
 * own worker asks through a `CachedMatcher`; any other matcher is asked, its answer checked).
 */
async function ask(matcher: Matcher, request: MatchRequest): Promise<Answer> {
  if (matcher instanceof CachedMatcher) return matcher.lookup(request);
  return { result: checkedResult(await matcher.match(request)), cached: false };
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
    if (loaded === null) throw new JobBytesGoneError('load(ref) resolved null');
    if (!(loaded instanceof Uint8Array))
      throw new TypeError('load(ref) must resolve to a Buffer, or null when the ref is gone');
    // Owned memory (SPEC 4: image-size must not read a pooled slice).
    return Buffer.from(loaded);
  }
  throw new GuardError('SCAN_UNAVAILABLE', {
    reason: 'not-configured',
    detail: `unsupported job source ${(source as { kind: string }).kind}`,
  });
}
