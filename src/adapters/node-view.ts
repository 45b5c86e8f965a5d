import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
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

/**
 * Node's response: HTTP/1's, or the HTTP/2 compatibility API's (Fastify with `http2: true`, Koa
 * on `http2.createServer`), which has no `destroyed` and whose `socket` stands for its stream.
 */
export type NodeResponse = ServerResponse | Http2ServerResponse;

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
  readonly #res: NodeResponse;

  constructor(req: NodeRequest, res: NodeResponse, targets: readonly MulterTarget[], raw: unknown) {
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
    // The connection's state, not the response's `destroyed`: still one read of the response
    // (each costs a slow lookup on Express's responses; the socket's are fast ones), and it holds
    // where `destroyed` does not. HTTP/2's compatibility response has no `destroyed`; its
    // `socket` stands for the stream (`destroyed` is the stream's, as Node documents) and is
    // unset once the stream closed. A socket is destroyed before its 'close' comes.
    const socket: Socket | null | undefined = res.socket;
    if (socket) {
      if (socket.destroyed) return !res.writableEnded;
    } else if (
      !res.writableEnded &&
      closedUnattached(this.body, res, () => {
        if (!res.writableEnded) onGone();
      })
    ) {
      return true;
    }
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

/**
 * A response with no socket: true when it is HTTP/2's whose stream closed, or its connection is
 * gone. Otherwise it is a pipelined HTTP/1 one queued behind another on its connection: Node
 * gives a queued response its socket, and with it its 'close', only once those ahead of it
 * finished; when the connection closes first, the response hears nothing (`abortIncoming` in
 * _http_server.js destroys only the requests, whose bodies were read). So the connection is
 * watched, `closed` called if it closes, until the response gets its socket. Rare, so the reads
 * and the listener are kept off the common path.
 */
function closedUnattached(req: NodeRequest, res: NodeResponse, closed: () => void): boolean {
  if ('stream' in res) return true;
  const connection = req.socket as Socket | null | undefined;
  if (!connection) return false; // no connection to watch (a stand-in response): 'close' only
  if (connection.destroyed) return true;
  res.once('socket', whenClosed(connection, closed));
  return false;
}

/**
 * Calls `done` once, when the exchange is over however it ends: the answer written out
 * ('finish'), the response closed without it, or the connection gone (already, or under a
 * queued response). Its listeners come first, ahead of those the host's plugins added
 * (@fastify/multipart deletes its saved files on the response's 'close', and in an `onResponse`
 * hook Fastify runs on 'finish').
 */
export function whenOver(req: NodeRequest, res: NodeResponse, done: () => void): void {
  let pending = true;
  const over = () => {
    if (pending) {
      pending = false;
      done();
    }
  };
  if (res.writableFinished) {
    over();
    return;
  }
  res.prependListener('finish', over);
  res.prependListener('close', over);
  const socket: Socket | null | undefined = res.socket;
  if (socket ? socket.destroyed : closedUnattached(req, res, over)) over();
}

/**
 * Callbacks of queued (pipelined) responses, per connection: one 'close' listener on it however
 * many wait, so a client pipelining many uploads adds no listener per request (nor Node's
 * warning about too many), and none stays once no response waits.
 */
const waitingOn = new WeakMap<
  Socket,
  { readonly left: Set<() => void>; readonly closed: () => void }
>();

/** Calls `left` when `connection` closes; returns what stops that. */
function whenClosed(connection: Socket, left: () => void): () => void {
  let waiting = waitingOn.get(connection);
  if (!waiting) {
    const callbacks = new Set<() => void>();
    const closed = () => {
      waitingOn.delete(connection);
      for (const callback of callbacks) callback();
    };
    waiting = { left: callbacks, closed };
    waitingOn.set(connection, waiting);
    connection.once('close', closed);
  }
  const entry = waiting;
  entry.left.add(left);
  return () => {
    entry.left.delete(left);
    if (entry.left.size > 0 || waitingOn.get(connection) !== entry) return;
    waitingOn.delete(connection);
    connection.off('close', entry.closed);
  };
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
