/**
 * Bytes the guards of this process hold in memory for uploads they are reading or checking. Each
 * request's limits bound what it may buffer, but not how many requests buffer at once: 40
 * uploads of 10 × 4 MiB, each sent but for its last bytes and then left hanging, would hold
 * 1.6 GB; a server with 2 GiB of address space died of them.
 *
 * Counted as the bytes arrive, not reserved ahead from what a request announces: a reservation
 * let connections that sent only headers (a dozen announcing 40 MiB each, then silent until
 * Node's `requestTimeout`) refuse every other upload, an attack far cheaper than the crash the
 * budget prevents. Counted bytes are bytes a client really sent, and memory really held.
 *
 * A request's bytes count from the chunk the guard's parser reads to the guard's decision (the
 * handler then owns the buffers), or until its parser drops them (a limit refused it, or the
 * uploader left). The chunk that takes the process past a route's `limits.maxBufferedBytes`
 * refuses its own request there, mid-body, 503 `SCAN_BUSY`, as a size limit refuses one (multer
 * drops what it parsed, drains the rest, then answers), and that request's bytes stop counting at
 * once. A request that holds every counted byte is never refused: its own limits bound it, and a
 * budget below one request's maximum must not refuse every upload.
 *
 * Behind the host's parser (`guard.scan()` after multer, Fastify's `'scan'` mode) the guard reads
 * no body, but it reads each file that parser left on disk into memory to check it: those bytes
 * count from the read to the decision, and the file whose read would take the process past the
 * budget refuses its request before it is read (`BufferedBytes.addRead`). Without that, the
 * hundred files the PhotoDNA queue lets wait (`rateLimit.maxQueue`) held 4 MiB each uncounted.
 * Files that parser kept in memory (`file.buffer`) are not counted: the host allocated them
 * before the guard ran and holds them until the request ends whatever the guard answers, so
 * refusing the request would free nothing; they are bounded by that parser's limits.
 *
 * The copies the guard makes of an upload while deciding count the same way, from when they are
 * made to the decision (`BufferedBytes.addCopy`): what `sanitize` makes of each file (metadata
 * cut out, or re-encoded by sharp: under 'reencode' a request holds its upload twice) and the
 * images it decodes from text fields (base64, hex, `data:` URLs). The copy that takes the process
 * past the budget refuses its request, which then keeps nothing counted. Not counted: the pixels
 * sharp decodes to re-encode a file (in sharp's own memory, bounded by the pixel budget,
 * `pixel-budget.ts`), and buffers made and dropped within one step (the decodings tried on a
 * text value, the form the handler gets a sanitized field image back in).
 *
 * One counter per process (like the decoding pixel budget, `pixel-budget.ts`, but refusing rather
 * than queueing: a queued upload would hold its connection and its bytes meanwhile). Each route
 * compares the process's total with its own value, so a route with a smaller one sheds uploads
 * first; the largest bounds the process, but for a request alone larger than it.
 */
import { totalmem } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { GuardError } from '../errors.js';
import type { Limits } from '../options.js';
import { processWide } from './process-wide.js';

const MIB = 1024 * 1024;
/** The default's ceiling: eleven requests at the default limits' maximum (about 46 MiB each). */
const DEFAULT_CAP = 512 * MIB;

export class UploadBudget {
  #held = 0;

  /** Bytes counted for uploads being read or checked, across every guard of the process. */
  get held(): number {
    return this.#held;
  }

  /** Counts `bytes` more; returns the new total. */
  add(bytes: number): number {
    this.#held += bytes;
    return this.#held;
  }

  release(bytes: number): void {
    this.#held -= bytes;
  }
}

/** The process's budget, shared by every guard and every loaded copy of the library. */
export const uploadBudget = processWide(
  'photodna-guard.buffered-upload-bytes',
  () => new UploadBudget(),
);

/**
 * The most bytes one request can leave in memory storage under `limits`: every file at its
 * largest, every text field's name and value at theirs. (Part headers are parsed and dropped.)
 */
export function mostBufferedBy(
  limits: Pick<
    Limits,
    'maxFiles' | 'maxFileSize' | 'maxFields' | 'maxFieldSize' | 'maxFieldNameSize'
  >,
): number {
  return (
    limits.maxFiles * limits.maxFileSize +
    limits.maxFields * (limits.maxFieldSize + limits.maxFieldNameSize)
  );
}

/**
 * One request's bytes in a budget: every chunk of its body from the moment it is piped into its
 * parser, until `release()` (the guard decided, or the request ended otherwise) or until the
 * parser is unpiped unfinished (it refused the body or the uploader left: multer dropped the
 * files and drains the rest, which is not held). Drained or replayed bytes are never counted,
 * and no request counts more than its limits let it hold (`mostBufferedBy`): the parser skips
 * the rest (a file past `maxFileSize` until its part ends, parts it does not keep, a preamble),
 * and a single connection sending it must not count as more memory than any request can take.
 * Or, behind the host's parser, the buffers the guard reads the files it left on disk into
 * (`addRead`), until `release()` the same way. One request counts one or the other, never both;
 * either way, with the copies the guard makes of its files while deciding (`addCopy`).
 */
export class BufferedBytes {
  readonly #budget: UploadBudget;
  readonly #limit: number;
  readonly #most: number;
  #bytes = 0;
  #body: Readable | undefined = undefined;
  #parser: Writable | undefined = undefined;
  /** Released: the request was decided or refused, and nothing more is counted for it. */
  #released = false;
  /**
   * The per-chunk work: a minimum, two additions and a comparison (issue 16's hot path). Stopped,
   * it counts nothing: a parser that refuses a body while writing a chunk (multer, at a count
   * limit) unpipes it within the body's 'data' event, and an emitter still calls the listeners
   * it had when the event began, this one among them, after the release. That chunk would stay
   * counted, for bytes multer dropped, until the drained body ended.
   */
  readonly #count = (chunk: Uint8Array): void => {
    if (this.#body === undefined) return;
    const over = this.#add(Math.min(chunk.length, this.#most - this.#bytes));
    if (over !== undefined) this.#refuse(over);
  };
  readonly #unpiped = (): void => {
    // Finished, the parser's files are the guard's to check: they count until it decides.
    const finished = this.#parser?.writableFinished === true;
    this.#stop();
    if (!finished) this.release();
  };

  /** `limit`: the route's `limits.maxBufferedBytes`; `most`: `mostBufferedBy` its limits. */
  constructor(budget: UploadBudget, limit: number, most: number) {
    this.#budget = budget;
    this.#limit = limit;
    this.#most = most;
  }

  /**
   * Counts what `body` emits from now on. Called right after `body.pipe(parser)`, in the same
   * tick: pipe's own 'data' listener comes first and has switched the stream to flowing (or left
   * it paused for back-pressure), so this listener changes neither the mode nor what the parser
   * reads, and sees every chunk the parser does.
   */
  watch(body: Readable, parser: Writable): void {
    this.#body = body;
    this.#parser = parser;
    body.on('data', this.#count);
    parser.on('unpipe', this.#unpiped);
  }

  /**
   * Counts `bytes` the guard is about to allocate to read a file the host's parser left on disk
   * (`guard.scan()`), held until `release()`. When they would take the process past the route's
   * budget while other requests hold bytes too, this request is refused instead, before the read:
   * it throws `SCAN_BUSY` and keeps nothing counted, like the chunk that crosses the budget. Once
   * released (refused, or decided while another of its files was still being read), it counts
   * nothing more and throws, so a late read can neither be counted after the request's last
   * `release()` nor go on for a request already answered.
   */
  addRead(bytes: number): void {
    if (this.#released) {
      throw new GuardError('SCAN_BUSY', { detail: 'a file read after its request was settled' });
    }
    const over = this.#add(bytes);
    if (over === undefined) return;
    this.release();
    throw this.#busy(over, `before reading ${bytes} bytes of its files into memory`);
  }

  /**
   * Counts `bytes` the guard just made from this request's upload and holds until its decision
   * (`what` they are: a sanitized file, an image decoded from a text field), until `release()`.
   * When they take the process past the route's budget while other requests hold bytes too, this
   * request is refused: it throws `SCAN_BUSY` and keeps nothing counted, and the caller drops
   * the copy. Once released (refused, its uploader gone), it counts nothing: the copy goes with
   * the request, and the refusal already made stands.
   */
  addCopy(bytes: number, what: string): void {
    if (this.#released) return;
    const over = this.#add(bytes);
    if (over === undefined) return;
    this.release();
    throw this.#busy(over, `after the guard made ${bytes} bytes of ${what}`);
  }

  /** Gives this request's bytes back and stops counting; once is enough, more is harmless. */
  release(): void {
    this.#released = true;
    this.#stop();
    this.#budget.release(this.#bytes);
    this.#bytes = 0;
  }

  /**
   * Counts `bytes` more for this request: the process's new total when it is past the route's
   * budget and other requests hold bytes too (this request is then to be refused), else
   * undefined. A request holding every counted byte is never refused.
   */
  #add(bytes: number): number | undefined {
    this.#bytes += bytes;
    const total = this.#budget.add(bytes);
    return total > this.#limit && total !== this.#bytes ? total : undefined;
  }

  #stop(): void {
    this.#body?.removeListener('data', this.#count);
    this.#parser?.removeListener('unpipe', this.#unpiped);
    this.#body = undefined;
    this.#parser = undefined;
  }

  /**
   * The chunk just read took the process past the budget: the request is refused by its parser,
   * the way a size limit refuses one (multer drops its files, drains the rest of the body, then
   * fails with this error), and keeps nothing counted meanwhile.
   */
  #refuse(total: number): void {
    const body = this.#body;
    const parser = this.#parser;
    const own = this.#bytes;
    this.release();
    if (!body || !parser) return;
    body.unpipe(parser);
    parser.destroy(this.#busy(total, `after ${own} bytes`));
  }

  #busy(total: number, when: string): GuardError {
    return new GuardError('SCAN_BUSY', {
      detail: `uploads being read or checked held ${total} bytes in memory, past limits.maxBufferedBytes (${this.#limit}); this one was refused ${when}`,
    });
  }
}

/**
 * `limits.maxBufferedBytes` by default: a quarter of the memory the process may use (its
 * cgroup's limit when it has one, else the machine's), at most 512 MiB. Buffered bytes are not
 * all the memory an upload takes (multer concatenates each file's chunks, sharp decodes the
 * pixels of a file it re-encodes), and the heap and the rest of the app need room beside them.
 */
export function defaultMaxBufferedBytes(): number {
  const machine = totalmem();
  // Node 20 answers a huge number (or 0, or undefined) when no limit is set.
  const constrained = process.constrainedMemory?.() ?? 0;
  const usable = constrained > 0 && constrained < machine ? constrained : machine;
  return Math.min(DEFAULT_CAP, Math.floor(usable / 4));
}
