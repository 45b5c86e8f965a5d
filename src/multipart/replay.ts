import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { fieldEntries } from './field-entries.js';
import type { MulterFile, MulterTarget } from './selection.js';

/**
 * The guard in front of the host's own parsers (issue 10): once the request passes, the request
 * stream is made readable again with a body rebuilt from what the guard checked (its text fields
 * and the files the handler may see), so a per-route multer, busboy or formidable after
 * `app.use(guard)` parses the checked body as if the guard were not there. Never the raw bytes:
 * parsers differ on odd bodies (a part busboy skips, formidable may read as a file).
 */

type Replayable = Readable &
  MulterTarget & {
    body?: unknown;
    headers: Record<string, string | string[] | undefined>;
    _readableState: unknown;
    _read: (size: number) => void;
    [REPLAY]?: Replay | undefined;
  };

const { ReadableState } = Readable as unknown as {
  ReadableState: new (options: object, stream: Readable, isDuplex: boolean) => { flowing: unknown };
};

/** Where a replayed request keeps its `Replay` (an object: no closure is stored on the request). */
const REPLAY: unique symbol = Symbol('photodna-guard.replay');

/**
 * Makes the consumed request readable again: the next reader gets `chunks`, then the end. The
 * guard's own results (`req.files`, `req.file`, `req.body`, and their `copies` such as Koa's
 * `ctx.files`) are withdrawn when that reader starts, unless it replaced them already (multer
 * sets `req.body` first), so the host's parser leaves exactly what it would without the guard.
 *
 * Call `withdraw()` on the result once the answer is written: a replay nobody started is taken
 * back (the request ended again, as the guard's parser left it, and the bytes let go). Node's
 * server keeps a request that has not ended referenced from its connection until the next
 * request arrives on it (on an idle keep-alive connection, indefinitely), and with it both
 * copies of the body.
 */
export function replayBody(
  req: Replayable,
  chunks: readonly Buffer[],
  copies: readonly (MulterTarget & { body?: unknown })[] = [],
): Replay {
  const replay = new Replay(req, chunks, copies);
  req._readableState = replay.fresh;
  req[REPLAY] = replay;
  // One shared function, never a closure per request: a function-valued field written on each
  // request made V8 run a full GC every ~200 ms under load (issue 16).
  req._read = replayRead;
  return replay;
}

/** `_read` of a replayed request: its bytes, once, then the end. */
function replayRead(this: Replayable): void {
  this[REPLAY]?.start();
}

/** One request's replay: what the next reader gets, and how to take it back. */
export class Replay {
  readonly fresh: { flowing: unknown };
  readonly #req: Replayable;
  readonly #places: readonly (MulterTarget & { body?: unknown })[];
  readonly #ours: { file: unknown; files: unknown; body: unknown };
  readonly #consumed: unknown;
  readonly #ownRead: Replayable['_read'] | undefined;
  #chunks: readonly Buffer[];
  #started: boolean;

  constructor(
    req: Replayable,
    chunks: readonly Buffer[],
    copies: readonly (MulterTarget & { body?: unknown })[],
  ) {
    this.fresh = new ReadableState({ autoDestroy: false }, req, false);
    this.#req = req;
    this.#places = [req, ...copies];
    this.#ours = { file: req.file, files: req.files, body: req.body };
    this.#consumed = req._readableState;
    this.#ownRead = Object.hasOwn(req, '_read') ? req._read : undefined;
    this.#chunks = chunks;
    this.#started = false;
  }

  /** The first read: the guard's results leave the request, the bytes flow, then the end. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const ours = this.#ours;
    for (const place of this.#places) {
      if (ours.file && place.file === ours.file) delete place.file;
      if (ours.files && place.files === ours.files) delete place.files;
      if (ours.body && place.body === ours.body) delete place.body;
    }
    const req = this.#req;
    for (const chunk of this.#chunks) req.push(chunk);
    req.push(null);
  }

  /** Takes back a replay nobody started: the request as the guard's parser left it. */
  withdraw(): void {
    // A reader is on it (reading, or flowing/paused by one): it ends when the bytes are read.
    if (this.#started || this.fresh.flowing !== null) return;
    this.#started = true;
    this.#chunks = [];
    const req = this.#req;
    req._readableState = this.#consumed;
    req[REPLAY] = undefined;
    if (this.#ownRead) req._read = this.#ownRead;
    else delete (req as { _read?: unknown })._read; // the prototype's again
  }
}

/**
 * A new multipart body holding the text fields and the files the handler may see (withheld
 * matches are not in `files`). Names and file names go back as the guard's parser read them:
 * busboy decoded header parameters as latin1, so latin1 gives the original bytes back; a name it
 * read from an RFC 5987 `filename*=` (beyond latin1) goes back in that form. Text values as
 * UTF-8, file parts with their sniffed type. Sets the request's `content-type` (new boundary) and
 * `content-length` to match.
 */
export function rebuildBody(
  req: Replayable,
  fields: Record<string, unknown>,
  files: readonly MulterFile[],
): Buffer[] {
  const boundary = `photodna-guard-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of fieldEntries(fields)) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; ${param('name', name)}\r\n\r\n`,
        'latin1',
      ),
      Buffer.from(value, 'utf8'),
      CRLF,
    );
  }
  for (const file of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; ${param('name', file.fieldname)}; ${param('filename', file.originalname)}\r\nContent-Type: ${file.mimetype}\r\n\r\n`,
        'latin1',
      ),
      file.buffer ?? Buffer.alloc(0),
      CRLF,
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  req.headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
  req.headers['content-length'] = String(chunks.reduce((n, c) => n + c.length, 0));
  delete req.headers['transfer-encoding'];
  return chunks;
}

const CRLF = Buffer.from('\r\n');

/**
 * One `Content-Disposition` parameter: a quoted string (backslash before `"` and `\`; CR and LF,
 * which no parsed header holds, percent-encoded) for latin1 text, `key*=utf-8''…` beyond it.
 */
function param(key: string, value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: latin1 is U+0000 to U+00FF
  if (/^[\u0000-\u00ff]*$/.test(value)) {
    const quoted = value
      .replace(/[\\"]/g, (c) => `\\${c}`)
      .replace(/[\r\n]/g, (c) => encodeURIComponent(c));
    return `${key}="${quoted}"`;
  }
  return `${key}*=utf-8''${encodeURIComponent(value)}`;
}
