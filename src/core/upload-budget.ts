/**
 * Bytes the guards of this process hold in memory for uploads being checked. Each request's
 * limits bound what it may buffer, but not how many requests buffer at once: 40 uploads of
 * 10 × 4 MiB, each sent but for its last bytes and then left hanging, would hold 1.6 GB; a
 * server with 2 GiB of address space died of them. So a request the guard parses reserves,
 * before its first byte is read, the bytes it may hold — its `Content-Length` when it gives one
 * (the HTTP parser frames the body by it), else what its limits let it keep — and gives them back
 * when the guard has decided (the handler then owns the buffers) or the request ended otherwise.
 * One that does not fit beside those in flight is answered 503 `SCAN_BUSY`, its body unread.
 *
 * Reserved up front rather than counted per chunk: a few operations per request, no listener
 * or closure per chunk (issue 16). One counter per process (like the decoding pixel budget,
 * `pixel-budget.ts`, but refusing at once rather than queueing: a queued upload would hold its
 * connection and the client's bytes in the kernel's buffers meanwhile). Each route compares the
 * process's total with its own `limits.maxBufferedBytes`, so a route with a smaller limit sheds
 * uploads first; the largest limit bounds the process. A request alone is always admitted,
 * whatever its reservation: its own limits bound it, and a limit below one request's maximum
 * must not refuse every upload.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { totalmem } from 'node:os';
import type { Limits } from '../options.js';
import { processWide } from './process-wide.js';

const MIB = 1024 * 1024;
/** The default's ceiling: eleven requests at the default limits' maximum (about 46 MiB each). */
const DEFAULT_CAP = 512 * MIB;

export class UploadBudget {
  #held = 0;

  /** Bytes reserved by uploads in progress, across every guard of the process. */
  get held(): number {
    return this.#held;
  }

  /**
   * Reserves `bytes` when they fit beside those held within `limit` (or nothing is held);
   * returns whether it did. Each successful call must be matched by one `release(bytes)`.
   */
  tryReserve(bytes: number, limit: number): boolean {
    if (this.#held > 0 && this.#held + bytes > limit) return false;
    this.#held += bytes;
    return true;
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
 * What a request reserves: its announced length when the body is framed by it, bounded by
 * `atMost` (its limits' maximum), else `atMost`: without a length (HTTP/2 allows none), or with
 * `Transfer-Encoding`, whose chunks frame the body whatever a `Content-Length` says.
 */
export function bytesToReserve(headers: IncomingHttpHeaders, atMost: number): number {
  if (headers['transfer-encoding'] !== undefined) return atMost;
  const length = Number(headers['content-length']); // NaN when absent or not one number
  return length >= 0 && length < atMost ? length : atMost;
}

/**
 * `limits.maxBufferedBytes` by default: a quarter of the memory the process may use (its
 * cgroup's limit when it has one, else the machine's), at most 512 MiB. Buffered bytes are not
 * all the memory an upload takes (multer concatenates each file's chunks, and sanitizing copies
 * it), and the heap and the rest of the app need room beside them.
 */
export function defaultMaxBufferedBytes(): number {
  const machine = totalmem();
  // Node 20 answers a huge number (or 0, or undefined) when no limit is set.
  const constrained = process.constrainedMemory?.() ?? 0;
  const usable = constrained > 0 && constrained < machine ? constrained : machine;
  return Math.min(DEFAULT_CAP, Math.floor(usable / 4));
}
