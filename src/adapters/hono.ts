import type { Context, MiddlewareHandler } from 'hono';
import type { Entry } from '../core/entry.js';
import type { GuardCore } from '../core/guard-core.js';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import { type CheckPassed, checker } from './fetch.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { isWebRequest, wrongMiddlewareCall } from './wrong-call.js';

/** What the guard sets on the context (`c.get('photodna')`, `c.get('upload')`) and reads. */
export interface PhotoDnaVariables {
  /** Set on every scanned request. */
  photodna: PhotoDnaResult;
  /** The scanned upload: `formData`, `fields`, and multer-shaped `file` / `files`. */
  upload: CheckPassed;
  /**
   * The uploader's address, for events and records, when an earlier middleware knows it better
   * (behind a proxy). Defaults to the runtime's socket address, which is recorded as the peer
   * either way.
   */
  photodnaIp?: string;
}

export type PhotoDnaEnv = { Variables: PhotoDnaVariables };
export type HonoMiddleware = MiddlewareHandler<PhotoDnaEnv>;
export type HonoRouteGuard = RouteGuardOf<HonoMiddleware>;
export type HonoGuard = HonoMiddleware & GuardOf<HonoMiddleware>;

/**
 * The Hono guard, built on the `Request` one: `app.use(photodnaGuard(options))` or per route
 * (`guard.single('photo')`, `guard.route({ policy: 'flag' })`). A rejection is answered here;
 * otherwise the scanned form is also what `c.req.formData()` and `c.req.parseBody()` return.
 */
export function photodnaGuard(options?: GuardOptions): HonoGuard {
  return createGuard<HonoMiddleware>(middleware, options);
}

function middleware(core: GuardCore, entry: Entry): HonoMiddleware {
  const { check } = checker(core, entry);
  const guard: HonoMiddleware = async (c, next) => {
    const peer = peerOf(c);
    // `c.req.path`: the path Hono routes on (percent-decoded), so path rules see the route's path.
    const ip = c.get('photodnaIp') ?? peer;
    const pattern = routePathOf(c);
    // Hono's routers tell paths apart by case.
    const result = await check(c.req.raw, {
      ip,
      peer,
      raw: c,
      path: c.req.path,
      caseSensitive: true,
      // The pattern this middleware was registered on ('/users/:id'; '/*' for `app.use(guard)`).
      routePattern: typeof pattern === 'string' ? pattern : await pattern,
    });
    if (result.response) return result.response;
    if (result.photodna) {
      c.set('photodna', result.photodna);
      c.set('upload', result);
      // Hono keeps each read of the body as a promise, whatever its types say (`arrayBuffer()`
      // and `blob()` re-serialize the cached one).
      if (result.formData)
        Object.assign(c.req.bodyCache, { formData: Promise.resolve(result.formData) });
    }
    return next();
  };
  // Checked before the async body runs: a throw there would be a rejected promise, which
  // Express 4 (the Hono guard mounted on it) leaves unhandled.
  return (c, next) => {
    if (typeof next !== 'function' || !isWebRequest(c?.req?.raw)) {
      throw wrongMiddlewareCall('Hono', [c, next]);
    }
    return guard(c, next);
  };
}

type RoutePath = (c: Context) => string;

/**
 * `routePath` from `hono/route`, which deprecates `c.req.routePath` (Hono 4.8+): `null` until it
 * has been looked for, `undefined` on an older Hono, which has no such subpath (so it is never
 * imported at the top). Looked for once per process, on the first request.
 */
let routePathHelper: RoutePath | undefined | null = null;
let lookingForHelper: Promise<void> | undefined;

function loadRoutePath(): Promise<void> {
  lookingForHelper ??= import('hono/route').then(
    (route) => {
      routePathHelper = typeof route.routePath === 'function' ? route.routePath : undefined;
    },
    () => {
      routePathHelper = undefined;
    },
  );
  return lookingForHelper;
}

/** The pattern the running middleware was registered on (no await once the helper was looked for). */
function routePathOf(c: Context): string | Promise<string> {
  if (routePathHelper === null) return loadRoutePath().then(() => routePathOf(c));
  if (routePathHelper) {
    try {
      return routePathHelper(c);
    } catch {
      // A context from another copy of Hono (a CommonJS app's `require('hono')` while this
      // module imports `hono/route`): its match sits under that copy's key, which the helper
      // cannot read. The getter below reads it on every 4.x.
    }
  }
  return c.req.routePath;
}

/** The socket peer's address where the runtime tells it (@hono/node-server, Bun, Deno). */
function peerOf(c: Context): string {
  const env = c.env as
    | {
        incoming?: { socket?: { remoteAddress?: string } };
        remoteAddr?: { hostname?: string };
        requestIP?(req: Request): { address?: string } | null;
      }
    | undefined;
  return (
    env?.incoming?.socket?.remoteAddress ??
    env?.remoteAddr?.hostname ??
    env?.requestIP?.(c.req.raw)?.address ??
    ''
  );
}
