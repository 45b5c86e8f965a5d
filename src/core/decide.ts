import { GuardError } from '../errors.js';
import {
  type BodyKind,
  bodyKindOf,
  claimsMultipart,
  isContentCoded,
} from '../multipart/is-multipart.js';
import { UploadAborted } from '../multipart/parser.js';
import { rebuildBody, replayBody } from '../multipart/replay.js';
import {
  filesIn,
  filesOf,
  isMulterFile,
  type MulterFile,
  withholdFiles,
} from '../multipart/selection.js';
import type { RouteConfig } from '../options.js';
import { releaseHeld, withdrawHeld } from './defer.js';
import type { Entry } from './entry.js';
import { reportScanFailure } from './failure-events.js';
import {
  type FieldImage,
  findFieldImagesYielding,
  handOverFieldImages,
  withholdFieldImage,
} from './field-images.js';
import { Continue, GONE, type Outcome, PASS_THROUGH } from './outcome.js';
import { recheck, recordDecision } from './recheck.js';
import { RequestContext } from './request-context.js';
import { type BodyStream, type RequestView, textFieldsOf } from './request-view.js';
import { respondRejected } from './respond-rejected.js';
import { type ScanDeps, scanRequest } from './scan-request.js';
import { BufferedBytes, uploadBudget } from './upload-budget.js';
import { uploadEnded } from './upload-ended.js';
import { handOver, readUpload, removeFromDisk, uploadOf } from './uploads.js';
import type { UploadedFile } from './validate-file.js';
import type { Verdict } from './verdict.js';

/**
 * The whole decision for one request, whatever the framework: parse (upload entries) or collect
 * the host's files (`scan()`), validate and check them, apply policy and fail mode, and emit
 * every event by the rule of docs/events.md. Adapters only apply the outcome.
 */
export async function decide(deps: ScanDeps, entry: Entry, view: RequestView): Promise<Outcome> {
  const { body } = view;
  if (view.isTaken()) {
    if (body && entry.taken.has(body)) {
      mountedTwice(deps);
      return PASS_THROUGH;
    }
    // Another guard scanned it (as `any()`): this route's rules and stricter settings still apply.
    return recheck(deps, entry, view);
  }
  const claims = claimsMultipart(view.headers);
  // A body the host's own parser already read (`multer().any()` before `app.use(guard)`): its
  // files are checked where that parser left them, like `scan()` does.
  const parsed = entry.parser !== undefined && claims && body?.readableEnded === true;
  const parser = parsed ? undefined : entry.parser;
  // Where the guard's parser runs, multer's own test tells 'multipart' from 'unreadable' (the
  // same type-is test, run once), but for a content coding, which multer would read through as
  // if it were none; elsewhere the guard runs its whole test.
  const kind: BodyKind = !claims
    ? 'none'
    : parser && body && !isContentCoded(view.headers)
      ? 'multipart'
      : bodyKindOf(view.headers);
  const hostFiles = parser ? undefined : filesIn(view.targets);
  if (kind === 'none' && !hostFiles?.length) return PASS_THROUGH;
  view.take();
  if (body) entry.taken.add(body);
  const ctx = new RequestContext(view);
  let files: MulterFile[] = hostFiles ?? [];
  // A body that ended before the guard ran was read by the host's parser, or, on HTTP/2, ended
  // by Node when the uploader reset the stream (its compatibility request ends rather than
  // errors, its unread data dropped): then there is nothing to check and nobody to answer, and
  // the files the host's parser saved to disk are deleted, as for any abandoned request.
  if (parsed && ctx.hasLeft()) {
    return refuse(deps, entry, view, ctx, { kind: 'aborted' }, files);
  }
  let uploads: UploadedFile[] = [];
  let fieldImages: FieldImage[] = [];
  let fieldFiles: UploadedFile[] = [];
  let verdict: Verdict;
  // The body as the guard's parser reads it, or the host's disk files as the guard reads them;
  // and the copies it makes of them (sanitized files, images decoded from text fields).
  const { maxBufferedBytes } = entry.route.limits;
  const counted = new BufferedBytes(uploadBudget, maxBufferedBytes, entry.mostBuffered);
  try {
    if (kind === 'unreadable' && files.length === 0) throw unreadableBody();
    if (!files.every(isMulterFile)) throw foreignFiles(deps, ctx);
    if (parser) {
      if (!body) throw bodyReadBefore(deps, ctx);
      const parsing = parser.parse(body, entry.selection, counted);
      if (!parsing) throw unreadableBody(); // multer would not read it: never "no files"
      await parsing;
      // Both properties, not only the one this selection's multer writes: a file a middleware put
      // on the other one before the guard would reach the handler, and the replayed body, unchecked.
      files = filesOf(body);
      uploads = files.map(uploadOf);
    } else {
      if (holdsRawBody(view)) throw rawBodyBefore(deps, ctx);
      if (files.length === 0 && !body?.readableEnded) throw scanBeforeParser(deps, ctx);
      const { maxFiles, maxFileSize } = entry.route.limits;
      // The host's parser may allow more (multer's default is no limit): all are read at once.
      if (files.length > maxFiles) {
        throw new GuardError('LIMIT_EXCEEDED', {
          detail: `${files.length} files from the host's parser, limit ${maxFiles}`,
        });
      }
      uploads = await readHostFiles(deps, ctx, files, maxFileSize, counted);
    }
    const searching = findFieldImagesYielding(textFieldsOf(view), entry.fieldValueBudget, counted);
    if (searching instanceof Promise) {
      fieldImages = await searching;
      // The search gave the event loop back: the uploader may have gone meanwhile.
      if (ctx.hasLeft()) throw new UploadAborted();
    } else fieldImages = searching;
    fieldFiles = fieldUploads(fieldImages, entry.route, uploads.length);
    const checked = fieldFiles.length > 0 ? [...uploads, ...fieldFiles] : uploads;
    verdict = await scanRequest(deps, ctx, checked, entry.route, counted);
    if (verdict.kind === 'pass' && fieldImages.length > 0) {
      handOverFieldImages(fieldImages, fieldFiles, verdict.photodna.files.slice(uploads.length));
    }
  } catch (error) {
    // Nobody to answer; files a host's parser saved to disk are deleted all the same.
    if (error instanceof UploadAborted)
      return refuse(deps, entry, view, ctx, { kind: 'aborted' }, files);
    if (!(error instanceof GuardError)) {
      withdrawHeld(ctx);
      await removeFromDisk(deps.events, files);
      throw error;
    }
    verdict = { kind: 'reject', error };
  } finally {
    // Decided (the handler owns the buffers now), refused, or the uploader left: every way out.
    counted.release();
  }
  const settled = settle(deps, entry, view, ctx, verdict, files, uploads, fieldImages);
  const outcome = settled instanceof Promise ? await settled : settled;
  // `app.use(guard)`: the body made readable again for the host's own parser. Only a Node
  // request is read again by the app's parsers (its view can take an unread replay back); a Web
  // `Request` gets the scanned form instead.
  if (outcome.kind === 'continue' && entry.replays && view.whenAnswered && body) {
    replay(view, body);
  }
  return outcome;
}

/**
 * Refuses a request whose body the host's own parser failed to read (Fastify `'scan'` mode:
 * `saveRequestFiles()` run by the guard), or that reached a route the guard was not wired on:
 * answered and announced like any rejection, a configuration fault with its `error` event first
 * (and its setup warning), as `scan()` before the parser is. `UploadAborted`: the uploader left
 * (or its body stalled) as that parser read it, and is given up on as where the guard parses.
 */
export function refuseUnread(
  deps: ScanDeps,
  entry: Entry,
  view: RequestView,
  error: GuardError | UploadAborted,
): Promise<Outcome> {
  view.take();
  const ctx = new RequestContext(view);
  if (error instanceof UploadAborted)
    return refuse(deps, entry, view, ctx, { kind: 'aborted' }, []);
  if (error.reason === 'not-configured') reportScanFailure(deps.events, ctx, error);
  return refuse(deps, entry, view, ctx, { kind: 'reject', error }, []);
}

/**
 * The body made readable again for the host's parsers, rebuilt from what was checked: the text
 * fields and the files the handler may see, never the raw bytes. Another parser may read raw
 * bytes differently from the guard's (busboy skips a part whose disposition is not `form-data`,
 * formidable reads it as a file): only a body made of checked parts cannot carry an unchecked one.
 */
function replay(view: RequestView, body: BodyStream): void {
  const target = body as Parameters<typeof replayBody>[0];
  const chunks = rebuildBody(target, (body.body ?? {}) as Record<string, unknown>, filesOf(body));
  const replayed = replayBody(
    target,
    chunks,
    view.targets.filter((t) => t !== body),
  );
  view.whenAnswered?.(() => replayed.withdraw());
}

/**
 * Images in text fields, checked like files (issue 11) or refused under `imageFields: 'reject'`.
 * Their bytes cannot be cut in the handler's string, so trailing data is refused, not stripped.
 */
function fieldUploads(
  images: readonly FieldImage[],
  route: RouteConfig,
  files: number,
): UploadedFile[] {
  const [first] = images;
  if (!first) return [];
  const mangled = images.find((image) => image.bytes === undefined);
  if (mangled && route.imageFields !== 'reject') {
    throw new GuardError('INVALID_IMAGE', {
      detail: `the text field '${mangled.path}' holds an image its charset mangled: it cannot be checked`,
    });
  }
  if (route.imageFields === 'reject') {
    throw new GuardError('UNSUPPORTED_MEDIA_TYPE', {
      detail: `an image in the text field '${first.path}' (imageFields: 'reject')`,
    });
  }
  // Each is one more call to the service: together with the files, no more than `maxFiles`.
  const { maxFiles } = route.limits;
  if (files + images.length > maxFiles) {
    throw new GuardError('LIMIT_EXCEEDED', {
      detail: `${files} files and ${images.length} images in text fields, limit ${maxFiles}`,
    });
  }
  const trailingData = route.trailingData === 'keep' ? 'keep' : 'reject';
  return images.map((image) => ({
    field: image.path,
    originalname: '',
    bytes: image.bytes as Buffer,
    trailingData,
  }));
}

/**
 * Applies the verdict to the request's files and turns it into the outcome: at once for a passing
 * request in memory (no promise), after the disk work otherwise.
 */
function settle(
  deps: ScanDeps,
  entry: Entry,
  view: RequestView,
  ctx: RequestContext,
  verdict: Verdict,
  files: MulterFile[],
  uploads: readonly UploadedFile[],
  fieldImages: readonly FieldImage[],
): Outcome | Promise<Outcome> {
  if (verdict.kind !== 'pass') return refuse(deps, entry, view, ctx, verdict, files);
  // The handler gets what was checked: the sniffed type, the bytes as checked.
  const writing = handOver(files, uploads, verdict.photodna.files);
  // Matched files under 'flag' are withheld: the handler learns of them from `photodna` only.
  const withheld: MulterFile[] = [];
  for (const i of verdict.withheld) {
    if (i < files.length) withheld.push(files[i] as MulterFile);
    else {
      const image = fieldImages[i - files.length];
      if (image) withholdFieldImage(image);
    }
  }
  if (withheld.length > 0) withhold(view, withheld);
  const removing = withheld.length > 0 ? removeFromDisk(deps.events, withheld) : undefined;
  const outcome = new Continue(verdict.photodna, withheld);
  // Recorded once the files are what was checked: if a disk write fails, the request was not
  // passed, and nothing (an error handler reading `req.photodna`) may read it as passed.
  const held = ctx.held;
  if (!writing && !removing && !held) {
    recordDecision(view.body, entry.route, verdict.photodna, verdict.flagged);
    return outcome;
  }
  return Promise.all([writing, removing]).then(
    async () => {
      // Its queued files run once it passed for good, and before the handler answers with their
      // `scanId`s; a queue that cannot release them refuses it (503), as one that cannot take them.
      const unreleased = held && (await releaseHeld(deps.events, ctx, entry.route, held));
      if (unreleased) {
        return refuse(deps, entry, view, ctx, { kind: 'reject', error: unreleased }, files);
      }
      recordDecision(view.body, entry.route, verdict.photodna, verdict.flagged);
      return outcome;
    },
    async (error: unknown) => {
      withdrawHeld(ctx);
      // A disk file not rewritten to the checked bytes still holds what was not checked.
      await removeFromDisk(deps.events, files);
      throw error;
    },
  );
}

/**
 * Every file of a rejected (or abandoned) request is dropped: from disk and from the request. An
 * abandoned one gets no answer and no event, but is told to the metrics (`upload-ended.ts`).
 */
async function refuse(
  deps: ScanDeps,
  entry: Entry,
  view: RequestView,
  ctx: RequestContext,
  verdict: Exclude<Verdict, { kind: 'pass' }>,
  files: MulterFile[],
): Promise<Outcome> {
  // Files it queued (deferred, or unchecked under failMode 'open') never run: no `scanId` of a
  // refused request is ever answered, so none may be scanned, quarantined or announced.
  withdrawHeld(ctx);
  withhold(view, files);
  await removeFromDisk(deps.events, files);
  if (verdict.kind === 'aborted') {
    uploadEnded(deps.logger, deps.events, ctx, view.body);
    return GONE;
  }
  const { error } = verdict;
  return respondRejected(deps.events, entry.route, ctx, error, verdict.file);
}

function withhold(view: RequestView, files: readonly MulterFile[]): void {
  if (files.length === 0) return;
  const set = new Set(files);
  if (view.body) withholdFiles(view.body, set);
  for (const target of view.targets) if (target !== view.body) withholdFiles(target, set);
}

/**
 * Said in words for every adapter: the core does not know which one runs it, and the fetch
 * adapter's `check` (called twice on one request) is not mounted anywhere.
 */
function mountedTwice(deps: ScanDeps): void {
  deps.events.warnings.warn(
    'PHOTODNA_GUARD_MOUNTED_TWICE',
    'the same guard ran twice on one request: it is mounted twice (app.use(guard) and again on the route, or on a router and its app) or, with the fetch adapter, guard.check(request) is called twice for one request. Remove one; the second checks nothing and answers as the first did.',
  );
}

/**
 * The host parser's files, read: one its storage left where the guard will not read it (a
 * symlink, a FIFO) is a configuration failure, its `error` event first, as for foreign files.
 * What is read from disk counts in `counted` until the decision; the file that would take the
 * process past `maxBufferedBytes` refuses the request (`SCAN_BUSY`) before it is read, and the
 * refusal then deletes the host's files as any other does.
 */
async function readHostFiles(
  deps: ScanDeps,
  ctx: RequestContext,
  files: readonly MulterFile[],
  maxFileSize: number,
  counted: BufferedBytes,
): Promise<UploadedFile[]> {
  const onAllocate = (bytes: number) => counted.addRead(bytes);
  try {
    return await Promise.all(files.map((file) => readUpload(file, maxFileSize, onAllocate)));
  } catch (error) {
    if (error instanceof GuardError && error.reason === 'not-configured') {
      reportScanFailure(deps.events, ctx, error);
    }
    throw error;
  }
}

function unreadableBody(): GuardError {
  return new GuardError('MALFORMED_MULTIPART', {
    detail:
      'a multipart body the parser will not read (malformed Content-Type parameters, a Content-Encoding, or no body)',
  });
}

/**
 * A multipart body that something read before the guard's parser could (a Web `Request`'s
 * `formData()`, Hono's `c.req.parseBody()` in an earlier middleware): nothing can be checked, so
 * it fails closed as a configuration failure, its `error` event first.
 */
function bodyReadBefore(deps: ScanDeps, ctx: RequestContext): GuardError {
  return configurationError(
    deps,
    ctx,
    'the multipart body was read before the guard (request.formData(), c.req.parseBody() or another parser ahead of it): mount the guard first',
  );
}

/**
 * Files a parser before the guard left in a shape it cannot read (formidable's, as koa-body and
 * express-formidable leave them): failing closed, with what to change, rather than a 422 on
 * every upload.
 */
function foreignFiles(deps: ScanDeps, ctx: RequestContext): GuardError {
  return configurationError(
    deps,
    ctx,
    'the files were parsed before the guard by a parser whose file objects it cannot read (not multer: e.g. formidable, koa-body): mount the guard before that parser, or parse with multer / @koa/multer',
  );
}

/**
 * Whether a parser before the guard kept the multipart body as raw bytes: `req.body` from
 * `express.raw()` / `express.text()`, or a `rawBody` (Cloud Functions, koa-bodyparser). Its files
 * are nowhere the guard looks, and the handler may parse them from there.
 */
function holdsRawBody(view: RequestView): boolean {
  const holders: readonly object[] = view.body ? [view.body, ...view.targets] : view.targets;
  // `body` of the request only: Koa's `ctx.body` is the response's.
  return (
    isRaw(view.body?.body) ||
    holders.some((holder) => isRaw((holder as { rawBody?: unknown }).rawBody))
  );
}

function isRaw(value: unknown): boolean {
  return typeof value === 'string' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/**
 * A multipart body another parser read as raw bytes before the guard: nothing can be checked
 * (and walking a Buffer's indexes for text fields cost seconds and a gigabyte), so it fails
 * closed as a configuration failure, its `error` event first.
 */
function rawBodyBefore(deps: ScanDeps, ctx: RequestContext): GuardError {
  return configurationError(
    deps,
    ctx,
    'the multipart body was read before the guard as raw bytes (req.body from express.raw() or express.text(), or a rawBody): mount the guard before that parser, or keep that parser to the routes that need raw bytes',
  );
}

/**
 * A multipart request reaching `scan()` with no files and an unread body: nobody parsed it yet
 * (`scan()` placed before multer), so files could still be read later. A configuration failure:
 * its `error` event comes first, then the `reject`.
 */
function scanBeforeParser(deps: ScanDeps, ctx: RequestContext): GuardError {
  return configurationError(
    deps,
    ctx,
    'guard.scan() ran before the multipart body was parsed: place it after multer',
  );
}

function configurationError(deps: ScanDeps, ctx: RequestContext, detail: string): GuardError {
  const error = new GuardError('SCAN_UNAVAILABLE', { reason: 'not-configured', detail });
  reportScanFailure(deps.events, ctx, error);
  return error;
}
