import { GuardError, toError, underlyingError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { FileFacts, ScannedFile, ScanOutcome } from '../types.js';
import { withTimeout } from './abortable.js';
import { handleMatches, type MatchedFile } from './handle-matches.js';
import type { ReportingDeps } from './match-event.js';
import { resolvePolicy } from './policy.js';
import type { RequestContext } from './request-context.js';
import { type FileScan, type ScanFileDeps, scanFile } from './scan-file.js';
import { type UploadedFile, validateFile } from './validate-file.js';
import type { Verdict } from './verdict.js';

export type ScanDeps = ScanFileDeps & ReportingDeps & { events: GuardEvents };

/** Answers from the service that mean the file itself is bad, whatever the fail mode. */
const FILE_FAULTS = new Set(['INVALID_IMAGE', 'IMAGE_TOO_SMALL', 'FILE_TOO_LARGE']);

/**
 * The verdict on a request's files: validate every file (no call is spent on a request that
 * will be rejected anyway), check them all within one deadline, then apply the policy and the
 * fail mode. Emits `scan`, `match`, `quarantine` and the `error` events of failures; the `reject`
 * event is `decide`'s (docs/events.md).
 */
export async function scanRequest(
  deps: ScanDeps,
  ctx: RequestContext,
  uploads: UploadedFile[],
  route: RouteConfig,
): Promise<Verdict> {
  const facts: FileFacts[] = [];
  for (const upload of uploads) {
    try {
      facts.push(await validateFile(upload, route.limits));
    } catch (error) {
      const guardError =
        error instanceof GuardError ? error : new GuardError('INVALID_IMAGE', { cause: error });
      return {
        kind: 'reject',
        error: guardError,
        file: { field: upload.field, originalname: upload.originalname },
      };
    }
  }

  ctx.armDeadline(route.scanTimeoutMs);
  let scans: FileScan[];
  try {
    scans =
      facts.length === 1 // the common case, without Promise.all's extra hop
        ? [await scanFile(deps, ctx, facts[0] as FileFacts, (uploads[0] as UploadedFile).bytes)]
        : await Promise.all(
            facts.map((file, i) => scanFile(deps, ctx, file, (uploads[i] as UploadedFile).bytes)),
          );
  } finally {
    ctx.disarmDeadline();
  }
  const matches: MatchedFile[] = [];
  let unchecked: FileScan | undefined;
  let aborted = ctx.clientLeft;
  for (const scan of scans) {
    if (scan.outcome === 'match') matches.push(scan as MatchedFile);
    else if (scan.outcome === 'aborted') aborted = true;
    else if (scan.outcome === 'unchecked') unchecked ??= scan;
  }
  // A confirmed match is handled (stored, reported to listeners) even when the uploader has
  // gone: dropping the connection must not be a way to escape evidence capture.
  const matchVerdict =
    matches.length > 0 ? await decideMatches(deps, ctx, route, matches) : undefined;
  if (aborted) return { kind: 'aborted' };
  if (matchVerdict) return matchVerdict;
  if (unchecked) {
    const badFile = scans.find(
      (s) => s.outcome === 'unchecked' && FILE_FAULTS.has((s.error as GuardError).code),
    );
    if (badFile) return { kind: 'reject', error: badFile.error as GuardError, file: badFile.file };
    for (const scan of scans) {
      if (scan.outcome !== 'unchecked') continue;
      const error = scan.error as GuardError;
      deps.events.emit('error', {
        error: underlyingError(error),
        stage: 'scan',
        ...(error.reason ? { reason: error.reason } : {}),
        route: ctx.route,
        file: scan.file,
      });
    }
    if (route.failMode === 'closed') {
      return { kind: 'reject', error: unchecked.error as GuardError, file: unchecked.file };
    }
  }

  const files: ScannedFile[] = [];
  const withheld: number[] = [];
  for (let i = 0; i < scans.length; i++) {
    const scan = scans[i] as FileScan;
    files.push(toScannedFile(scan));
    if (scan.outcome === 'match') withheld.push(i);
  }
  return { kind: 'pass', photodna: { status: overallStatus(matches, unchecked), files }, withheld };
}

/** Applies the policy to the matches; a verdict unless the policy is 'flag' and all went well. */
async function decideMatches(
  deps: ScanDeps,
  ctx: RequestContext,
  route: RouteConfig,
  matches: MatchedFile[],
): Promise<Verdict | undefined> {
  const policy = await withTimeout(
    resolvePolicy(route.policy, ctx).catch((error: unknown) => {
      deps.events.emit('error', { error: toError(error), stage: 'hook', route: ctx.route });
      return 'block' as const; // a broken policy function never lets a match through
    }),
    route.hookTimeoutMs,
    () => {
      deps.events.emit('error', {
        error: new Error(`the policy function did not answer within ${route.hookTimeoutMs} ms`),
        stage: 'hook',
        route: ctx.route,
      });
      return 'block' as const;
    },
  );
  const failure = await handleMatches(deps, ctx, route, policy, matches);
  if (failure) return { kind: 'reject', error: failure };
  if (policy === 'flag') return undefined;
  return {
    kind: 'reject',
    error: new GuardError('UPLOAD_REJECTED', { detail: `matched under policy '${policy}'` }),
  };
}

function overallStatus(matches: MatchedFile[], unchecked: FileScan | undefined): ScanOutcome {
  if (matches.length > 0) return 'match';
  if (unchecked) return 'unchecked';
  return 'clean';
}

/** The per-file record on `req.photodna.files`, its fields written out (no spread). */
function toScannedFile(scan: FileScan): ScannedFile {
  const { file, result } = scan;
  if (result) {
    return {
      field: file.field,
      originalname: file.originalname,
      mimetype: file.mimetype,
      size: file.size,
      width: file.width,
      height: file.height,
      sha256: file.sha256,
      isMatch: result.isMatch,
      trackingId: result.trackingId,
      matchFlags: result.matchFlags,
    };
  }
  return {
    field: file.field,
    originalname: file.originalname,
    mimetype: file.mimetype,
    size: file.size,
    width: file.width,
    height: file.height,
    sha256: file.sha256,
    isMatch: false,
    matchFlags: [],
  };
}
