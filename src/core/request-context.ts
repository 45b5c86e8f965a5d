/** What the core needs to know about a request, whatever the framework. */
export interface RequestContext {
  /** The request path without the query string. */
  route: string;
  method: string;
  /** The uploader's address (Express: `req.ip`, which honours `trust proxy`). */
  ip: string;
  userAgent?: string;
  receivedAt: Date;
  /** Aborts when the uploader disconnects. */
  signal: AbortSignal;
  /** The framework's request (Express `req`, Koa `ctx`), handed to policy functions. */
  raw: unknown;
}
