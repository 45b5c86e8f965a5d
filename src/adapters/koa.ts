import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { consoleForGuard, type GuardConsoleOptions } from '../console/for-guard.js';
import type { KoaConsoleMiddleware } from '../console/koa.js';
import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { PathCase } from '../core/request-view.js';
import type { MulterTarget } from '../multipart/selection.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { type NodeRequest, NodeRequestView, takenByGuard } from './node-view.js';
import { pathOf, patternOf } from './path.js';
import { wrongMiddlewareCall } from './wrong-call.js';

/** The parts of a Koa context the adapter uses (Koa 2 and 3 alike); no import of koa itself. */
export interface KoaContext extends MulterTarget {
  req: NodeRequest;
  res: ServerResponse;
  request: MulterTarget & { body?: unknown };
  originalUrl: string;
  /**
   * The matched route's pattern, set by @koa/router (prefix included) before its middleware, and
   * left set for what follows the router when a route calls `next()`.
   */
  _matchedRoute?: unknown;
  /** @koa/router's layers that matched the path (its routes and `router.use()` mounts). */
  matched?: unknown;
  ip: string;
  state: Record<string, unknown> & { photodna?: PhotoDnaResult };
  status: number;
  body: unknown;
  set(field: Record<string, string>): void;
}

export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<unknown>) => Promise<void>;
export type KoaRouteGuard = RouteGuardOf<KoaMiddleware>;
export type KoaGuard = KoaMiddleware &
  GuardOf<KoaMiddleware, Context> & {
    /**
     * The moderators' console for this guard's quarantine store, as Koa middleware served at
     * `options.path` (defaults to `'/console'`): `app.use(guard.console({ authorize }))`.
     */
    console(options: GuardConsoleOptions): KoaConsoleMiddleware;
  };

/** A Koa context as the core sees it. */
class KoaView extends NodeRequestView {
  /** `ctx.body` is the response's: an answer set before the guard is no request's text fields. */
  readonly fieldHolders: readonly object[];
  readonly #ctx: KoaContext;
  /** The guard's middleware as mounted: `_matchedRoute` is its route only if it is in its stack. */
  readonly #handler: KoaMiddleware;

  constructor(ctx: KoaContext, ownFiles: boolean, handler: KoaMiddleware) {
    // After @koa/multer the files sit on ctx and ctx.request; our own parser leaves them on req.
    // (ctx and ctx.request follow for our own files too: a replayed body withdraws them there.)
    super(
      ctx.req,
      ctx.res,
      ownFiles ? [ctx.req, ctx, ctx.request] : [ctx, ctx.request, ctx.req],
      ctx,
    );
    this.fieldHolders = [ctx.request, ctx.req];
    this.#ctx = ctx;
    this.#handler = handler;
  }

  path(): string {
    return pathOf(this.#ctx.originalUrl);
  }

  /**
   * @koa/router's matched route (`router.post('/users/:id', guard.any(), ...)`), when the guard
   * runs in that route's own stack. Unset before the router, in `router.use(...)`, and after it
   * (`app.use(router.routes()).use(guard)`, reached when a route calls `next()`), where
   * `_matchedRoute` is left by a route that is not this guard's.
   */
  routePattern(): string | undefined {
    const { _matchedRoute: pattern, matched } = this.#ctx;
    if (!Array.isArray(matched)) return undefined;
    const handler = this.#handler;
    const own = matched.some(
      (layer: { path?: unknown; methods?: unknown; stack?: unknown }) =>
        layer?.path === pattern &&
        Array.isArray(layer.methods) &&
        layer.methods.length > 0 && // a route, not a `router.use()` mount
        Array.isArray(layer.stack) &&
        layer.stack.includes(handler),
    );
    return own ? patternOf(pattern) : undefined;
  }

  /** As @koa/router routes by default (its `sensitive` option is not visible here). */
  pathCase(): PathCase {
    return 'insensitive';
  }

  ip(): string {
    return this.#ctx.ip;
  }
}

/**
 * The Koa guard: same options and core as the Express one. Sets `ctx.request.files`,
 * `ctx.request.body`, `ctx.file(s)` (like @koa/multer) and `ctx.state.photodna`.
 */
export function photodnaGuard(options?: GuardOptions<Context>): KoaGuard {
  return createGuard(middleware, options as GuardOptions, (core) => ({
    console: (opts: GuardConsoleOptions) =>
      consoleForGuard(core, opts).koa(opts.path ?? '/console'),
  }));
}

function middleware(core: GuardCore, entry: Entry): KoaMiddleware {
  const parses = entry.parser !== undefined;
  const guard: KoaMiddleware = async (ctx, next) => {
    // A body the host's parser (@koa/multer) read before us: its files stay where it put them.
    // One a guard took already is not parsed again: the core re-shapes its files in every place
    // that holds them (on `ctx` only, after @koa/multer), so nothing is copied over from `req`.
    const ownFiles = parses && !ctx.req.readableEnded && !takenByGuard(ctx.req);
    const outcome = await core.decide(entry, new KoaView(ctx, ownFiles, mounted));
    if (outcome.kind === 'respond' && !ctx.res.headersSent && !ctx.res.destroyed) {
      ctx.status = outcome.status;
      ctx.set(outcome.headers);
      ctx.body = outcome.body; // a string: Koa keeps the content-type set above
    }
    if (outcome.kind !== 'continue') return;
    if (ownFiles) expose(ctx);
    if (outcome.photodna) ctx.state.photodna = outcome.photodna;
    await next();
  };
  // Checked before the async body runs: a throw there would be a rejected promise, which
  // Express 4 (the Koa guard mounted on it) leaves unhandled.
  const mounted: KoaMiddleware = (ctx, next) => {
    if (typeof next !== 'function' || typeof ctx?.req?.on !== 'function') {
      throw wrongMiddlewareCall('Koa', [ctx, next]);
    }
    return guard(ctx, next);
  };
  return mounted;
}

/** Copies multer's results from the raw request to where Koa apps look for them. */
function expose(ctx: KoaContext): void {
  const { req } = ctx;
  if (req.body !== undefined) ctx.request.body = req.body;
  for (const target of [ctx, ctx.request]) {
    if (req.file) target.file = req.file;
    else delete target.file;
    if (req.files) target.files = req.files;
    else delete target.files;
  }
}
