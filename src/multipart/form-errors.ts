import { GuardError } from '../errors.js';

/** The uploader went away mid-body: there is nobody to answer. */
export class UploadAborted extends Error {
  constructor(cause?: unknown) {
    super('the upload was aborted by the client', cause === undefined ? {} : { cause });
    this.name = 'UploadAborted';
  }
}

/**
 * Why a form is refused, with multer's codes and words: the guard parsed with multer before its
 * own parser, and its answers' details (`LIMIT_FILE_COUNT: Too many files`) are what hosts and
 * their logs know, so they stay as they were.
 */
const REFUSALS = {
  LIMIT_PART_COUNT: 'Too many parts',
  LIMIT_FILE_SIZE: 'File too large',
  LIMIT_FILE_COUNT: 'Too many files',
  LIMIT_FIELD_KEY: 'Field name too long',
  LIMIT_FIELD_VALUE: 'Field value too long',
  LIMIT_FIELD_COUNT: 'Too many fields',
  LIMIT_UNEXPECTED_FILE: 'Unexpected file field',
  LIMIT_FIELD_NESTING: 'Field name nesting too deep',
  LIMIT_FIELD_ARRAY_INDEX: 'Field name array index too large',
  MISSING_FIELD_NAME: 'Field name missing',
  INVALID_FIELD_NAME: 'Invalid field name',
} as const;

export type RefusalCode = keyof typeof REFUSALS;

/**
 * The guard's error for a form refused by `code`: 413 `FILE_TOO_LARGE` for a file over
 * `maxFileSize`, 413 `LIMIT_EXCEEDED` for the other limits (the field named, so `guard.single('a')`
 * meeting a file in 'b' says which), 400 `MALFORMED_MULTIPART` for a name the form cannot have.
 */
export function formRefused(code: RefusalCode, field?: string): GuardError {
  const message = REFUSALS[code];
  if (code === 'LIMIT_FILE_SIZE')
    return new GuardError('FILE_TOO_LARGE', { detail: `field '${field ?? ''}'` });
  if (code === 'MISSING_FIELD_NAME' || code === 'INVALID_FIELD_NAME') {
    return new GuardError('MALFORMED_MULTIPART', { detail: message });
  }
  const named = field ? ` (field '${field}')` : '';
  return new GuardError('LIMIT_EXCEEDED', { detail: `${code}: ${message}${named}` });
}

/** What `clientLeft` reads of a body stream (Node's requests have `complete` and `aborted`). */
interface BodyState {
  destroyed: boolean;
  complete?: boolean;
  readableEnded: boolean;
  aborted?: boolean;
}

/**
 * Whether the uploader went away before the whole body arrived: the stream destroyed unfinished,
 * or aborted. The second for HTTP/2: a stream the client reset (or the guard cancelled, its body
 * stalled) leaves Node's compatibility request `complete` and ended, not destroyed, with only
 * `aborted` set; a refused body drained until then must not be answered as refused.
 */
export function clientLeft(body: BodyState): boolean {
  return (body.destroyed && !(body.complete ?? body.readableEnded)) || body.aborted === true;
}

/** The words a failed request body gives (`FormRead`): the uploader left rather than erred. */
export const REQUEST_ABORTED = 'Request aborted';
export const REQUEST_CLOSED = 'Request closed';

/**
 * What a failed parse means: the uploader leaving (the body closed unfinished: whatever else
 * went wrong, nobody is left to answer), a refusal or the guard's own stop (`maxBufferedBytes`:
 * already a `GuardError`), or a body busboy cannot read (400 `MALFORMED_MULTIPART` with busboy's words: "Unexpected end of form").
 */
export function classifyFailure(error: unknown, body: BodyState): GuardError | UploadAborted {
  const message = error instanceof Error ? error.message : String(error);
  if (message === REQUEST_ABORTED || message === REQUEST_CLOSED || clientLeft(body)) {
    return new UploadAborted(error);
  }
  if (error instanceof GuardError) return error; // a refusal, or `maxBufferedBytes`
  return new GuardError('MALFORMED_MULTIPART', { detail: message, cause: error });
}
