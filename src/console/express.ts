/**
 * The console as Express middleware (Express 4 and 5): `app.use('/console', console.express())`.
 * No Express import: it reads `req.baseUrl` (the mount path) and hands the raw request on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type ExpressConsoleMiddleware = (
  req: IncomingMessage & { baseUrl?: string },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

export function expressMount(
  handle: (req: IncomingMessage, res: ServerResponse, base: string) => Promise<void>,
): ExpressConsoleMiddleware {
  return (req, res, next) => {
    handle(req, res, req.baseUrl ?? '').catch(next);
  };
}
