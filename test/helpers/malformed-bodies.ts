/**
 * Raw multipart bodies the guard must answer alike on every framework (SPEC 3.3): built by hand,
 * byte for byte, for requests no client library would send. Shared by the Fastify comparison
 * (fastify-malformed) and the comparison of the other adapters (malformed-parity).
 */
import { png } from '../fixtures/images.js';

export const B = 'AgreeB';
export const TYPE = `multipart/form-data; boundary=${B}`;
const IMAGE = png(200, 200, 91);

/** One part: `head` is its header block as sent (lines joined by CRLF), then its bytes. */
export const part = (head: string, data: Buffer | string = IMAGE) =>
  Buffer.concat([Buffer.from(`--${B}\r\n${head}\r\n\r\n`), Buffer.from(data), Buffer.from('\r\n')]);
export const FILE_HEAD = 'Content-Disposition: form-data; name="f"; filename="a.png"';
export const CLOSE = Buffer.from(`--${B}--\r\n`);
export const form = (...parts: Buffer[]) => Buffer.concat([...parts, CLOSE]);
export const WELL_FORMED = form(part(`${FILE_HEAD}\r\nContent-Type: image/png`));
/** A part without Content-Disposition, then a file: every parser skips the first, and passes. */
export const NO_DISPOSITION = form(
  part('Content-Type: image/png', 'not a form field'),
  part(FILE_HEAD),
);

/**
 * Bodies busboy (multer's parser, the guard's own) refuses, each `[what, body]` with `TYPE`:
 * @fastify/busboy tolerated them (a part dropped or half-read), Fastify 'scan' mode answered 200.
 */
export const REFUSED_BODIES: Array<[string, Buffer]> = [
  [
    'a header line without a colon before Content-Disposition',
    form(part(`garbage\r\n${FILE_HEAD}`), part(FILE_HEAD)),
  ],
  [
    'a header line without a colon after Content-Disposition',
    form(part(`${FILE_HEAD}\r\ngarbage\r\nContent-Type: image/png`)),
  ],
  [
    'a header name with a space',
    form(part('Content Disposition: form-data; name="f"; filename="a.png"')),
  ],
  [
    'a bare LF ending a header line',
    form(part(`${FILE_HEAD}\nContent-Type: image/png`), part(FILE_HEAD)),
  ],
  [
    'a control byte in a header value',
    form(part('Content-Disposition: form-data; name="f"; filename="a\x01.png"')),
  ],
  [
    'a NUL in a file field name',
    form(part('Content-Disposition: form-data; name="f\0x"; filename="a.png"')),
  ],
  ['a NUL in a text field name', form(part('Content-Disposition: form-data; name="t\0x"', 'text'))],
  ['a part header over 16 KiB', form(part(`${FILE_HEAD}\r\nX-Pad: ${'a'.repeat(16 * 1024)}`))],
  ['a text field without a name', form(part('Content-Disposition: form-data', 'text'))],
  ['an empty body', Buffer.alloc(0)],
  // Refused at its first part, while a host parser may still read (or save) the large one after it.
  [
    'a header line without a colon, then a 3 MiB file',
    form(part(`garbage\r\n${FILE_HEAD}`), part(FILE_HEAD, png(200, 200, 92, 3 * 1024 * 1024))),
  ],
];

/** Content-Types multer will not read, sent with `WELL_FORMED`: refused, never read as a form. */
export const REFUSED_TYPES: string[] = [
  `text/plain, ${TYPE}`,
  `multipart/form-data, text/plain; boundary=${B}`,
  `${TYPE}; x`,
  `multipart/form-data; boundary="${B}", text/plain`,
];

/** Other malformed requests, each `[what, Content-Type, body]`: refused by every parser alike. */
export const REFUSED_REQUESTS: Array<[string, string, Buffer]> = [
  ['no boundary', 'multipart/form-data', WELL_FORMED],
  ['a boundary the body does not use', 'multipart/form-data; boundary=Other', WELL_FORMED],
  ['a body cut off inside a part', TYPE, WELL_FORMED.subarray(0, 200)],
  ['no final boundary', TYPE, WELL_FORMED.subarray(0, WELL_FORMED.length - CLOSE.length)],
  [
    'a delimiter where the final boundary should be',
    TYPE,
    Buffer.concat([
      WELL_FORMED.subarray(0, WELL_FORMED.length - CLOSE.length),
      Buffer.from(`--${B}\r\n`),
    ]),
  ],
  ['a list of types starting with form data', `${TYPE}, text/plain`, WELL_FORMED],
];
