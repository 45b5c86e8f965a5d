import { IncomingMessage } from 'node:http';
import { constants, Http2ServerRequest } from 'node:http2';
import type { Readable } from 'node:stream';

/** The bodies an `IdleBody` ended, told apart from those whose uploader left (`endedIdle`). */
const stalled = new WeakSet<Readable>();

/**
 * Whether `body` was ended by its `IdleBody` (it stalled for `limits.bodyIdleMs`) rather than by
 * its uploader leaving: both end the same way, and only the guard's metrics and log tell them
 * apart. Asked only of a request the guard gives up on, never on the way of a clean upload.
 */
export function endedIdle(body: Readable): boolean {
  return stalled.has(body);
}

/**
 * Ends an upload body that delivers no bytes for `limits.bodyIdleMs` while the guard reads it,
 * as nginx's `client_body_timeout` does: a connection that sends part of a body and stalls keeps
 * its bytes counted in `maxBufferedBytes` (`upload-budget.ts`) until it ends, and Node's
 * `requestTimeout` (HTTP/1, 300 s by default) is all that ends it otherwise; a `node:http2`
 * server has no such timeout at all.
 *
 * Ended as its uploader leaving ends it (`abandon`): the reader sees the upload aborted
 * (multer: `UploadAborted`), with all that follows from that: no answer (the Web `Request`
 * guards return their 499 `Response` for an uploader gone), no handler, no event, the bytes
 * given back, the files removed; only the guard's metrics and `debug` log tell it from an
 * uploader who left (`endedIdle`). The guard's answers have no status for it (nginx answers
 * 408), and an uploader who stopped sending mid-body rarely reads one.
 *
 * One timer per request, re-armed by each chunk with `refresh()` (no allocation; Node's sockets
 * re-arm their own idle timers the same way on every read), unref'd so it keeps no process
 * alive, and stopped when the body ends or closes, or its reader is done with it (`stop()`):
 * never while the guard waits for the check after the body was read. Time the body spends
 * paused by its reader (back-pressure: the host's parser writing to a slow disk) is the
 * server's wait, not the uploader's, and is not counted against it.
 */
export class IdleBody {
  readonly #body: Readable;
  readonly #timer: NodeJS.Timeout;
  readonly #untilEnd: boolean;
  readonly #moved = (): void => {
    this.#timer.refresh();
  };
  readonly #done = (): void => {
    this.stop();
  };
  readonly #idle = (): void => {
    if (this.#body.readableFlowing === false) {
      this.#timer.refresh();
      return;
    }
    this.stop();
    stalled.add(this.#body);
    abandon(this.#body);
  };

  /**
   * Starts watching `body`, which its reader is about to read (or reads already). `untilEnd`:
   * also stops by itself when the body ends or closes; a reader that always calls `stop()` then
   * (the guard's parser, which settles on both) passes false and spares two listeners per request.
   */
  constructor(body: Readable, ms: number, untilEnd = true) {
    this.#body = body;
    this.#timer = setTimeout(this.#idle, ms);
    this.#timer.unref();
    this.#untilEnd = untilEnd;
    // `on`, not `once`: each is removed by `stop()`, and `once` would allocate a wrapper.
    body.on('data', this.#moved);
    if (untilEnd) {
      body.on('end', this.#done);
      body.on('close', this.#done);
    }
  }

  /** Stops watching: the body ended, or its reader is done with it. Harmless when repeated. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#body.off('data', this.#moved);
    if (this.#untilEnd) {
      this.#body.off('end', this.#done);
      this.#body.off('close', this.#done);
    }
  }
}

/**
 * Ends `body` as its uploader leaving would. Node's HTTP/1 request: destroyed, which closes its
 * connection (no error given: it would reach the socket, and the server's 'clientError'). Node's
 * HTTP/2 compatibility request: its stream reset with CANCEL, as a client resets it (destroying
 * the request would leave the stream open). A Web body (`Readable.fromWeb`): destroyed with the
 * `AbortError` its request's aborted signal would give (destroyed without one, it ends as if it
 * were whole), which cancels the Web stream; the runtime then ends the request.
 */
function abandon(body: Readable): void {
  if (body instanceof Http2ServerRequest) body.stream.close(constants.NGHTTP2_CANCEL);
  else if (body instanceof IncomingMessage) body.destroy();
  else body.destroy(new DOMException('the upload body stalled (limits.bodyIdleMs)', 'AbortError'));
}
