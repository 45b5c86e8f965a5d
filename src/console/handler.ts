/**
 * The console as one function on Node's request and response, under a base path: the page and
 * its two scripts and style sheet (static, no data), and the JSON API. Security headers on every
 * answer; failures answer JSON without internals.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toError } from '../errors.js';
import { loggableError } from '../redact.js';
import { type ApiDeps, serveApi } from './api.js';
import { APP_SCRIPT } from './assets/app-script.js';
import { LIVE_SCRIPT } from './assets/live-script.js';
import { PAGE } from './assets/page.js';
import { STYLE } from './assets/style.js';
import { HttpError, sendJson, sendText, setSecurityHeaders } from './http-io.js';

const ASSETS: Readonly<Record<string, [type: string, body: string]>> = {
  '/': ['text/html', PAGE],
  '/app.js': ['text/javascript', APP_SCRIPT],
  '/live.js': ['text/javascript', LIVE_SCRIPT],
  '/console.css': ['text/css', STYLE],
};

export type ConsoleHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  base: string,
) => Promise<void>;

/** `base` is the mount path without a trailing slash (`''` at the root, `'/console'`). */
export function createHandler(deps: ApiDeps): ConsoleHandler {
  return async (req, res, base) => {
    setSecurityHeaders(res);
    // Express rewrites req.url under a mount path; originalUrl keeps the whole path.
    const raw = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const url = new URL(raw, 'http://console.invalid');
    const full = url.pathname;
    if (!full.startsWith(base)) return sendJson(res, 404, { error: 'not found' });
    const path = full.slice(base.length);
    try {
      if (path === '') {
        res.statusCode = 308;
        res.setHeader('Location', `${base}/${url.search}`);
        res.end();
        return;
      }
      if (path.startsWith('/api/')) {
        await serveApi(deps, req, res, base, path.slice('/api/'.length), url);
        return;
      }
      const asset = ASSETS[path];
      if (!asset || (req.method !== 'GET' && req.method !== 'HEAD')) {
        throw new HttpError(404, 'not found');
      }
      sendText(res, 200, asset[0], asset[1]);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpError) {
        if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(error.retryAfter));
        return sendJson(res, error.status, { error: error.message });
      }
      // Store failures and the like: the reviewer sees that it failed, never internals.
      deps.options.logger?.error(
        { err: loggableError(toError(error)) },
        'photodna-guard console: a request failed',
      );
      sendJson(res, 500, { error: 'the console could not complete this request' });
    }
  };
}
