import type { Context } from 'koa';
import type { MulterTarget } from '../multipart/selection.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { type Exchange, type FlowRequest, type FlowResult, scanFlow, uploadFlow } from './flow.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { pathOf } from './path.js';

/** The parts of a Koa context the adapter uses (Koa 2 and 3 alike); no import of koa itself. */
export interface KoaContext extends MulterTarget {
  req: FlowRequest;
  res: import('node:http').ServerResponse;
  request: MulterTarget & { body?: unknown };
  originalUrl: string;
  ip: string;
  state: Record<string, unknown> & { photodna?: PhotoDnaResult };
  status: number;
  body: unknown;
  set(field: Record<string, string>): void;
}

export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<unknown>) => Promise<void>;
export type KoaRouteGuard = RouteGuardOf<KoaMiddleware>;
export type KoaGuard = KoaMiddleware & GuardOf<KoaMiddleware>;

/**
 * The Koa guard: same options and core as the Express one. Sets `ctx.request.files`,
 * `ctx.request.body`, `ctx.file(s)` (like @koa/multer) and `ctx.state.photodna`.
 */
export function photodnaGuard(options?: GuardOptions<Context>): KoaGuard {
  return createGuard<KoaMiddleware>(
    {
      upload: (core, route, parser, selection) =>
        middleware((ex) => uploadFlow(core, route, parser, selection, ex), true),
      scan: (core, route) => middleware((ex) => scanFlow(core, route, ex), false),
    },
    options as GuardOptions,
  );
}

function middleware(flow: (ex: Exchange) => Promise<FlowResult>, parses: boolean): KoaMiddleware {
  return async (ctx, next) => {
    const result = await flow(exchange(ctx, parses));
    if (!result.next) return;
    if (parses) expose(ctx);
    if (result.photodna) ctx.state.photodna = result.photodna;
    await next();
  };
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

function exchange(ctx: KoaContext, parses: boolean): Exchange {
  return {
    req: ctx.req,
    res: ctx.res,
    // After @koa/multer the files sit on ctx and ctx.request; our own parser leaves them on req.
    targets: parses ? [ctx.req] : [ctx, ctx.request, ctx.req],
    path: pathOf(ctx.originalUrl),
    ip: ctx.ip,
    raw: ctx,
    respond({ status, headers, body }) {
      ctx.status = status;
      ctx.set(headers);
      ctx.body = body; // a string: Koa keeps the content-type set above
    },
  };
}
