import { GuardError, toError, underlyingError } from '../errors.js';
import type { GuardEvents, RejectEvent } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { FileFacts, ScannedFile, ScanOutcome } from '../types.js';
import { withTimeout } from './abortable.js';
import { emitReject } from './emit-reject.js';
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
 * The whole decision for one request: validate every file (no call is spent on a request that
 * will be rejected anyway), check them all, then apply the policy and the fail mode.
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
      return reject(deps, ctx, guardError, {
        field: upload.field,
        originalname: upload.originalname,
      });
    }
  }

  const scans = await Promise.all(
    facts.map((file, i) =>
      scanFile(deps, file, (uploads[i] as UploadedFile).bytes, {
        requestSignal: ctx.signal,
        timeoutMs: route.scanTimeoutMs,
        route: ctx.route,
      }),
    ),
  );
  const matches = scans.flatMap((s) => (s.outcome === 'match' ? [s] : []));
  const aborted = ctx.signal.aborted || scans.some((s) => s.outcome === 'aborted');
  // A confirmed match is handled (stored, reported to listeners) even when the uploader has
  // gone: dropping the connection must not be a way to escape evidence capture.
  const matchVerdict =
    matches.length > 0 ? await decideMatches(deps, ctx, route, matches) : undefined;
  if (aborted) return { kind: 'aborted' };
  if (matchVerdict) return matchVerdict;

  const badFile = scans.find((s) => s.outcome === 'unchecked' && FILE_FAULTS.has(s.error.code));
  if (badFile?.outcome === 'unchecked') return reject(deps, ctx, badFile.error, badFile.file);

  const unchecked = scans.flatMap((s) => (s.outcome === 'unchecked' ? [s] : []));
  for (const scan of unchecked) {
    deps.events.emit('error', {
      error: underlyingError(scan.error),
      stage: 'scan',
      ...(scan.error.reason ? { reason: scan.error.reason } : {}),
      route: ctx.route,
      file: scan.file,
    });
  }
  const firstUnchecked = unchecked[0];
  if (firstUnchecked && route.failMode === 'closed')
    return { kind: 'reject', error: firstUnchecked.error };

  return {
    kind: 'pass',
    photodna: { status: overallStatus(scans), files: scans.map(toScannedFile) },
    withheld: scans.flatMap((s, i) => (s.outcome === 'match' ? [i] : [])),
  };
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
  return reject(
    deps,
    ctx,
    new GuardError('UPLOAD_REJECTED', { detail: `matched under policy '${policy}'` }),
  );
}

function reject(
  deps: ScanDeps,
  ctx: RequestContext,
  error: GuardError,
  file?: RejectEvent['file'],
): Verdict {
  emitReject(deps.events, ctx, error, file);
  return { kind: 'reject', error };
}

function overallStatus(scans: FileScan[]): ScanOutcome {
  if (scans.some((s) => s.outcome === 'match')) return 'match';
  if (scans.some((s) => s.outcome === 'unchecked')) return 'unchecked';
  return 'clean';
}

function toScannedFile(scan: FileScan): ScannedFile {
  if (scan.outcome === 'clean' || scan.outcome === 'match') {
    return {
      ...scan.file,
      isMatch: scan.result.isMatch,
      trackingId: scan.result.trackingId,
      matchFlags: scan.result.matchFlags,
    };
  }
  return { ...scan.file, isMatch: false, matchFlags: [] };
}
