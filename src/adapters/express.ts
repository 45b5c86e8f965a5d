import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExpressConsoleMiddleware } from '../console/express.js';
import { consoleForGuard, type GuardConsoleOptions } from '../console/for-guard.js';
import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import { passedResult } from '../core/recheck.js';
import type { PathCase } from '../core/request-view.js';
import type { GuardOptions } from '../options.js';
import type { ExpressRequest as Request } from './express-request.js';
import { installResultAccessor, showResult } from './express-result.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { type NodeRequest, NodeRequestView, writeResponse } from './node-view.js';
import { pathOf, patternOf } from './path.js';
import { wrongMiddlewareCall } from './wrong-call.js';

type Next = (error?: unknown) => void;
/** Express middleware (4.x and 5.x). */
export type GuardMiddleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
export type RouteGuard = RouteGuardOf<GuardMiddleware>;
export type Guard = GuardMiddleware &
  GuardOf<GuardMiddleware, Request> & {
    /**
     * The moderators' console for this guard's quarantine store, as Express middleware:
     * `app.use('/console', guard.console({ authorize }))`. Refuses to start without `authorize`
     * or `token`; closes with the guard.
     */
    console(options: GuardConsoleOptions): ExpressConsoleMiddleware;
  };

type ExpressRequest = NodeRequest & {
  ip?: string;
  originalUrl?: string;
  /**
   * Set once the router matched a route, and kept when that route calls `next()`: a middleware
   * after it (`app.use(guard)`) still sees it.
   */
  route?: { path?: unknown; stack?: unknown };
  app?: { get?(setting: string): unknown };
};

/** An Express request as the core sees it; multer's results (ours or the host's) sit on `req`. */
class ExpressView extends NodeRequestView {
  readonly #req: ExpressRequest;
  /** The guard's middleware as mounted: `req.route` is its route only if it is in its stack. */
  readonly #handler: GuardMiddleware;

  constructor(req: ExpressRequest, res: ServerResponse, handler: GuardMiddleware) {
    super(req, res, [req], req);
    this.#req = req;
    this.#handler = handler;
  }

  path(): string {
    return pathOf(this.#req.originalUrl ?? this.#req.url);
  }

  /**
   * The matched route's pattern relative to its Router (`req.route.path`; a Router's mount path
   * is known only as matched, `req.baseUrl`, which may hold ids), when the guard runs on that
   * route. Unset behind `app.use(guard)`: there `req.route` is unset, or left by an earlier route
   * that called `next()` (`app.all('/api/*rest', auth)`), whose pattern is not this upload's.
   */
  routePattern(): string | undefined {
    const route = this.#req.route;
    if (!route || !Array.isArray(route.stack)) return undefined;
    const handler = this.#handler;
    const own = route.stack.some((layer: { handle?: unknown }) => layer?.handle === handler);
    return own ? patternOf(route.path) : undefined;
  }

  /** The app's `case sensitive routing` (off by default; a Router's own option is not visible). */
  pathCase(): PathCase {
    return this.#req.app?.get?.('case sensitive routing') ? 'sensitive' : 'insensitive';
  }

  ip(): string {
    return this.#req.ip ?? this.#req.socket?.remoteAddress ?? '';
  }
}

/**
 * The Express guard: `app.use(photodnaGuard(options))` parses and checks every multipart upload;
 * `guard.single/array/fields/any/none` are drop-in replacements for a multer instance.
 */
export function photodnaGuard(options?: GuardOptions<Request>): Guard {
  return createGuard(middleware, options as GuardOptions, (core) => ({
    console: (opts: GuardConsoleOptions) => consoleForGuard(core, opts).express(),
  }));
}

function middleware(core: GuardCore, entry: Entry): GuardMiddleware {
  const handler: GuardMiddleware = (request, res, next) => {
    if (typeof next !== 'function' || typeof request?.headers !== 'object') {
      throw wrongMiddlewareCall('Express', [request, res, next]);
    }
    const req = request as ExpressRequest;
    installResultAccessor(req);
    core.decide(entry, new ExpressView(req, res, handler)).then(
      (outcome) => {
        if (outcome.kind === 'respond') writeResponse(res, outcome);
        if (outcome.kind !== 'continue') return;
        if (outcome.photodna) {
          try {
            showResult(req, outcome.photodna);
          } catch (error) {
            next(error); // a read-only `photodna` the request held: never an unhandled rejection
            return;
          }
        }
        next();
      },
      (error: unknown) => {
        // A request the guard failed on reads what a guard passed it with, if one did, never a
        // value put there before.
        try {
          showResult(req, passedResult(req));
        } catch {
          // A read-only value of its own stays; the error still goes on.
        }
        next(error);
      },
    );
  };
  return handler;
}
