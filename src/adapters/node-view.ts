import type { IncomingMessage, ServerResponse } from 'node:http';
import { processWide } from '../core/process-wide.js';
import type { BodyStream, RequestView } from '../core/request-view.js';
import type { MulterTarget } from '../multipart/selection.js';

/**
 * Requests a guard has taken, so no other guard parses or scans them again. Kept off the request
 * object (a property added to every request costs a V8 map transition, ~10 µs in profiles), in
 * one set per process that every loaded copy of the library shares.
 */
const taken = processWide('photodna-guard.taken-requests', () => new WeakSet<object>());

/** Node's request as the guard reads it: the body stream, where multer leaves its results. */
export type NodeRequest = IncomingMessage & BodyStream;

/** Whether a guard already took this request (before a view of it exists). */
export function takenByGuard(req: NodeRequest): boolean {
  return taken.has(req);
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
    return taken.has(this.body);
  }

  take(): void {
    taken.add(this.body);
  }

  watchGone(onGone: () => void): boolean {
    const res = this.#res;
    // Node sets `destroyed` with `_closed` when it emits 'close' (and `destroy()` sets it before
    // 'close' comes): one property read, where each costs a slow lookup on Express's responses.
    if (res.destroyed) return !res.writableEnded;
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
