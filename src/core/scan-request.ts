import { GuardError } from '../errors.js';
import type { GuardEvents } from '../events.js';
import type { RouteConfig } from '../options.js';
import type { ScanQueue } from '../queue/types.js';
import type { FileFacts, Logger, RequestStatus, ScannedFile } from '../types.js';
import { deferModeOf, enqueueFile, requestPolicy } from './defer.js';
import { reportScanFailure } from './failure-events.js';
import { handleMatches, type MatchedFile } from './handle-matches.js';
import type { ReportingDeps } from './match-event.js';
import { boundedPolicy } from './policy.js';
import type { RequestContext } from './request-context.js';
import { sanitizeUploads } from './sanitize.js';
import { type FileScan, type ScanFileDeps, scanFile } from './scan-file.js';
import type { BufferedBytes } from './upload-budget.js';
import { type UploadedFile, validateByFileType, validateKnownFile } from './validate-file.js';
import type { Verdict } from './verdict.js';

export type ScanDeps = ScanFileDeps &
  ReportingDeps & {
    events: GuardEvents;
    queue?: ScanQueue | undefined;
    /** The guard's logger, for what is logged with no event (a stalled upload body). */
    logger?: Logger | undefined;
  };

/** Answers from the service that mean the file itself is bad, whatever the fail mode. */
const FILE_FAULTS = new Set(['INVALID_IMAGE', 'IMAGE_TOO_SMALL', 'FILE_TOO_LARGE']);

/** A file the service could not answer, as opposed to one it refused as bad (`FILE_FAULTS`). */
function serviceFailed(scan: FileScan): boolean {
  return scan.outcome === 'unchecked' && !FILE_FAULTS.has((scan.error as GuardError).code);
}

/** A file the service refused as bad (3206/3208): the upload's fault, whatever the fail mode. */
function refusedAsBad(scan: FileScan): boolean {
  return scan.outcome === 'unchecked' && FILE_FAULTS.has((scan.error as GuardError).code);
}

/**
 * The verdict on a request's files: validate every file (no call is spent on a request that
 * will be rejected anyway), sanitize them (each copy counted in `counted`, the request's bytes in
 * the memory budget), check them all within one deadline, then apply the policy and the fail
 * mode. Emits `scan`, `match`, `quarantine` and the `error` events of failures; the `reject`
 * event is `decide`'s (docs/events.md).
 */
export async function scanRequest(
  deps: ScanDeps,
  ctx: RequestContext,
  uploads: UploadedFile[],
  route: RouteConfig,
  counted: Pick<BufferedBytes, 'addCopy'>,
): Promise<Verdict> {
  const facts: FileFacts[] = [];
  for (const upload of uploads) {
    try {
      // The common types without a promise; the rest through file-type.
      const known = validateKnownFile(upload, route.limits, route.trailingData);
      facts.push(known ?? (await validateByFileType(upload, route.limits, route.trailingData)));
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

  // Only valid files are sanitized: the checked bytes and facts replace the uploaded ones.
  if (route.sanitize !== 'none') {
    const refused = await sanitizeUploads(uploads, facts, route, ctx, counted);
    if (refused) {
      // sharp failing to load, or the re-encodes' pixel budget held too long, is not the
      // upload's failure: said first. (A copy past `maxBufferedBytes` is answered as the
      // parser's refusal past it is, by its `reject` only.)
      const error = refused.kind === 'reject' ? refused.error : undefined;
      if (
        error &&
        (error.code === 'SCAN_UNAVAILABLE' ||
          (error.code === 'SCAN_BUSY' && error.reason === 'queue-full'))
      ) {
        reportScanFailure(deps.events, ctx, error);
      }
      return refused;
    }
  }

  const deferMode = deferModeOf(route, deps.queue);
  if (deferMode === 'always') return deferAll(deps, ctx, route, uploads, facts);

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
  // Nothing unchecked is forgotten: with a queue, a file the service could not answer is queued
  // (under failMode 'open', and for a full rate-limiter queue under defer 'overflow').
  const queued =
    deps.queue && !ctx.clientLeft
      ? await queueUnchecked(deps, ctx, route, scans, uploads, deferMode)
      : undefined;
  const pending = queued?.pending;
  const matches: MatchedFile[] = [];
  let unchecked: FileScan | undefined;
  let aborted = ctx.clientLeft;
  for (let i = 0; i < scans.length; i++) {
    const scan = scans[i] as FileScan;
    if (scan.outcome === 'match') matches.push(withOriginal(scan, uploads[i] as UploadedFile));
    else if (scan.outcome === 'aborted') aborted = true;
    else if (scan.outcome === 'unchecked' && !pending?.has(scan)) unchecked ??= scan;
  }
  // Every file the service could not answer is reported, whatever else the request comes to (a
  // match, a file the service refused), unless nobody is waiting for an answer.
  if (unchecked && !aborted) reportUnchecked(deps, ctx, scans, pending);
  // A confirmed match is handled (stored, reported to listeners) even when the uploader has
  // gone: dropping the connection must not be a way to escape evidence capture.
  const matchVerdict =
    matches.length > 0 ? await decideMatches(deps, ctx, route, matches) : undefined;
  // Also when the uploader left while the match was stored or its hooks ran: nobody to answer.
  if (aborted || ctx.clientLeft) return { kind: 'aborted' };
  if (matchVerdict) return matchVerdict;
  if (unchecked) {
    const refused = uncheckedVerdict(route, scans, unchecked);
    if (refused) return refused;
  }

  const files: ScannedFile[] = [];
  const withheld: number[] = [];
  for (let i = 0; i < scans.length; i++) {
    const scan = scans[i] as FileScan;
    files.push(toScannedFile(scan.file, scan.result, queued?.scanIds.get(scan)));
    if (scan.outcome === 'match') withheld.push(i);
  }
  const status = overallStatus(matches, unchecked, (pending?.size ?? 0) > 0);
  return { kind: 'pass', photodna: { status, files }, withheld, flagged: matches };
}

/** Files the service could not answer, queued where the route allows it (a queue is configured). */
async function queueUnchecked(
  deps: ScanDeps,
  ctx: RequestContext,
  route: RouteConfig,
  scans: readonly FileScan[],
  uploads: readonly UploadedFile[],
  deferMode: ReturnType<typeof deferModeOf>,
): Promise<{ scanIds: Map<FileScan, string>; pending: Set<FileScan> }> {
  const queue = deps.queue as ScanQueue;
  const policyOf = requestPolicy(deps.events, route, ctx);
  const scanIds = new Map<FileScan, string>();
  const pending = new Set<FileScan>();
  for (let i = 0; i < scans.length; i++) {
    const scan = scans[i] as FileScan;
    if (!serviceFailed(scan)) continue;
    const overflow = scan.error?.code === 'SCAN_BUSY' && deferMode === 'overflow';
    if (!overflow && route.failMode !== 'open') continue;
    const bytes = (uploads[i] as UploadedFile).bytes;
    try {
      const policy = await policyOf();
      scanIds.set(
        scan,
        await enqueueFile({ ...deps, queue }, ctx, route, policy, scan.file, bytes),
      );
      if (overflow) pending.add(scan);
    } catch {
      // Reported as an `error` event; the file stays unchecked.
    }
  }
  return { scanIds, pending };
}

/**
 * One `error` event per file the service could not answer (a file it refused as invalid is the
 * upload's fault, not a failure; a file queued for later is not unchecked).
 */
function reportUnchecked(
  deps: ScanDeps,
  ctx: RequestContext,
  scans: readonly FileScan[],
  pending: ReadonlySet<FileScan> | undefined,
): void {
  for (const scan of scans) {
    if (!serviceFailed(scan) || pending?.has(scan)) continue;
    reportScanFailure(deps.events, ctx, scan.error as GuardError, scan.file);
  }
}

/**
 * Unchecked files (none queued for later, each reported): a bad file is refused whatever the
 * fail mode; the others are refused unless the route fails open.
 */
function uncheckedVerdict(
  route: RouteConfig,
  scans: readonly FileScan[],
  unchecked: FileScan,
): Verdict | undefined {
  const badFile = scans.find(refusedAsBad);
  if (badFile) return { kind: 'reject', error: badFile.error as GuardError, file: badFile.file };
  // 'open' covers outages of the service, not our own full queue (an uploader can fill it),
  // unless the host opted in with `openOnBusy`.
  const busy = scans.find((s) => s.outcome === 'unchecked' && s.error?.code === 'SCAN_BUSY');
  if (busy && !route.openOnBusy) {
    return { kind: 'reject', error: busy.error as GuardError, file: busy.file };
  }
  if (route.failMode === 'closed') {
    return { kind: 'reject', error: unchecked.error as GuardError, file: unchecked.file };
  }
  return undefined;
}

/** `defer: true`: every validated file is queued; the request passes at once as 'pending'. */
async function deferAll(
  deps: ScanDeps,
  ctx: RequestContext,
  route: RouteConfig,
  uploads: UploadedFile[],
  facts: FileFacts[],
): Promise<Verdict> {
  const queue = deps.queue as ScanQueue;
  const policyOf = requestPolicy(deps.events, route, ctx);
  const files: ScannedFile[] = [];
  let failed: GuardError | undefined;
  for (const [i, file] of facts.entries()) {
    const bytes = (uploads[i] as UploadedFile).bytes;
    try {
      files.push(
        toScannedFile(
          file,
          undefined,
          await enqueueFile({ ...deps, queue }, ctx, route, await policyOf(), file, bytes),
        ),
      );
    } catch (error) {
      failed ??= error as GuardError;
      files.push(toScannedFile(file, undefined, undefined));
    }
  }
  if (failed && route.failMode === 'closed') return { kind: 'reject', error: failed };
  return {
    kind: 'pass',
    photodna: { status: failed ? 'unchecked' : 'pending', files },
    withheld: [],
    flagged: [],
  };
}

/** Applies the policy to the matches; a verdict unless the policy is 'flag' and all went well. */
async function decideMatches(
  deps: ScanDeps,
  ctx: RequestContext,
  route: RouteConfig,
  matches: MatchedFile[],
): Promise<Verdict | undefined> {
  const policy = await boundedPolicy(deps.events, route, ctx);
  const failure = await handleMatches(deps, ctx, route, policy, matches);
  if (failure) return { kind: 'reject', error: failure };
  if (policy === 'flag') return undefined;
  return {
    kind: 'reject',
    error: new GuardError('UPLOAD_REJECTED', { detail: `matched under policy '${policy}'` }),
  };
}

/** A match; its quarantine evidence is the upload as validated before `sanitize` changed it. */
function withOriginal(scan: FileScan, upload: UploadedFile): MatchedFile {
  const match = scan as MatchedFile;
  return upload.original ? { ...match, original: upload.original } : match;
}

function overallStatus(
  matches: MatchedFile[],
  unchecked: FileScan | undefined,
  pending: boolean,
): RequestStatus {
  if (matches.length > 0) return 'match';
  if (unchecked) return 'unchecked';
  if (pending) return 'pending';
  return 'clean';
}

/** The per-file record on `req.photodna.files`, its fields written out (no spread). */
function toScannedFile(
  file: FileFacts,
  result: FileScan['result'],
  scanId: string | undefined,
): ScannedFile {
  const scanned: ScannedFile = {
    field: file.field,
    originalname: file.originalname,
    mimetype: file.mimetype,
    size: file.size,
    width: file.width,
    height: file.height,
    sha256: file.sha256,
    isMatch: result ? result.isMatch : false,
    matchFlags: result ? result.matchFlags : [],
  };
  if (result) scanned.trackingId = result.trackingId;
  if (scanId !== undefined) scanned.scanId = scanId;
  // The PDQ facts, when a PDQ back end hashed the file (also when another back end failed).
  if (file.pdq) scanned.pdq = file.pdq;
  return scanned;
}
