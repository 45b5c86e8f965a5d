import type { IncomingMessage } from 'node:http';
import typeis from 'type-is';

/**
 * Whether the request claims a multipart body the guard must handle. Any `multipart/*` type
 * counts (like multer), so a body the parser cannot read is rejected rather than let past.
 */
export function isMultipart(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return typeof type === 'string' && /^\s*multipart\//i.test(type);
}

/**
 * Whether multer will actually read this body. multer decides with `type-is`, which says no to a
 * malformed `Content-Type` (`multipart/form-data; boundary=x; foo`) or a request without a body;
 * such a request must never pass as "no files" while another parser reads its files later.
 */
export function multerWillParse(req: IncomingMessage): boolean {
  return typeis.hasBody(req) && typeis(req, ['multipart']) !== false;
}
