import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Limits } from '../options.js';
import type { MulterFile, MulterTarget } from './selection.js';

/**
 * The guard in front of the host's own parsers (issue 10): while the guard's parser reads the
 * body, a tap keeps its raw bytes (bounded); once the request passes, the request stream is made
 * readable again with those bytes, so a per-route multer, busboy or formidable after
 * `app.use(guard)` parses the untouched body as if the guard were not there.
 */

/** Most bytes of one part's headers busboy accepts (SPEC section 4), plus its boundary line. */
const PART_OVERHEAD = 16 * 1024 + 256;

/** The largest body the limits let through: what the tap may hold for one request. */
export function replayBound(limits: Limits): number {
  return (
    limits.maxFiles * limits.maxFileSize +
    limits.maxFields * (limits.maxFieldSize + limits.maxFieldNameSize) +
    limits.maxParts * PART_OVERHEAD
  );
}

/** The raw bytes of a body as they stream past the guard's parser. */
export class BodyTap {
  readonly chunks: Buffer[] = [];
  /** Over the bound: nothing can be replayed (the parser's limits normally stop such a body). */
  overflow = false;
  #size = 0;
  readonly #bound: number;

  constructor(body: Readable, bound: number) {
    this.#bound = bound;
    body.on('data', (chunk: Buffer) => {
      if (this.overflow) return;
      this.#size += chunk.length;
      if (this.#size > this.#bound) {
        this.overflow = true;
        this.chunks.length = 0;
      } else this.chunks.push(chunk);
    });
  }
}

type Replayable = Readable &
  MulterTarget & {
    body?: unknown;
    headers: Record<string, string | string[] | undefined>;
    _readableState: unknown;
    _read: (size: number) => void;
  };

const { ReadableState } = Readable as unknown as {
  ReadableState: new (options: object, stream: Readable, isDuplex: boolean) => unknown;
};

/**
 * Makes the consumed request readable again: the next reader gets `chunks`, then the end. The
 * guard's own results (`req.files`, `req.file`, `req.body`, and their `copies` such as Koa's
 * `ctx.files`) are withdrawn when that reader starts, unless it replaced them already (multer sets `req.body` first), so the host's parser
 * leaves exactly what it would without the guard.
 */
export function replayBody(
  req: Replayable,
  chunks: readonly Buffer[],
  copies: readonly (MulterTarget & { body?: unknown })[] = [],
): void {
  const ours = { file: req.file, files: req.files, body: req.body };
  const places = [req, ...copies];
  req._readableState = new ReadableState({ autoDestroy: false }, req, false);
  let started = false;
  req._read = function replay(this: Replayable) {
    if (started) return;
    started = true;
    for (const place of places) {
      if (ours.file && place.file === ours.file) delete place.file;
      if (ours.files && place.files === ours.files) delete place.files;
      if (ours.body && place.body === ours.body) delete place.body;
    }
    for (const chunk of chunks) this.push(chunk);
    this.push(null);
  };
}

/**
 * A new multipart body holding the text fields and the files the handler may see, for a
 * request whose matched files were withheld ('flag'): the replay must not carry their bytes.
 * Sets the request's `content-type` (new boundary) and `content-length` to match.
 */
export function rebuildBody(
  req: Replayable,
  fields: Record<string, unknown>,
  files: readonly MulterFile[],
): Buffer[] {
  const boundary = `photodna-guard-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  const quote = (s: string) => s.replace(/["\r\n]/g, (c) => encodeURIComponent(c));
  for (const [name, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      chunks.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${String(v)}\r\n`,
        ),
      );
    }
  }
  for (const file of files) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.fieldname)}"; filename="${quote(file.originalname)}"\r\nContent-Type: ${file.mimetype}\r\n\r\n`,
      ),
      file.buffer ?? Buffer.alloc(0),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  req.headers['content-type'] = `multipart/form-data; boundary=${boundary}`;
  req.headers['content-length'] = String(chunks.reduce((n, c) => n + c.length, 0));
  delete req.headers['transfer-encoding'];
  return chunks;
}
