import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { MulterTarget } from '../multipart/selection.js';

/**
 * The request body as a Node readable that carries its headers (Node's `IncomingMessage` is
 * one): multer reads it like a request and leaves `body` (text fields) and `file(s)` on it.
 */
export type BodyStream = Readable & MulterTarget & { headers: IncomingHttpHeaders; body?: unknown };

/** How a router compares paths: by case, regardless of it, or not known to the guard. */
export type PathCase = 'sensitive' | 'insensitive' | 'unknown';

/**
 * A framework-free view of one request: everything the core reads, and nothing it writes but
 * the files it withholds from `targets`. Adapters implement it with a small class per framework
 * (fields set in the constructor; `path()` and `ip()` computed only when read).
 */
export interface RequestView {
  readonly method: string;
  /** Lower-case header names, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
  /**
   * The body, when the guard may read it (an upload entry parses it; `scan()` only asks whether
   * it was read already). Undefined when the framework consumed it.
   */
  readonly body: BodyStream | undefined;
  /**
   * Where files parsed by the host's multer sit (Express: `req`; Koa: `ctx`, `ctx.request`,
   * `ctx.req`): the files of all of them are checked, each once, and withheld files are removed
   * from every one.
   */
  readonly targets: readonly MulterTarget[];
  /**
   * Where the parsed text fields (`body`) may sit when the body stream holds none, first the one
   * to read. Defaults to `targets`; Koa's view leaves `ctx` out, whose `body` is the response's.
   */
  readonly fieldHolders?: readonly object[];
  /** The framework's request (Express `req`, Koa `ctx`), handed to policy functions. */
  readonly raw: unknown;
  /** The path as the router sees it, without the query string. Called at most once. */
  path(): string;
  /**
   * The pattern of the route the router matched (`'/users/:id'`), as the app wrote it, when it
   * matched one before the guard ran; never the request's own path, which is the uploader's to
   * choose (metrics label by it). Absent or undefined when the framework does not know it yet
   * (a global guard runs before the router; a path no route matches). Called at most once.
   */
  routePattern?(): string | undefined;
  /**
   * Whether the router tells paths apart by case (`/Chat` from `/chat`), for path rules to cover
   * exactly what it routes. Absent when the adapter cannot know: rules then apply the stricter of
   * the two readings.
   */
  pathCase?(): PathCase;
  /**
   * The uploader's address as the framework derives it from its trust settings (Express
   * `req.ip`, Koa `ctx.ip`). Called at most once, only when an event, log or record needs it;
   * the core keeps it only when it is an IP address.
   */
  ip(): string;
  /** The TCP peer's address (the socket's), recorded as evidence whatever the proxies say. */
  peer?(): string;
  /** Whether a guard already took this request (a global guard plus a route guard). */
  isTaken(): boolean;
  /** Marks the request taken, so no other guard parses or scans it again. */
  take(): void;
  /**
   * Calls `onGone` once if the uploader leaves before the answer is written; returns true (and
   * calls nothing) when it has left already. Called at most once, when the core first needs to
   * know (the request's abort signal is created lazily).
   */
  watchGone(onGone: () => void): boolean;
  /**
   * Calls `done` once the answer has been written, before the server decides what to do with
   * the rest of the request (Node: ahead of the server's own 'finish' listener, which lets the
   * request go only when it has ended). Absent where the body is not the server's request.
   */
  whenAnswered?(done: () => void): void;
}

/** The parsed text fields (`req.body`; Koa after @koa/multer: `ctx.request.body`). */
export function textFieldsOf(view: RequestView): unknown {
  const own = (view.body as { body?: unknown } | undefined)?.body;
  if (own && typeof own === 'object') return own;
  for (const holder of (view.fieldHolders ?? view.targets) as ReadonlyArray<{ body?: unknown }>) {
    if (holder.body && typeof holder.body === 'object') return holder.body;
  }
  return undefined;
}
