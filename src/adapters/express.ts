import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExpressConsoleMiddleware } from '../console/express.js';
import { consoleForGuard, type GuardConsoleOptions } from '../console/for-guard.js';
import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import type { ExpressRequest as Request } from './express-request.js';
import { readsResult } from './express-result.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { type NodeRequest, NodeRequestView, writeResponse } from './node-view.js';
import { pathOf } from './path.js';

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
  photodna?: PhotoDnaResult;
};

/** An Express request as the core sees it; multer's results (ours or the host's) sit on `req`. */
class ExpressView extends NodeRequestView {
  readonly #req: ExpressRequest;
  readonly #readsResult: boolean;

  constructor(req: ExpressRequest, res: ServerResponse, readsResult: boolean) {
    super(req, res, [req], req);
    this.#req = req;
    this.#readsResult = readsResult;
  }

  path(): string {
    return pathOf(this.#req.originalUrl ?? this.#req.url);
  }

  ip(): string {
    return this.#req.ip ?? this.#req.socket?.remoteAddress ?? '';
  }

  override take(): void {
    super.take();
    // Without the accessor (express-result.ts), the one property the guard adds, added before
    // multer's: each property added to an Express request builds a new map (bench/README.md).
    if (!this.#readsResult) this.#req.photodna = undefined;
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
  return (request, res, next) => {
    const req = request as ExpressRequest;
    const reads = readsResult(req);
    core.decide(entry, new ExpressView(req, res, reads)).then((outcome) => {
      if (outcome.kind === 'respond') writeResponse(res, outcome);
      if (outcome.kind !== 'continue') return;
      // With the accessor, `req.photodna` reads the recorded result; a value something put on
      // the request before the guard would shadow it, so the guard's result replaces it.
      if (outcome.photodna && (!reads || Object.hasOwn(req, 'photodna'))) {
        req.photodna = outcome.photodna;
      }
      next();
    }, next);
  };
}
