import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import type { BodyStream, PathCase, RequestView } from '../core/request-view.js';
import { bodyKindOf } from '../multipart/is-multipart.js';
import type { MulterTarget } from '../multipart/selection.js';
import { pathOf } from './path.js';

/**
 * Requests a guard has taken (a global guard plus a route guard), with the body stream it read:
 * a second guard re-shapes the files parsed there instead of reading a locked body again.
 */
const taken = new WeakMap<Request, BodyStream | undefined>();

/**
 * A Web-standard `Request` as the core sees it. The body becomes a Node stream only for a
 * multipart request (so any other body stays readable by the app), and it is read with the
 * parser's limits: never `request.formData()`, which buffers without bound.
 */
export class WebRequestView implements RequestView {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: BodyStream | undefined;
  readonly targets: readonly MulterTarget[];
  readonly raw: unknown;
  readonly #request: Request;
  readonly #ip: string;
  readonly #peer: string;
  readonly #path: string | undefined;
  readonly #caseSensitive: boolean | undefined;
  readonly #routePattern: string | undefined;

  constructor(
    request: Request,
    info: {
      ip?: string;
      peer?: string;
      path?: string;
      caseSensitive?: boolean;
      routePattern?: string;
    },
    raw: unknown,
  ) {
    this.method = request.method;
    this.headers = headersOf(request);
    this.body = taken.has(request) ? taken.get(request) : bodyOf(request, this.headers);
    this.targets = this.body ? [this.body] : [];
    this.raw = raw;
    this.#request = request;
    this.#peer = info.peer ?? '';
    this.#ip = info.ip ?? this.#peer;
    this.#path = info.path;
    this.#caseSensitive = info.caseSensitive;
    this.#routePattern = typeof info.routePattern === 'string' ? info.routePattern : undefined;
  }

  path(): string {
    return this.#path ?? pathOf(this.#request.url);
  }

  routePattern(): string | undefined {
    return this.#routePattern;
  }

  pathCase(): PathCase {
    if (this.#caseSensitive === undefined) return 'unknown';
    return this.#caseSensitive ? 'sensitive' : 'insensitive';
  }

  ip(): string {
    return this.#ip;
  }

  peer(): string {
    return this.#peer;
  }

  isTaken(): boolean {
    return taken.has(this.#request);
  }

  take(): void {
    taken.set(this.#request, this.body);
  }

  watchGone(onGone: () => void): boolean {
    const { signal } = this.#request;
    if (signal.aborted) return true;
    signal.addEventListener('abort', onGone, { once: true });
    return false;
  }
}

/**
 * Methods whose `Request` carries no body whatever the client sent (the Fetch API refuses one;
 * @hono/node-server builds a TRACE as a GET).
 */
const BODILESS = new Set(['GET', 'HEAD', 'TRACE']);

/**
 * Lower-case header names, as Node gives them; a streamed body counts as having one. A GET,
 * HEAD or TRACE counts as having none, whatever its `Content-Length` says: a multipart type on it
 * is a body the guard cannot read (400), not one read before the guard (a configuration error,
 * which any client could otherwise raise). Any other method without a body keeps its length: a
 * host that read the body and passed on a `Request` without it is told so.
 */
function headersOf(request: Request): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of request.headers) headers[name] = value;
  if (!request.body && BODILESS.has(request.method)) {
    delete headers['content-length'];
    delete headers['transfer-encoding'];
  } else if (request.body && !headers['content-length'] && !headers['transfer-encoding']) {
    headers['transfer-encoding'] = 'chunked';
  }
  return headers;
}

function bodyOf(request: Request, headers: IncomingHttpHeaders): BodyStream | undefined {
  if (!request.body || request.body.locked || bodyKindOf(headers) === 'none') return undefined;
  // An abort of `request.signal` ends the read too (the parser then sees an uploader who left).
  const stream = Readable.fromWeb(request.body as NodeWebStream<Uint8Array>, {
    signal: request.signal,
  });
  return Object.assign(stream, { headers }) as BodyStream;
}
