/**
 * The console as Koa middleware (Koa 2 and 3): `app.use(console.koa('/console'))`. Requests
 * under `prefix` are answered by the console on the raw response (`ctx.respond = false`);
 * everything else goes on to `next`. No Koa import.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { markKoa } from './http-io.js';

interface KoaContextLike {
  path: string;
  req: IncomingMessage;
  res: ServerResponse;
  respond?: boolean;
  /** TLS, or `X-Forwarded-Proto: https` from a proxy the app trusts (`app.proxy`). */
  secure?: boolean;
  /** The client's address: the socket's, or from `X-Forwarded-For` under `app.proxy`. */
  ip?: string;
}

export type KoaConsoleMiddleware = (
  ctx: KoaContextLike,
  next: () => Promise<unknown>,
) => Promise<void>;

export function koaMount(
  handle: (req: IncomingMessage, res: ServerResponse, base: string) => Promise<void>,
  prefix: string,
): KoaConsoleMiddleware {
  const base = prefix.replace(/\/+$/, '');
  if (!base.startsWith('/')) throw new TypeError("console.koa(prefix): prefix must start with '/'");
  return async (ctx, next) => {
    if (ctx.path !== base && !ctx.path.startsWith(`${base}/`)) {
      await next();
      return;
    }
    ctx.respond = false;
    markKoa(ctx.req, { secure: ctx.secure === true, ip: ctx.ip ?? '' });
    await handle(ctx.req, ctx.res, base);
  };
}
