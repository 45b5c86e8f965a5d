import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import typeis from 'type-is';

/**
 * What the request's `Content-Type` says about its body, decided once per request:
 * - `none`: not multipart; the guard lets it through untouched and unread;
 * - `multipart`: a body multer will read;
 * - `unreadable`: it claims multipart (see `claimsMultipart`) but multer would skip it — a
 *   malformed type (`multipart/form-data; boundary=x; foo`), a list of types, `multipart` outside
 *   the type, or no body — or its body is content-coded (see `isContentCoded`). Such a request
 *   must never pass as "no files" while another parser reads its files later.
 */
export type BodyKind = 'none' | 'multipart' | 'unreadable';

export function bodyKindOf(headers: IncomingHttpHeaders): BodyKind {
  if (!claimsMultipart(headers)) return 'none';
  return readsAsMultipart(headers) && !isContentCoded(headers) ? 'multipart' : 'unreadable';
}

/**
 * multer's own test of a request, which the guard's parser keeps: type-is's hasBody (a length or
 * a transfer-encoding), then one multipart type (`isMultipartType`).
 */
export function readsAsMultipart(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return (
    typeof type === 'string' &&
    typeis.hasBody({ headers } as IncomingMessage) &&
    isMultipartType(type)
  );
}

/**
 * Whether the body carries a coding (`Content-Encoding: gzip`, `deflate`, `br`..., or a transfer
 * coding before `chunked`, as in `Transfer-Encoding: gzip, chunked`, which Node accepts and
 * hands on undecoded): its form is what decoding gives, and no multipart parser here decodes
 * (multer, busboy, @fastify/multipart, formidable and `formData()` read the coded bytes as they
 * are). Read as they are, one gzip stream holds a form in its header's extra field for the
 * parser and another in its compressed data for whatever decodes it (a proxy, a host that
 * honours the header), and the guard would call the second clean having checked the first. So
 * a coded multipart body is unreadable to the guard (400), never checked in a representation it
 * is not. `identity` is no coding.
 */
export function isContentCoded(headers: IncomingHttpHeaders): boolean {
  const content = headers['content-encoding'];
  if (content !== undefined && !/^\s*(?:identity\s*)?$/i.test(String(content))) return true;
  const transfer = headers['transfer-encoding'];
  return transfer !== undefined && !/^\s*(?:(?:identity|chunked)\s*(?:,\s*|$))*$/i.test(transfer);
}

/**
 * multer's type test alone (type-is): one multipart type, its parameters well formed. Without
 * `bodyKindOf`'s length test, for a body another parser reads whatever its headers say of its
 * length (@fastify/multipart reads an HTTP/2 body sent without `Content-Length`).
 */
export function isMultipartType(type: string): boolean {
  return typeis.is(type, ['multipart']) !== false;
}

/**
 * Whether the `Content-Type` claims multipart: it mentions `multipart` anywhere, the cheap first
 * half of `bodyKindOf`. Parsers differ in what they accept: formidable reads any type that says
 * `multipart` and has a boundary (`text/plain; x=multipart; boundary=X`), and a Web `Request`'s
 * `formData()` the last type of a list (`text/plain, multipart/form-data; boundary=X`, or two
 * `Content-Type` lines joined). Whatever multer will not read of these is refused as unreadable,
 * never passed on unread. Where the guard's own parser runs, multer's own test decides the rest
 * (`MultipartParser.parse`).
 */
export function claimsMultipart(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && /multipart/i.test(type);
}
