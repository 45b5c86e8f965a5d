import type { IncomingMessage } from 'node:http';

/**
 * Whether the request carries a multipart body the guard must parse. Any `multipart/*` type
 * counts (like multer), so a body the parser cannot read is rejected rather than let past.
 */
export function isMultipart(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && /^\s*multipart\//i.test(type);
}
