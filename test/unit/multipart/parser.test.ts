import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { bodyKindOf } from '../../../src/multipart/is-multipart.js';
import { MultipartParser } from '../../../src/multipart/parser.js';
import { limitsSchema } from '../../../src/options.js';

/**
 * Where the guard's own parser runs, multer's own Content-Type test decides whether a multipart
 * claim is read (issue 16: the guard no longer runs the same test first). `parse` must tell at
 * once when multer refuses a body, and refuse exactly what `bodyKindOf` calls 'unreadable'.
 */
const parser = new MultipartParser(limitsSchema.parse({}));

function source(headers: Record<string, string>, body = '') {
  const stream = new PassThrough();
  stream.end(body);
  return Object.assign(stream, { headers });
}

const TYPES = [
  'multipart/form-data; boundary=XyZ',
  'multipart/form-data; boundary="quoted value"',
  'Multipart/Form-Data; boundary=XyZ',
  '  multipart/mixed; boundary=XyZ',
  'multipart/form-data; boundary=XyZ; foo',
  'multipart/form-data; boundary=XyZ;',
  'multipart/form-data; boundary=',
  'multipart/; boundary=XyZ',
  'multipart/form-data boundary=XyZ',
  'multipart/form-data; boundary=a b',
];

describe('MultipartParser.parse: multer decides what it reads', () => {
  it.each(TYPES)('%s: refused at once exactly when bodyKindOf says unreadable', async (type) => {
    const lengths: Record<string, string>[] = [
      { 'content-length': '10' },
      {},
      { 'transfer-encoding': 'chunked' },
    ];
    for (const length of lengths) {
      const headers: Record<string, string> = { 'content-type': type, ...length };
      const parsing = parser.parse(source(headers, '0123456789'), { kind: 'any' });
      expect(parsing === undefined).toBe(bodyKindOf(headers) === 'unreadable');
      await parsing?.catch(() => {}); // the 10 bytes are no valid form: multer's error, not ours
    }
  });

  it('a body multer takes is parsed', async () => {
    const body = '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--XyZ--\r\n';
    const req = source(
      {
        'content-type': 'multipart/form-data; boundary=XyZ',
        'content-length': String(body.length),
      },
      body,
    );
    const parsing = parser.parse(req, { kind: 'any' });
    expect(parsing).toBeDefined();
    await parsing;
    expect({ ...(req as { body?: object }).body }).toEqual({ note: 'hi' });
  });
});
