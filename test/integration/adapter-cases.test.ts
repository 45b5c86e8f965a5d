/**
 * The cases that ran on Express only, now on every adapter of the shared suite: multer's
 * selectors, limits, malformed bodies, aborted uploads, double guards and pass-through.
 */
import { readdirSync } from 'node:fs';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { jpg, png } from '../fixtures/images.js';
import { type Adapter, adapters, type RouteSpec, type Running } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { abortMidUpload, multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

const temp = expectNoTempFiles();

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  /** The guard parses the body (not the host's parser in `scan()` mode): the parsing cases. */
  const parses = adapter.hostParser === undefined;
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  async function start(
    routes: RouteSpec[],
    config: { global?: boolean; limits?: Record<string, number> } = {},
  ) {
    const matcher = new RecordingMatcher();
    const server = await adapter.start(
      { matcher, ...(config.limits ? { limits: config.limits } : {}) },
      routes,
      { global: config.global ?? false },
    );
    running.push(server);
    return { server, matcher };
  }

  describe('pass-through', () => {
    it('leaves a non-multipart request unscanned; the handler runs', async () => {
      const { server, matcher } = await start([{ path: '/upload' }], { global: true });
      const res = await request(server.url).post('/upload').send({ hello: 'world' });
      expect(res.status).toBe(200);
      expect(res.body.photodna).toBeUndefined();
      expect(server.log.runs).toBe(1);
      expect(matcher.calls).toHaveLength(0);
    });

    it('a multipart request without files is scanned (status clean, no call), fields reach the handler', async () => {
      const { server, matcher } = await start([{ path: '/upload' }], { global: true });
      const res = await request(server.url).post('/upload').field('title', 'holiday');
      expect(res.status).toBe(200);
      expect(res.body.photodna).toEqual({ status: 'clean', files: [] });
      expect(res.body.body).toEqual({ title: 'holiday' });
      expect(matcher.calls).toHaveLength(0);
    });
  });

  describe.runIf(parses)('selectors', () => {
    it('single(field) gives the one file; another field answers 413 LIMIT_EXCEEDED', async () => {
      const { server } = await start([{ path: '/upload', use: (g) => g.single('avatar') }]);
      const ok = await request(server.url).post('/upload').attach('avatar', png(), 'me.png');
      expect(ok.status).toBe(200);
      expect(ok.body.file).toMatchObject({ fieldname: 'avatar', originalname: 'me.png' });
      expect(ok.body.files).toBeUndefined();
      const bad = await request(server.url).post('/upload').attach('other', png(), 'x.png');
      expect(bad.status).toBe(413);
      expect(bad.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(server.log.runs).toBe(1);
    });

    it('array(field, max) accepts up to max and rejects max + 1', async () => {
      const { server, matcher } = await start([
        { path: '/upload', use: (g) => g.array('pics', 2) },
      ]);
      const ok = await request(server.url)
        .post('/upload')
        .attach('pics', png(200, 200, 1), 'a.png')
        .attach('pics', png(200, 200, 2), 'b.png');
      expect(ok.status).toBe(200);
      expect(ok.body.files).toHaveLength(2);
      let tooMany = request(server.url).post('/upload');
      for (const i of [3, 4, 5]) tooMany = tooMany.attach('pics', png(200, 200, i), `${i}.png`);
      const res = await tooMany;
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(server.log.runs).toBe(1);
      expect(matcher.calls).toHaveLength(2);
    });

    it('fields(spec) groups files by field', async () => {
      const spec = [
        { name: 'front', maxCount: 1 },
        { name: 'back', maxCount: 1 },
      ];
      const { server } = await start([{ path: '/upload', use: (g) => g.fields(spec) }]);
      const res = await request(server.url)
        .post('/upload')
        .attach('front', png(200, 200, 1), 'f.png')
        .attach('back', jpg(), 'b.jpg');
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.files).sort()).toEqual(['back', 'front']);
      expect(res.body.photodna.files).toHaveLength(2);
    });

    it('none() accepts text fields and rejects any file', async () => {
      const { server } = await start([{ path: '/upload', use: (g) => g.none() }]);
      const ok = await request(server.url).post('/upload').field('name', 'x');
      expect(ok.status).toBe(200);
      expect(ok.body.body).toEqual({ name: 'x' });
      const bad = await request(server.url).post('/upload').attach('f', png(), 'f.png');
      expect(bad.status).toBe(413);
      expect(bad.body.error.code).toBe('LIMIT_EXCEEDED');
    });
  });

  describe('limits', () => {
    it.runIf(parses).each([
      [
        'maxFiles',
        { maxFiles: 1 },
        (r: request.Test) =>
          r.attach('a', png(200, 200, 1), 'a.png').attach('b', png(200, 200, 2), 'b.png'),
      ],
      ['maxFields', { maxFields: 1 }, (r: request.Test) => r.field('a', '1').field('b', '2')],
      ['maxFieldSize', { maxFieldSize: 10 }, (r: request.Test) => r.field('a', 'x'.repeat(11))],
      [
        'maxParts',
        { maxParts: 2 },
        (r: request.Test) => r.field('a', '1').field('b', '2').field('c', '3'),
      ],
      ['maxFieldNameSize', { maxFieldNameSize: 5 }, (r: request.Test) => r.field('longname', '1')],
    ])('%s exceeded → 413 LIMIT_EXCEEDED', async (_, limits, build) => {
      const { server } = await start([{ path: '/upload' }], { global: true, limits });
      const res = await build(request(server.url).post('/upload'));
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
      expect(server.log.runs).toBe(0);
    });

    it.runIf(parses)('has finite defaults (11 files are refused)', async () => {
      const { server } = await start([{ path: '/upload' }], { global: true });
      let req = request(server.url).post('/upload');
      for (let i = 0; i < 11; i++) req = req.attach(`f${i}`, png(160, 160, i), `${i}.png`);
      const res = await req;
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
    });

    it('a file over maxFileSize → 413 FILE_TOO_LARGE, while it streams', async () => {
      const { server, matcher } = await start([{ path: '/upload' }], {
        global: true,
        limits: { maxFileSize: 1000 },
      });
      const res = await request(server.url).post('/upload').attach('f', png(), 'big.png');
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('FILE_TOO_LARGE');
      expect(matcher.calls).toHaveLength(0);
    });
  });

  describe.runIf(parses)('malformed multipart', () => {
    const boundary = 'XyZboundary';
    it.each([
      [
        'a body cut before the closing boundary',
        multipartBody(boundary, [{ name: 'f', filename: 'a.png', data: png() }]).subarray(0, 500),
      ],
      [
        'a part with a broken header',
        Buffer.from(
          `--${boundary}\r\nContent-Disposition form-data name\r\n\r\nx\r\n--${boundary}--\r\n`,
        ),
      ],
      ['garbage', Buffer.from('this is not multipart at all')],
    ])('%s → 400 MALFORMED_MULTIPART', async (_, body) => {
      const { server, matcher } = await start([{ path: '/upload' }], { global: true });
      const res = await request(server.url)
        .post('/upload')
        .set('content-type', `multipart/form-data; boundary=${boundary}`)
        .send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
      expect(server.log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    });
  });

  describe('a client that aborts mid-upload', () => {
    it('spends no call, raises nothing, and the server keeps serving', async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      process.on('uncaughtException', onUnhandled);
      try {
        const { server, matcher } = await start([{ path: '/upload' }], { global: true });
        const events: string[] = [];
        server.guard
          .on('error', () => events.push('error'))
          .on('reject', () => events.push('reject'));
        const boundary = 'abortBoundary';
        const body = multipartBody(boundary, [
          { name: 'f', filename: 'a.png', type: 'image/png', data: png(800, 800) },
        ]);
        for (const cut of [10, 300, Math.floor(body.length / 2), body.length - 10]) {
          await abortMidUpload(server.port, '/upload', body, boundary, cut);
        }
        const after = await request(server.url).post('/upload').attach('f', png(), 'ok.png');
        expect(after.status).toBe(200);
        expect(server.log.runs).toBe(1);
        expect(matcher.calls).toHaveLength(1);
        expect(unhandled).toEqual([]);
        expect(events).toEqual([]);
        // A host parser saving to disk learns of an abort after the client has gone: its files
        // go shortly after, not before the client's socket closes.
        await expect.poll(() => readdirSync(temp.dir()), { timeout: 10_000 }).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        process.off('uncaughtException', onUnhandled);
      }
    });
  });

  describe('route overrides and double guards', () => {
    it.runIf(parses)(
      'a request is never scanned twice (global guard plus route guard)',
      async () => {
        const { server, matcher } = await start(
          [
            {
              path: '/upload',
              use: (g) => g.route({ limits: { maxFileSize: 10_000_000 } }).single('f'),
            },
          ],
          { global: true },
        );
        const res = await request(server.url).post('/upload').attach('f', png(), 'a.png');
        expect(res.status).toBe(200);
        expect(res.body.file).toMatchObject({ fieldname: 'f' });
        expect(res.body.photodna.status).toBe('clean');
        expect(matcher.calls).toHaveLength(1);
        expect(server.log.runs).toBe(1);
      },
    );

    it('route limits override the guard’s', async () => {
      const { server } = await start([
        { path: '/small', use: (g) => g.route({ limits: { maxFileSize: 500 } }) },
        { path: '/upload', use: (g) => g },
      ]);
      const big = png();
      const small = await request(server.url).post('/small').attach('f', big, 'a.png');
      expect(small.status).toBe(413);
      const upload = await request(server.url).post('/upload').attach('f', big, 'a.png');
      expect(upload.status).toBe(200);
    });
  });
});
