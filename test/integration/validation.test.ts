import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { GuardOptions } from '../../src/index.js';
import { bmp, gif, hostile, jpg, pixelFloodPng, png, tiff } from '../fixtures/images.js';
import { type Adapter, adapters, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

expectNoTempFiles();

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  const MiB4 = 4 * 1024 * 1024;

  async function setup(options: GuardOptions = {}) {
    const matcher = new RecordingMatcher();
    const server = await adapter.start({ matcher, ...options }, [{ path: '/upload' }], {
      global: true,
    });
    running.push(server);
    return { app: server.url, log: server.log, matcher };
  }

  async function upload(
    file: Buffer,
    filename = 'photo.jpg',
    contentType = 'image/jpeg',
    options: GuardOptions = {},
  ) {
    const ctx = await setup(options);
    const res = await request(ctx.app)
      .post('/upload')
      .attach('photo', file, { filename, contentType });
    return { res, ...ctx };
  }

  describe('accepted images (each format, sniffed from the bytes)', () => {
    const cases: Array<[string, Buffer, string]> = [
      ['png', png(), 'image/png'],
      ['jpeg', jpg(), 'image/jpeg'],
      ['gif', gif(), 'image/gif'],
      ['bmp', bmp(), 'image/bmp'],
      ['tiff', tiff(), 'image/tiff'],
    ];
    it.each(cases)(
      '%s passes to the handler with its sniffed type and dimensions',
      async (_, bytes, type) => {
        // The client claims every file is a text file: only the bytes count.
        const { res, log, matcher } = await upload(bytes, 'notes.txt', 'text/plain');
        expect(res.status).toBe(200);
        expect(log.runs).toBe(1);
        expect(res.body.files[0]).toMatchObject({
          fieldname: 'photo',
          originalname: 'notes.txt',
          size: bytes.length,
          hasBuffer: true,
        });
        expect(res.body.photodna.status).toBe('clean');
        expect(res.body.photodna.files[0]).toMatchObject({
          field: 'photo',
          mimetype: type,
          width: 200,
          height: 200,
          isMatch: false,
        });
        expect(matcher.calls).toHaveLength(1);
        expect(matcher.calls[0]?.contentType).toBe(type);
      },
    );

    it('an animated PNG counts as PNG', async () => {
      const apng = png();
      // An acTL chunk right after IHDR makes it an APNG for file-type.
      const actl = Buffer.alloc(20);
      actl.writeUInt32BE(8, 0);
      actl.write('acTL', 4, 'latin1');
      actl.writeUInt32BE(1, 8);
      const { crc32 } = await import('node:zlib');
      actl.writeUInt32BE(crc32(actl.subarray(4, 16)), 16);
      const bytes = Buffer.concat([apng.subarray(0, 33), actl, apng.subarray(33)]);
      const { res, matcher } = await upload(bytes, 'a.png', 'image/png');
      expect(res.status).toBe(200);
      expect(matcher.calls[0]?.contentType).toBe('image/png');
    });
  });

  describe('size limit (enforced while streaming)', () => {
    it('a file of exactly maxFileSize (4 MiB) is allowed', async () => {
      const bytes = png(200, 200, 1, MiB4);
      expect(bytes.length).toBe(MiB4);
      const { res, log } = await upload(bytes, 'big.png', 'image/png');
      expect(res.status).toBe(200);
      expect(log.runs).toBe(1);
    });

    it('one byte more is 413 FILE_TOO_LARGE and the handler does not run', async () => {
      const { res, log, matcher } = await upload(
        png(200, 200, 1, MiB4 + 1),
        'big.png',
        'image/png',
      );
      expect(res.status).toBe(413);
      expect(res.body).toEqual({ error: { code: 'FILE_TOO_LARGE', message: expect.any(String) } });
      expect(log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    });

    it('a custom maxFileSize applies', async () => {
      const { res } = await upload(png(), 'a.png', 'image/png', { limits: { maxFileSize: 1000 } });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('FILE_TOO_LARGE');
    });
  });

  describe('dimensions', () => {
    it('160x160 is allowed (the boundary)', async () => {
      const { res } = await upload(png(160, 160), 'a.png');
      expect(res.status).toBe(200);
    });

    it.each([
      [159, 160],
      [160, 159],
    ])('%ix%i is 422 IMAGE_TOO_SMALL', async (w, h) => {
      const { res, log } = await upload(png(w, h), 'a.png');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IMAGE_TOO_SMALL');
      expect(log.runs).toBe(0);
    });

    it('a pixel-flood header (50000x50000) is 422 IMAGE_TOO_LARGE without decoding', async () => {
      const { res, log, matcher } = await upload(pixelFloodPng(), 'flood.png', 'image/png');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('IMAGE_TOO_LARGE');
      expect(log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    });

    it('maxPixels is configurable', async () => {
      const { res } = await upload(png(200, 200), 'a.png', 'image/png', {
        limits: { maxPixels: 200 * 200 - 1 },
      });
      expect(res.body.error.code).toBe('IMAGE_TOO_LARGE');
    });
  });

  describe('rejectionBody', () => {
    it('replaces the JSON body and keeps the status and the decision', async () => {
      const { res, log } = await upload(hostile.svg(), 'a.png', 'image/png', {
        rejectionBody: ({ code, status, message }) => ({
          ok: false,
          reason: code,
          status,
          text: message,
        }),
      });
      expect(res.status).toBe(415);
      expect(res.body).toEqual({
        ok: false,
        reason: 'UNSUPPORTED_MEDIA_TYPE',
        status: 415,
        text: expect.any(String),
      });
      expect(log.runs).toBe(0);
    });

    it('one that throws falls back to the standard body (never a 500)', async () => {
      const { res, log } = await upload(hostile.svg(), 'a.png', 'image/png', {
        rejectionBody: () => {
          throw new Error('host bug');
        },
      });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(log.runs).toBe(0);
    });
  });

  describe('hostile files', () => {
    const cases: Array<[string, Buffer, number, string]> = [
      ['an executable sent as image/jpeg', hostile.executable(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['an HTML page sent as image/jpeg', hostile.html(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['an SVG', hostile.svg(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a WebP', hostile.webp(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a PDF', hostile.pdf(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['zero bytes', hostile.empty(), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['a JPEG truncated to 100 bytes', hostile.truncatedJpeg(), 422, 'INVALID_IMAGE'],
      ['a GIF/script polyglot', hostile.gifPolyglot(), 422, 'INVALID_IMAGE'],
      [
        'a PNG cut in the middle of its data',
        png(300, 300).subarray(0, 2000),
        422,
        'INVALID_IMAGE',
      ],
      ['a GIF without its trailer', gif().subarray(0, 500), 422, 'INVALID_IMAGE'],
      ['a BMP shorter than its header says', bmp().subarray(0, 1000), 422, 'INVALID_IMAGE'],
    ];
    it.each(cases)('%s → %s %s, handler not run, no call spent', async (_, bytes, status, code) => {
      const { res, log, matcher } = await upload(bytes, 'photo.jpg', 'image/jpeg');
      expect(res.status).toBe(status);
      expect(res.body).toEqual({ error: { code, message: expect.any(String) } });
      expect(log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    });

    it('a TIFF-based camera RAW (sniffed as cr2) is 415', async () => {
      const raw = tiff();
      // Canon CR2: "CR" followed by major version 2 at byte 8 after the TIFF header.
      const cr2 = Buffer.concat([
        raw.subarray(0, 8),
        Buffer.from([0x43, 0x52, 2, 0]),
        raw.subarray(12),
      ]);
      const { res } = await upload(cr2, 'x.tif', 'image/tiff');
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it.each([
      ['../../../../etc/passwd.png', 'passwd.png'],
      ['..\\..\\windows\\system32\\x.png', 'x.png'],
      [`${'a'.repeat(300)}.png`, `${'a'.repeat(300)}.png`],
    ])(
      'file name %s reaches the handler as data only, reduced to %s as multer does',
      async (name, kept) => {
        const { res, log } = await upload(png(), name, 'image/png');
        expect(res.status).toBe(200);
        expect(log.runs).toBe(1);
        expect(res.body.files[0].originalname).toBe(kept);
        expect(res.body.photodna.files[0].originalname).toBe(kept);
      },
    );

    it('a request with one bad file among good ones is rejected whole, before any call', async () => {
      const ctx = await setup();
      const res = await request(ctx.app)
        .post('/upload')
        .attach('a', png(), 'a.png')
        .attach('b', hostile.svg(), 'b.png')
        .attach('c', jpg(), 'c.jpg');
      expect(res.status).toBe(415);
      expect(ctx.log.runs).toBe(0);
      expect(ctx.matcher.calls).toHaveLength(0);
    });
  });
});
