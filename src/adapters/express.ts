import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GuardOptions } from '../options.js';
import type { PhotoDnaResult } from '../types.js';
import type { ExpressRequest as Request } from './express-request.js';
import { type Exchange, type FlowRequest, type FlowResult, scanFlow, uploadFlow } from './flow.js';
import { createGuard, type GuardOf, type RouteGuardOf } from './guard-factory.js';
import { pathOf } from './path.js';

type Next = (error?: unknown) => void;
/** Express middleware (4.x and 5.x). */
export type GuardMiddleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
export type RouteGuard = RouteGuardOf<GuardMiddleware>;
export type Guard = GuardMiddleware & GuardOf<GuardMiddleware>;

type ExpressRequest = FlowRequest & {
  ip?: string;
  originalUrl?: string;
  photodna?: PhotoDnaResult;
};

/**
 * The Express guard: `app.use(photodnaGuard(options))` parses and checks every multipart upload;
 * `guard.single/array/fields/any/none` are drop-in replacements for a multer instance.
 */
export function photodnaGuard(options?: GuardOptions<Request>): Guard {
  return createGuard<GuardMiddleware>(
    {
      upload: (core, route, parser, selection) =>
        middleware((ex) => uploadFlow(core, route, parser, selection, ex)),
      scan: (core, route) => middleware((ex) => scanFlow(core, route, ex)),
    },
    options as GuardOptions,
  );
}

function middleware(flow: (ex: Exchange) => Promise<FlowResult>): GuardMiddleware {
  return (request, res, next) => {
    const req = request as ExpressRequest;
    flow(exchange(req, res)).then((result) => {
      if (!result.next) return;
      if (result.photodna) req.photodna = result.photodna;
      next();
    }, next);
  };
}

function exchange(req: ExpressRequest, res: ServerResponse): Exchange {
  return {
    req,
    res,
    targets: [req],
    path: pathOf(req.originalUrl ?? req.url),
    ip: req.ip ?? req.socket?.remoteAddress ?? '',
    raw: req,
    respond({ status, headers, body }) {
      res.statusCode = status;
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    },
  };
}
