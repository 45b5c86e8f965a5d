import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BodyStream, RequestView } from '../core/request-view.js';
import type { MulterTarget } from '../multipart/selection.js';

/** Marks a request one guard has taken, so no other guard parses or scans it again. */
const SCANNED: unique symbol = Symbol.for('photodna-guard.scanned') as never;

/** Node's request as the guard reads it: the body stream, where multer leaves its results. */
export type NodeRequest = IncomingMessage & BodyStream & { [SCANNED]?: true };

/** Whether a guard already took this request (before a view of it exists). */
export function takenByGuard(req: NodeRequest): boolean {
  return req[SCANNED] === true;
}

/**
 * The request view shared by the adapters on Node's http server (Express, Koa): the request is
 * the body stream, the response tells when the uploader left. Subclasses say where the path and
 * the address come from.
 */
export abstract class NodeRequestView implements RequestView {
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: NodeRequest;
  readonly targets: readonly MulterTarget[];
  readonly raw: unknown;
  readonly #res: ServerResponse;

  constructor(
    req: NodeRequest,
    res: ServerResponse,
    targets: readonly MulterTarget[],
    raw: unknown,
  ) {
    this.method = req.method ?? 'POST';
    this.headers = req.headers;
    this.body = req;
    this.targets = targets;
    this.raw = raw;
    this.#res = res;
  }

  abstract path(): string;
  abstract ip(): string;

  peer(): string {
    return this.body.socket?.remoteAddress ?? '';
  }

  isTaken(): boolean {
    return this.body[SCANNED] === true;
  }

  take(): void {
    this.body[SCANNED] = true;
  }

  watchGone(onGone: () => void): boolean {
    const res = this.#res;
    if (res.destroyed || res.closed) return !res.writableEnded;
    // `on`, not `once`: 'close' fires once, and `once` would allocate a wrapper per request.
    res.on('close', () => {
      if (!res.writableEnded) onGone();
    });
    return false;
  }

  whenAnswered(done: () => void): void {
    const res = this.#res;
    if (res.writableFinished) done();
    // Prepended: Node's server checks on 'finish' whether the request ended, to let it go.
    else res.prependListener('finish', done);
  }
}

/** Writes a rejection on Node's response, unless something else already answered. */
export function writeResponse(
  res: ServerResponse,
  answer: { status: number; headers: Readonly<Record<string, string>>; body: string },
): void {
  if (res.headersSent || res.destroyed) return;
  res.statusCode = answer.status;
  for (const name in answer.headers) res.setHeader(name, answer.headers[name] as string);
  res.setHeader('content-length', Buffer.byteLength(answer.body));
  res.end(answer.body);
}
