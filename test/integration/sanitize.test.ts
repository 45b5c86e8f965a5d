import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { GuardOptions, MatchEvent, ScanEvent } from '../../src/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { bmp, corruptPixelsPng, jpg, png } from '../fixtures/images.js';
import { exifSegment, pngChunk, withJpegSegments, withPngChunks } from '../fixtures/metadata.js';
import { type Adapter, adapters, type RouteSpec, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

/**
 * Issue 11, class 4: what reaches the handler is exactly what was scanned. Under `sanitize`
 * ('metadata' or 'reencode') an image hidden in a private chunk, an EXIF GPS position and
 * anything else beside the pixels never reach the handler, and the bytes the handler gets are
 * the bytes the matcher saw. Every adapter of the shared suite.
 */

expectNoTempFiles();
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const HIDDEN = knownImage();
// Exact bytes match always; `pdq: true` also matches re-encoded copies, as PhotoDNA would.
const emu = useEmulator({ rateLimit: false, pdq: true });
const root = mkdtempSync(join(tmpdir(), 'pdg-sanitize-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const MODES = ['metadata', 'reencode'] as const;

describe.each([...adapters, ...scanAdapters])(
  'issue 11 class 4: sanitize on $name',
  (adapter: Adapter) => {
    const running: Running[] = [];
    afterEach(async () => {
      await Promise.all(running.splice(0).map((r) => r.close()));
    });
    async function start(options: GuardOptions, routes: RouteSpec[] = [{ path: '/upload' }]) {
      const server = await adapter.start(options, routes, { global: routes.every((r) => !r.use) });
      running.push(server);
      const scans: ScanEvent[] = [];
      const matches: MatchEvent[] = [];
      server.guard.on('scan', (e) => scans.push(e)).on('match', (e) => matches.push(e));
      return { server, scans, matches };
    }

    it.each(MODES)(
      "'%s': a known image in a private PNG chunk never reaches the handler; the handler gets what was scanned",
      async (mode) => {
        const clean = png(200, 200, 4401);
        const carrier = withPngChunks(clean, [pngChunk('prVt', HIDDEN)]);
        // Without sanitize the carrier passes (its own bytes are unknown) and the hidden image rides along.
        const plain = await start(emu.options());
        const unsafe = await request(plain.server.url)
          .post('/upload')
          .attach('f', carrier, 'a.png');
        expect(unsafe.status).toBe(200);
        expect(unsafe.body.files[0].sha256).toBe(sha256(carrier));

        const { server, scans } = await start(emu.options({ sanitize: mode }));
        const hidden = await request(server.url).post('/upload').attach('f', HIDDEN, 'k.png');
        expect(hidden.status).toBe(422); // the hidden image itself is known
        const res = await request(server.url).post('/upload').attach('f', carrier, 'a.png');
        expect(res.status).toBe(200);
        const [file] = res.body.files;
        expect(file.sha256).not.toBe(sha256(carrier));
        // The carrier's pixels are the clean image's: both come out as the same bytes.
        const alone = await request(server.url).post('/upload').attach('f', clean, 'c.png');
        expect(alone.body.files[0].sha256).toBe(file.sha256);
        expect(res.body.photodna).toMatchObject({ status: 'clean' });
        expect(res.body.photodna.files[0].sha256).toBe(file.sha256);
        expect(scans.at(-1)?.file.sha256).toBe(file.sha256);
        if (mode === 'metadata') expect(file.sha256).toBe(sha256(clean));
      },
    );

    it.each(MODES)(
      "'%s': a JPEG's EXIF GPS position is gone from the bytes checked and handed on",
      async (mode) => {
        const matcher = new RecordingMatcher();
        const { server } = await start({ matcher, sanitize: mode });
        const photo = withJpegSegments(jpg(240, 200, 4402), [exifSegment(1)]);
        expect((await sharp(photo).metadata()).exif).toBeDefined();
        const res = await request(server.url).post('/upload').attach('f', photo, 'p.jpg');
        expect(res.status).toBe(200);
        const scanned = matcher.calls[0]?.bytes as Buffer;
        expect(res.body.files[0].sha256).toBe(sha256(scanned));
        expect(res.body.files[0].mimetype).toBe('image/jpeg');
        expect(scanned.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(false);
        expect((await sharp(scanned).metadata()).exif).toBeUndefined();
      },
    );

    it("'reencode': EXIF orientation is applied before the metadata goes", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher, sanitize: 'reencode' });
      // Stored 300x200, to be shown turned 90° (orientation 6): 200x300.
      const photo = withJpegSegments(jpg(300, 200, 4403), [exifSegment(6)]);
      const res = await request(server.url).post('/upload').attach('f', photo, 'p.jpg');
      expect(res.status).toBe(200);
      expect(res.body.photodna.files[0]).toMatchObject({ width: 200, height: 300 });
      const meta = await sharp(matcher.calls[0]?.bytes).metadata();
      expect([meta.width, meta.height, meta.orientation]).toEqual([200, 300, undefined]);
    });

    it("'reencode': a BMP becomes a PNG (type, name and bytes), checked as the PNG", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher, sanitize: 'reencode' });
      const res = await request(server.url)
        .post('/upload')
        .attach('f', bmp(200, 160, 4404), { filename: 'scan.bmp', contentType: 'image/bmp' });
      expect(res.status).toBe(200);
      expect(res.body.files[0]).toMatchObject({
        originalname: 'scan.png',
        mimetype: 'image/png',
        clientMimetype: 'image/bmp',
      });
      expect(res.body.photodna.files[0]).toMatchObject({ mimetype: 'image/png', width: 200 });
      expect(matcher.calls[0]?.contentType).toBe('image/png');
      expect(res.body.files[0].sha256).toBe(sha256(matcher.calls[0]?.bytes as Buffer));
    });

    it("'reencode': a 1-bit palette BMP (decoded by the guard's own decoder) becomes the PNG of its pixels", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher, sanitize: 'reencode' });
      const res = await request(server.url)
        .post('/upload')
        .attach('f', oneBitBmp(200, 160), { filename: 'fax.bmp', contentType: 'image/bmp' });
      expect(res.status).toBe(200);
      expect(res.body.files[0]).toMatchObject({ originalname: 'fax.png', mimetype: 'image/png' });
      const { data, info } = await sharp(matcher.calls[0]?.bytes as Buffer)
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([200, 160]);
      // Bottom-up rows: the first row shown is the last stored. Stripes 8 pixels wide, black first.
      const pixel = (x: number, y: number) => data[(y * info.width + x) * info.channels];
      expect([pixel(0, 0), pixel(8, 0), pixel(16, 159), pixel(31, 80)]).toEqual([0, 255, 0, 255]);
    });

    it("'reencode': an image with a valid header and corrupt pixel data is 422 INVALID_IMAGE, never checked", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher, sanitize: 'reencode' });
      const res = await request(server.url)
        .post('/upload')
        .attach('f', corruptPixelsPng(), 'a.png');
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(matcher.calls).toHaveLength(0);
      expect(server.log.runs).toBe(0);
    });

    it("'reencode': an upload within maxFileSize whose re-encode is over it is 413 FILE_TOO_LARGE, never checked or handed on", async () => {
      // Noise at JPEG quality 5 is small; the same pixels at the re-encode's quality 90 are not.
      const noise = Buffer.alloc(400 * 300 * 3);
      let x = 2463534242;
      for (let i = 0; i < noise.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        noise[i] = x & 0xff;
      }
      const small = await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } })
        .jpeg({ quality: 5 })
        .toBuffer();
      const grown = await sharp(small).jpeg({ quality: 90 }).toBuffer();
      expect(grown.length).toBeGreaterThan(small.length * 1.5);
      const maxFileSize = Math.floor((small.length + grown.length) / 2);
      const matcher = new RecordingMatcher();
      const rejects: Array<{ code: string; detail?: string }> = [];
      const { server } = await start({ matcher, sanitize: 'reencode', limits: { maxFileSize } });
      server.guard.on('reject', (e) => rejects.push(e));
      const res = await request(server.url).post('/upload').attach('f', small, 'a.jpg');
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('FILE_TOO_LARGE');
      expect(rejects).toEqual([
        expect.objectContaining({
          code: 'FILE_TOO_LARGE',
          detail: expect.stringContaining("the sanitized image (sanitize 'reencode')"),
        }),
      ]);
      expect(matcher.calls).toHaveLength(0);
      expect(server.log.runs).toBe(0);
    });

    it("'reencode': every file of a request is re-encoded; one undecodable file refuses the request", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher, sanitize: 'reencode' });
      const ok = await request(server.url)
        .post('/upload')
        .attach('a', png(200, 200, 4410), 'a.png')
        .attach('b', withJpegSegments(jpg(200, 200, 4411), [exifSegment(1)]), 'b.jpg');
      expect(ok.status).toBe(200);
      const scanned = matcher.calls.map((c) => sha256(c.bytes)).sort();
      expect(ok.body.files.map((f: { sha256: string }) => f.sha256).sort()).toEqual(scanned);
      const bad = await request(server.url)
        .post('/upload')
        .attach('a', png(200, 200, 4412), 'a.png')
        .attach('b', corruptPixelsPng(), 'b.png');
      expect(bad.status).toBe(422);
      expect(bad.body.error.code).toBe('INVALID_IMAGE');
      expect(matcher.calls).toHaveLength(2); // nothing of the refused request was checked
      expect(server.log.runs).toBe(1);
    });

    it("'reencode': a data: URL in a text field is replaced by the checked image", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({
        matcher,
        sanitize: 'reencode',
        limits: { maxFieldSize: 1024 * 1024 },
      });
      const carrier = withPngChunks(png(200, 200, 4405), [pngChunk('prVt', HIDDEN)]);
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanB')
        .send(
          multipartBody('SanB', [
            { name: 'crop', data: `data:image/png;base64,${carrier.toString('base64')}` },
          ]),
        );
      expect(res.status).toBe(200);
      const scanned = matcher.calls[0]?.bytes as Buffer;
      expect(res.body.body.crop).toBe(`data:image/png;base64,${scanned.toString('base64')}`);
      expect(scanned.includes(HIDDEN)).toBe(false);
    });

    // @fastify/multipart keeps a part without a file name as a file (multer reads it as text).
    it.runIf(/^fastify5-multipart/.test(adapter.name))(
      "'reencode': a BMP in a file part without a file name is re-encoded, not refused",
      async () => {
        const matcher = new RecordingMatcher();
        const { server } = await start({ matcher, sanitize: 'reencode' });
        const res = await request(server.url)
          .post('/upload')
          .set('content-type', 'multipart/form-data; boundary=SanD')
          .send(
            multipartBody('SanD', [
              { name: 'f', type: 'application/octet-stream', data: bmp(200, 160, 4408) },
            ]),
          );
        expect(res.status).toBe(200);
        expect(matcher.calls.map((c) => c.contentType)).toEqual(['image/png']);
        const [file] = res.body.files;
        expect(file).toMatchObject({ mimetype: 'image/png' });
        expect(file.sha256).toBe(sha256(matcher.calls[0]?.bytes as Buffer));
      },
    );

    it("'metadata': a JPEG posted as base64 text (no data: URL) comes back as base64 of the checked bytes", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({
        matcher,
        sanitize: 'metadata',
        limits: { maxFieldSize: 1024 * 1024 },
      });
      const photo = withJpegSegments(jpg(240, 200, 4407), [exifSegment(1)]);
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanC')
        .send(multipartBody('SanC', [{ name: 'photo', data: photo.toString('base64') }]));
      expect(res.status).toBe(200);
      const scanned = matcher.calls[0]?.bytes as Buffer;
      expect(scanned.equals(photo)).toBe(false); // its EXIF segment was cut out
      // The handler decodes the field as it was posted, and gets exactly what was checked.
      expect(Buffer.from(res.body.body.photo, 'base64').equals(scanned)).toBe(true);
      expect(
        (await sharp(Buffer.from(res.body.body.photo, 'base64')).metadata()).exif,
      ).toBeUndefined();
    });

    it("'metadata': a photo written twice in a post's text comes back stripped in both places", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({
        matcher,
        sanitize: 'metadata',
        limits: { maxFieldSize: 1024 * 1024 },
      });
      const photo = withJpegSegments(jpg(240, 200, 4408), [exifSegment(1)]);
      const url = `data:image/jpeg;base64,${photo.toString('base64')}`;
      const post = `Before: ![a](${url})\n\nAfter: <img src="${url}">`;
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanD')
        .send(multipartBody('SanD', [{ name: 'post', data: post }]));
      expect(res.status).toBe(200);
      const scanned = matcher.calls[0]?.bytes as Buffer;
      expect(scanned.equals(photo)).toBe(false); // its EXIF segment was cut out
      const checked = `data:image/jpeg;base64,${scanned.toString('base64')}`;
      expect(res.body.body.post).toBe(`Before: ![a](${checked})\n\nAfter: <img src="${checked}">`);
    });

    it("'metadata': a photo in a post with an HTML character reference or JSON escape elsewhere comes back stripped, not refused", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({
        matcher,
        sanitize: 'metadata',
        limits: { maxFieldSize: 1024 * 1024 },
      });
      const photo = withJpegSegments(jpg(240, 200, 4410), [exifSegment(1)]);
      const url = (bytes: Buffer) => `data:image/jpeg;base64,${bytes.toString('base64')}`;
      const post = (image: string) => `Tom &amp; Jerry ![a](${image}) {"note":"a\\nb"}`;
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanF')
        .send(multipartBody('SanF', [{ name: 'post', data: post(url(photo)) }]));
      expect(res.status).toBe(200);
      const scanned = matcher.calls[0]?.bytes as Buffer;
      expect(scanned.equals(photo)).toBe(false); // its EXIF segment was cut out
      expect(res.body.body.post).toBe(post(url(scanned)));
    });

    it("'metadata': a photo also written through HTML character references is refused: that copy cannot be replaced", async () => {
      const { server } = await start({
        matcher: new RecordingMatcher(),
        sanitize: 'metadata',
        limits: { maxFieldSize: 1024 * 1024 },
      });
      const photo = withJpegSegments(jpg(240, 200, 4409), [exifSegment(1)]);
      const base64 = photo.toString('base64');
      const post = `<img src="data:image/jpeg;base64,${base64}"> <img src="data:image/jpeg;base64,&#${base64.charCodeAt(0)};${base64.slice(1)}">`;
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanE')
        .send(multipartBody('SanE', [{ name: 'post', data: post }]));
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
    });

    it("'metadata': an image written twice in one field, once where no span of it was read (hex before a comma), is refused: that copy would go on as uploaded", async () => {
      const { server } = await start(
        emu.options({ sanitize: 'metadata', limits: { maxFieldSize: 1024 * 1024 } }),
      );
      const carrier = withPngChunks(png(200, 200, 4412), [pngChunk('prVt', HIDDEN)]);
      // Found once by its bytes, its base64 span rewritten: the hex copy went on as uploaded, and
      // the handler's `Buffer.from(photo, 'hex')` was the carrier, the known image inside.
      const photo = `${carrier.toString('hex')},${carrier.toString('base64')}`;
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', 'multipart/form-data; boundary=SanG')
        .send(multipartBody('SanG', [{ name: 'photo', data: photo }]));
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('INVALID_IMAGE');
      expect(server.log.runs).toBe(0);
    });

    it("a route's sanitize overrides the guard's", async () => {
      const matcher = new RecordingMatcher();
      const { server } = await start({ matcher }, [
        { path: '/upload', use: (g) => g.route({ sanitize: 'metadata' }) },
        { path: '/raw', use: (g) => g },
      ]);
      const photo = withJpegSegments(jpg(200, 200, 4406), [exifSegment(1)]);
      const stripped = await request(server.url).post('/upload').attach('f', photo, 'p.jpg');
      expect(stripped.body.files[0].sha256).not.toBe(sha256(photo));
      const raw = await request(server.url).post('/raw').attach('f', photo, 'p.jpg');
      expect(raw.body.files[0].sha256).toBe(sha256(photo));
    });

    it("a route's stronger sanitize behind app.use(guard) is said once: the files were handed on", async () => {
      const warned: string[] = [];
      const quiet = () => {};
      const logger = {
        debug: quiet,
        info: quiet,
        error: quiet,
        warn: (fields: { code?: string }, message?: string) => {
          if (message?.includes('sanitize')) warned.push(String(fields.code));
        },
      };
      const server = await adapter.start(
        { matcher: new RecordingMatcher(), logger },
        [{ path: '/upload', use: (g) => g.route({ sanitize: 'reencode' }) }],
        { global: true },
      );
      running.push(server);
      const handedAsSent: boolean[] = [];
      for (const seed of [4420, 4421]) {
        const image = png(200, 200, seed);
        const res = await request(server.url).post('/upload').attach('f', image, 'a.png');
        expect(res.status).toBe(200);
        handedAsSent.push(res.body.files[0].sha256 === sha256(image));
      }
      // Never silent: the route's setting applies (Fastify: one guard, route config), or it is said.
      const [asSent] = handedAsSent;
      expect(handedAsSent).toEqual([asSent, asSent]);
      expect(warned).toEqual(asSent ? ['PHOTODNA_GUARD_ROUTE_SHADOWED'] : []);
    });

    it("'reencode': a match quarantines the upload as evidence and notes the scanned copy", async () => {
      const dir = join(root, `q-${dirs++}`);
      const { server, matches } = await start(
        emu.options({ sanitize: 'reencode', policy: 'quarantine', quarantine: { dir } }),
      );
      const res = await request(server.url).post('/upload').attach('f', HIDDEN, 'k.png');
      expect(res.status).toBe(422);
      expect(server.log.runs).toBe(0);
      const [match] = matches;
      expect(match?.file.sha256).not.toBe(sha256(HIDDEN)); // matched on the re-encode (PDQ)
      const store = createFileQuarantineStore({ dir });
      const [record] = await store.list();
      expect(record).toMatchObject({ sha256: sha256(HIDDEN), size: HIDDEN.length });
      expect(record?.scanned).toEqual({
        sanitize: 'reencode',
        sha256: match?.file.sha256,
        size: match?.file.size,
        mimetype: 'image/png',
        width: 320,
        height: 320,
      });
      const { bytes } = await store.get(record?.id as string);
      expect(bytes.equals(HIDDEN)).toBe(true);
    });
  },
);

/** A 1-bit BMP (palette black, white) of vertical stripes 8 pixels wide, black first. */
function oneBitBmp(width: number, height: number): Buffer {
  const rowSize = Math.ceil(width / 32) * 4;
  const offset = 14 + 40 + 8;
  const bytes = Buffer.alloc(offset + rowSize * height);
  bytes.write('BM', 0, 'latin1');
  bytes.writeUInt32LE(bytes.length, 2);
  bytes.writeUInt32LE(offset, 10);
  bytes.writeUInt32LE(40, 14);
  bytes.writeInt32LE(width, 18);
  bytes.writeInt32LE(height, 22);
  bytes.writeUInt16LE(1, 26);
  bytes.writeUInt16LE(1, 28);
  bytes.writeUInt32LE(rowSize * height, 34);
  bytes.writeUInt32LE(2, 46);
  bytes.writeUInt32LE(0x000000, 54);
  bytes.writeUInt32LE(0xffffff, 58);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < rowSize; i++) bytes[offset + y * rowSize + i] = i % 2 === 0 ? 0x00 : 0xff;
  }
  return bytes;
}
