import type { Readable, Writable } from 'node:stream';
import multer from 'multer';
import { GuardError } from '../errors.js';
import type { Limits } from '../options.js';
import { IdleBody } from './idle-body.js';
import type { Selection } from './selection.js';

/** The uploader went away mid-body: there is nobody to answer. */
export class UploadAborted extends Error {
  constructor(cause?: unknown) {
    super('the upload was aborted by the client', cause === undefined ? {} : { cause });
    this.name = 'UploadAborted';
  }
}

const LIMIT_CODES = new Set([
  'LIMIT_PART_COUNT',
  'LIMIT_FILE_COUNT',
  'LIMIT_FIELD_KEY',
  'LIMIT_FIELD_VALUE',
  'LIMIT_FIELD_COUNT',
  'LIMIT_UNEXPECTED_FILE',
  'LIMIT_FIELD_NESTING',
  'LIMIT_FIELD_ARRAY_INDEX',
]);

/**
 * Sees the body from the moment it is piped into multer's busboy (the core's `BufferedBytes`
 * counts it, and may stop the parse by destroying `parser` with a `GuardError`).
 */
export interface BodyWatcher {
  watch(body: Readable, parser: Writable): void;
}

/** What multer reads: a body stream with the request's headers (`complete` when Node's request). */
type ParseSource = Readable & {
  headers: Record<string, unknown>;
  complete?: boolean;
  body?: unknown;
};

/**
 * The guard's limits as multer's options: every count and size finite. Checked against multer's
 * type, not declared as it, so this package's declarations never import `multer` (which has no
 * types of its own: a user without `@types/multer` would get TS7016).
 */
export function multerLimits(limits: Limits) {
  return {
    fileSize: limits.maxFileSize,
    files: limits.maxFiles,
    fields: limits.maxFields,
    fieldSize: limits.maxFieldSize,
    fieldNameSize: limits.maxFieldNameSize,
    parts: limits.maxParts,
    fieldNestingDepth: limits.maxFieldDepth,
    fieldArrayIndexLimit: limits.maxArrayIndex,
  } satisfies multer.Options['limits'];
}

const ABORT_MESSAGES = new Set(['Request aborted', 'Request closed']);

/**
 * multer with memory storage and finite limits taken from the guard's options. One parser per
 * route configuration, created up front; `parse` runs it on a raw Node request.
 */
export class MultipartParser {
  readonly #multer: multer.Multer;
  /** One multer middleware per selection, built on first use rather than per request. */
  readonly #middlewares = new WeakMap<Selection, ReturnType<MultipartParser['buildMiddleware']>>();
  /**
   * The watcher of the request being started: multer calls `streamHandler` within the middleware
   * call (after its own listeners, before any chunk flows), so it is set around that call only.
   */
  #starting: BodyWatcher | undefined = undefined;
  /** The idle timer of the body `streamHandler` just started reading, taken by `parse`. */
  #started: IdleBody | undefined = undefined;
  readonly #idleMs: number;

  constructor(limits: Limits) {
    this.#idleMs = limits.bodyIdleMs;
    // multer 2.5's `streamHandler` (not in @types/multer): the body piped into busboy as by
    // default, counted in the process's budget of buffered bytes (`upload-budget.ts`), and ended
    // if it stalls (`idle-body.ts`). Listeners added after `pipe`, which set the stream flowing.
    const options: multer.Options & {
      streamHandler: (req: Readable, busboy: Writable) => void;
    } = {
      storage: multer.memoryStorage(),
      limits: multerLimits(limits),
      streamHandler: (req, busboy) => {
        req.pipe(busboy);
        this.#starting?.watch(req, busboy);
        this.#started = new IdleBody(req, this.#idleMs);
      },
    };
    this.#multer = multer(options);
  }

  /**
   * Parses a request-like body stream (a readable with `headers`, such as Node's request) into
   * its `body` and `file(s)` properties; rejects with a `GuardError` or `UploadAborted`.
   * `counted` (the guard's `BufferedBytes`) sees the body as it is read, and may stop the parse.
   * A body that delivers no bytes for `limits.bodyIdleMs` meanwhile is destroyed (`IdleBody`):
   * the parse then rejects with `UploadAborted`, as for an uploader who left.
   *
   * Undefined when multer does not take the body: its own test of the request (type-is: a body,
   * and a `Content-Type` that parses as `multipart/*`) refused it, and nothing was read. Known at
   * once, before any chunk flows; the guard then need not run the same test before (issue 16).
   */
  parse(req: ParseSource, selection: Selection, counted?: BodyWatcher): Promise<void> | undefined {
    // A stream destroyed before multer's listeners exist (the uploader left while a middleware
    // ahead of the guard ran) never ends or errors again: multer would wait on it forever.
    if (req.destroyed) return Promise.reject(new UploadAborted());
    let middleware = this.#middlewares.get(selection);
    if (!middleware) {
      middleware = this.buildMiddleware(selection);
      this.#middlewares.set(selection, middleware);
    }
    // multer refuses a body by calling `next()` before it returns; a body it takes ends only
    // after stream events, never within the call. (No `req.body` compared before and after:
    // each property read of an Express request is a slow lookup, bench/README.md.)
    let calling = true;
    let refused = false;
    let idle: IdleBody | undefined;
    this.#starting = counted;
    const parsing = new Promise<void>((resolve, reject) => {
      middleware(req as never, undefined as never, (error?: unknown) => {
        // Done reading: multer may settle before the body ends (bytes after the closing
        // boundary, drained unread), and the check that follows is no idle body.
        idle?.stop();
        if (error !== undefined && error !== null) reject(classify(error, req));
        else if (calling) refused = true;
        else resolve();
      });
    });
    this.#starting = undefined;
    idle = this.#started;
    this.#started = undefined;
    calling = false;
    return refused ? undefined : parsing;
  }

  private buildMiddleware(selection: Selection) {
    switch (selection.kind) {
      case 'any':
        return this.#multer.any();
      case 'none':
        return this.#multer.none();
      case 'single':
        return this.#multer.single(selection.field);
      case 'array':
        return this.#multer.array(selection.field, selection.maxCount);
      case 'fields':
        return this.#multer.fields([...selection.fields]);
    }
  }
}

/** Whether the uploader went away before the whole body arrived (stream destroyed unfinished). */
export function clientLeft(req: Readable & { complete?: boolean }): boolean {
  return req.destroyed && !(req.complete ?? req.readableEnded);
}

function classify(error: unknown, req: ParseSource): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (ABORT_MESSAGES.has(message) || clientLeft(req)) return new UploadAborted(error);
  if (error instanceof GuardError) return error; // a `BodyWatcher` stopped it (the budget)
  const code = (error as { code?: unknown }).code;
  if (error instanceof multer.MulterError) {
    if (code === 'LIMIT_FILE_SIZE') {
      return new GuardError('FILE_TOO_LARGE', {
        detail: `field '${error.field ?? ''}'`,
        cause: error,
      });
    }
    if (typeof code === 'string' && LIMIT_CODES.has(code)) {
      // The field, for `LIMIT_UNEXPECTED_FILE` ("Unexpected file field"): `guard.single('a')` while
      // the form sends 'b' is told by name, as a route guard behind a global one tells it.
      const field = error.field === undefined ? '' : ` (field '${error.field}')`;
      return new GuardError('LIMIT_EXCEEDED', {
        detail: `${code}: ${message}${field}`,
        cause: error,
      });
    }
  }
  return new GuardError('MALFORMED_MULTIPART', { detail: message, cause: error });
}
