import { GuardError, underlyingError } from '../errors.js';
import { bodyKindOf } from '../multipart/is-multipart.js';
import { UploadAborted } from '../multipart/parser.js';
import {
  filesOf,
  type MulterFile,
  type MulterTarget,
  reshape,
  withholdFiles,
} from '../multipart/selection.js';
import { emitReject } from './emit-reject.js';
import type { Entry } from './entry.js';
import { Continue, GONE, type Outcome, PASS_THROUGH, Respond } from './outcome.js';
import { rejectionResponse } from './rejection.js';
import { RequestContext } from './request-context.js';
import type { RequestView } from './request-view.js';
import { type ScanDeps, scanRequest } from './scan-request.js';
import { readUpload, removeFromDisk, uploadOf } from './uploads.js';
import type { Verdict } from './verdict.js';

/**
 * The whole decision for one request, whatever the framework: parse (upload entries) or collect
 * the host's files (`scan()`), validate and check them, apply policy and fail mode, and emit
 * every event by the rule of docs/events.md. Adapters only apply the outcome.
 */
export async function decide(deps: ScanDeps, entry: Entry, view: RequestView): Promise<Outcome> {
  const { body } = view;
  if (view.isTaken()) {
    // Another guard scanned it (as `any()`): shape its files for this route's selection.
    if (entry.parser && body) reshape(body, entry.selection);
    return PASS_THROUGH;
  }
  const kind = bodyKindOf(view.headers);
  const hostFiles = entry.parser ? undefined : filesOf(firstWithFiles(view.targets));
  if (kind === 'none' && !hostFiles?.length) return PASS_THROUGH;
  view.take();
  const ctx = new RequestContext(view);
  let files: MulterFile[] = hostFiles ?? [];
  let verdict: Verdict;
  try {
    if (kind === 'unreadable' && files.length === 0) throw unreadableBody();
    if (entry.parser) {
      if (!body) throw new TypeError('an upload entry needs the request body');
      await entry.parser.parse(body, entry.selection);
      files = filesOf(body);
      verdict = await scanRequest(deps, ctx, files.map(uploadOf), entry.route);
    } else {
      if (files.length === 0 && !body?.readableEnded) throw scanBeforeParser(deps, ctx);
      const max = entry.route.limits.maxFileSize;
      const uploads = await Promise.all(files.map((file) => readUpload(file, max)));
      verdict = await scanRequest(deps, ctx, uploads, entry.route);
    }
  } catch (error) {
    if (error instanceof UploadAborted) return GONE;
    if (!(error instanceof GuardError)) {
      await removeFromDisk(deps.events, files);
      throw error;
    }
    verdict = { kind: 'reject', error };
  }
  return settle(deps, entry, view, ctx, verdict, files);
}

/** Applies the verdict to the request's files and turns it into the outcome. */
async function settle(
  deps: ScanDeps,
  entry: Entry,
  view: RequestView,
  ctx: RequestContext,
  verdict: Verdict,
  files: MulterFile[],
): Promise<Outcome> {
  if (verdict.kind === 'pass') {
    // Matched files under 'flag' are withheld: the handler learns of them from `photodna` only.
    const withheld = verdict.withheld.map((i) => files[i] as MulterFile);
    if (withheld.length > 0) {
      withhold(view, withheld);
      await removeFromDisk(deps.events, withheld);
    }
    return new Continue(verdict.photodna, withheld);
  }
  // Every file of a rejected (or abandoned) request is dropped: from disk and from the request.
  withhold(view, files);
  await removeFromDisk(deps.events, files);
  if (verdict.kind === 'aborted') return GONE;
  const { error } = verdict;
  if (deps.events.wants('reject')) emitReject(deps.events, ctx, error, verdict.file);
  const response = rejectionResponse(error, entry.route, (hostError) =>
    deps.events.emit('error', { error: hostError, stage: 'hook', route: ctx.route }),
  );
  return new Respond(error.code, response.status, response.headers, response.body);
}

function withhold(view: RequestView, files: readonly MulterFile[]): void {
  if (files.length === 0) return;
  const set = new Set(files);
  if (view.body) withholdFiles(view.body, set);
  for (const target of view.targets) if (target !== view.body) withholdFiles(target, set);
}

function firstWithFiles(targets: readonly MulterTarget[]): MulterTarget {
  return targets.find((t) => filesOf(t).length > 0) ?? targets[0] ?? {};
}

function unreadableBody(): GuardError {
  return new GuardError('MALFORMED_MULTIPART', {
    detail: 'a multipart Content-Type the parser will not read (malformed parameters or no body)',
  });
}

/**
 * A multipart request reaching `scan()` with no files and an unread body: nobody parsed it yet
 * (`scan()` placed before multer), so files could still be read later. A configuration failure:
 * its `error` event comes first, then the `reject`.
 */
function scanBeforeParser(deps: ScanDeps, ctx: RequestContext): GuardError {
  const error = new GuardError('SCAN_UNAVAILABLE', {
    reason: 'not-configured',
    detail: 'guard.scan() ran before the multipart body was parsed: place it after multer',
  });
  deps.events.emit('error', {
    error: underlyingError(error),
    stage: 'scan',
    reason: 'not-configured',
    route: ctx.route,
  });
  return error;
}
