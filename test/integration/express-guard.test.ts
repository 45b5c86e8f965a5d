import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import multer from 'multer';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionsError, photodnaGuard } from '../../src/index.js';
import { hostile, jpg, png } from '../fixtures/images.js';
import { appWith, echo, guarded, listen } from '../helpers/express-app.js';
import { RecordingMatcher } from '../helpers/matchers.js';
import { abortMidUpload, multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

expectNoTempFiles();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function guardWith(options: Parameters<typeof photodnaGuard>[0] = {}) {
  const matcher = new RecordingMatcher();
  const guard = photodnaGuard({ matcher, ...options });
  closers.push(() => guard.close());
  return { guard, matcher };
}

describe('app.use(guard)', () => {
  it('leaves non-multipart requests untouched and unread', async () => {
    const { guard, matcher } = guardWith();
    const { app, log } = appWith(guarded(guard));
    const res = await request(app).post('/json').send({ hello: 'world' });
    expect(res.status).toBe(200);
    expect(res.body.body).toEqual({ hello: 'world' }); // express.json() after the guard could still read it
    expect(res.body.photodna).toBeUndefined();
    expect(log.runs).toBe(1);
    expect(matcher.calls).toHaveLength(0);
  });

  it('sets req.files and req.body as multer().any() would, plus the client claim as clientMimetype', async () => {
    const { guard } = guardWith();
    const app = express();
    app.post('/guarded', guard, (req, res) => res.json({ files: req.files, body: req.body }));
    app.post('/multer', multer().any(), (req, res) =>
      res.json({ files: req.files, body: req.body }),
    );
    const send = (path: string) =>
      request(app)
        .post(path)
        .field('title', 'holiday')
        .field('tags[]', 'a')
        .field('tags[]', 'b')
        .field('meta[author]', 'x')
        .attach('first', png(200, 200, 1), { filename: 'one.png', contentType: 'image/png' })
        .attach('second', jpg(200, 200, 2), { filename: 'two.jpg', contentType: 'image/jpeg' });
    const [ours, theirs] = await Promise.all([send('/guarded'), send('/multer')]);
    expect(ours.status).toBe(200);
    // The files' mimetype is the sniffed type (here equal to the claim, kept as clientMimetype).
    const files = (theirs.body.files as Array<{ mimetype: string }>).map((f) => ({
      ...f,
      clientMimetype: f.mimetype,
    }));
    expect(ours.body).toEqual({ ...theirs.body, files });
    expect(ours.body.body).toEqual({ title: 'holiday', tags: ['a', 'b'], meta: { author: 'x' } });
  });

  it('sets req.photodna with the sniffed facts of every file', async () => {
    const { guard } = guardWith();
    const { app } = appWith(guarded(guard));
    const bytes = png(300, 200);
    const res = await request(app)
      .post('/upload')
      .attach('pic', bytes, { filename: 'p.gif', contentType: 'image/gif' });
    const { createHash } = await import('node:crypto');
    expect(res.body.photodna).toEqual({
      status: 'clean',
      files: [
        {
          field: 'pic',
          originalname: 'p.gif',
          mimetype: 'image/png',
          size: bytes.length,
          width: 300,
          height: 200,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          isMatch: false,
          trackingId: 'test_1',
          matchFlags: [],
        },
      ],
    });
  });

  it('a multipart request without files is scanned (status clean, no call)', async () => {
    const { guard, matcher } = guardWith();
    const { app, log } = appWith(guarded(guard));
    const res = await request(app).post('/upload').field('a', '1');
    expect(res.status).toBe(200);
    expect(res.body.photodna).toEqual({ status: 'clean', files: [] });
    expect(log.runs).toBe(1);
    expect(matcher.calls).toHaveLength(0);
  });
});

describe('multer-compatible selectors', () => {
  function app(
    mount: (
      guard: ReturnType<typeof photodnaGuard>,
      a: express.Express,
      log: { runs: number },
    ) => void,
  ) {
    const { guard, matcher } = guardWith();
    const built = appWith((a, log) => mount(guard, a, log));
    return { ...built, matcher };
  }

  it('single(field) sets req.file', async () => {
    const { app: a } = app((guard, a, log) => a.post('/upload', guard.single('avatar'), echo(log)));
    const res = await request(a).post('/upload').attach('avatar', png(), 'me.png');
    expect(res.status).toBe(200);
    expect(res.body.file).toMatchObject({
      fieldname: 'avatar',
      originalname: 'me.png',
      hasBuffer: true,
    });
    expect(res.body.files).toBeUndefined();
  });

  it('single(field) rejects another file field with 413 LIMIT_EXCEEDED', async () => {
    const { app: a, log } = app((guard, a, log) =>
      a.post('/upload', guard.single('avatar'), echo(log)),
    );
    const res = await request(a).post('/upload').attach('other', png(), 'x.png');
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(log.runs).toBe(0);
  });

  it('array(field, max) accepts up to max and rejects max + 1', async () => {
    const {
      app: a,
      log,
      matcher,
    } = app((guard, a, log) => a.post('/upload', guard.array('pics', 2), echo(log)));
    const ok = await request(a)
      .post('/upload')
      .attach('pics', png(200, 200, 1), 'a.png')
      .attach('pics', png(200, 200, 2), 'b.png');
    expect(ok.status).toBe(200);
    expect(ok.body.files).toHaveLength(2);
    const tooMany = await request(a)
      .post('/upload')
      .attach('pics', png(200, 200, 3), 'a.png')
      .attach('pics', png(200, 200, 4), 'b.png')
      .attach('pics', png(200, 200, 5), 'c.png');
    expect(tooMany.status).toBe(413);
    expect(tooMany.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(log.runs).toBe(1);
    expect(matcher.calls).toHaveLength(2);
  });

  it('fields(spec) groups files by field', async () => {
    const { app: a } = app((guard, a, log) =>
      a.post(
        '/upload',
        guard.fields([
          { name: 'front', maxCount: 1 },
          { name: 'back', maxCount: 1 },
        ]),
        echo(log),
      ),
    );
    const res = await request(a)
      .post('/upload')
      .attach('front', png(200, 200, 1), 'f.png')
      .attach('back', jpg(), 'b.jpg');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.files).sort()).toEqual(['back', 'front']);
    expect(res.body.photodna.files).toHaveLength(2);
  });

  it('none() accepts text fields and rejects any file', async () => {
    const { app: a } = app((guard, a, log) => a.post('/upload', guard.none(), echo(log)));
    const ok = await request(a).post('/upload').field('name', 'x');
    expect(ok.status).toBe(200);
    expect(ok.body.body).toEqual({ name: 'x' });
    const bad = await request(a).post('/upload').attach('f', png(), 'f.png');
    expect(bad.status).toBe(413);
    expect(bad.body.error.code).toBe('LIMIT_EXCEEDED');
  });
});

describe('limits', () => {
  it.each([
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
    const { guard } = guardWith({ limits });
    const { app, log } = appWith(guarded(guard));
    const res = await build(request(app).post('/upload'));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(log.runs).toBe(0);
  });

  it('has finite defaults (11 files are refused)', async () => {
    const { guard } = guardWith();
    const { app } = appWith(guarded(guard));
    let req = request(app).post('/upload');
    for (let i = 0; i < 11; i++) req = req.attach(`f${i}`, png(160, 160, i), `${i}.png`);
    const res = await req;
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
  });
});

describe('malformed multipart', () => {
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
    [
      'a part header over 16 KiB',
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(17 * 1024)}\r\n\r\nx\r\n--${boundary}--\r\n`,
      ),
    ],
  ])('%s → 400 MALFORMED_MULTIPART', async (_, body) => {
    const { guard, matcher } = guardWith();
    const { app, log } = appWith(guarded(guard));
    const res = await request(app)
      .post('/upload')
      .set('content-type', `multipart/form-data; boundary=${boundary}`)
      .send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
    expect(log.runs).toBe(0);
    expect(matcher.calls).toHaveLength(0);
  });

  it('a multipart type without a boundary → 400 MALFORMED_MULTIPART', async () => {
    const { guard } = guardWith();
    const { app } = appWith(guarded(guard));
    const res = await request(app)
      .post('/upload')
      .set('content-type', 'multipart/form-data')
      .send('abc');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
  });
});

describe('a client that aborts mid-upload', () => {
  it('leaves no temp file, no unhandled error, spends no call, and the server keeps serving', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    try {
      const { guard, matcher } = guardWith();
      const errors: unknown[] = [];
      guard.on('error', (e) => errors.push(e));
      const { app, log } = appWith(guarded(guard));
      const server = await listen(app);
      closers.push(server.close);
      const boundary = 'abortBoundary';
      const body = multipartBody(boundary, [
        { name: 'f', filename: 'a.png', type: 'image/png', data: png(800, 800) },
      ]);
      for (const cut of [10, 300, Math.floor(body.length / 2), body.length - 10]) {
        await abortMidUpload(server.port, '/upload', body, boundary, cut);
      }
      // A barrier instead of a wait: the sockets above are closed, so the server has seen every
      // abort before this request; its one handler run and one call are the only ones.
      const after = await request(server.url).post('/upload').attach('f', png(), 'ok.png');
      expect(after.status).toBe(200);
      expect(log.runs).toBe(1);
      expect(matcher.calls).toHaveLength(1);
      expect(unhandled).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
    }
  });
});

describe('guard.scan() after the host’s own multer', () => {
  const uploadDir = mkdtempSync(join(tmpdir(), 'pdg-uploads-'));
  afterAll(() => rmSync(uploadDir, { recursive: true, force: true }));

  it('checks memory-storage files', async () => {
    const { guard, matcher } = guardWith();
    const { app, log } = appWith((a, log) =>
      a.post('/upload', multer().single('f'), guard.scan(), echo(log)),
    );
    const ok = await request(app).post('/upload').attach('f', png(), 'a.png');
    expect(ok.status).toBe(200);
    expect(ok.body.photodna.status).toBe('clean');
    const bad = await request(app).post('/upload').attach('f', hostile.svg(), 'a.png');
    expect(bad.status).toBe(415);
    expect(log.runs).toBe(1);
    expect(matcher.calls).toHaveLength(1);
  });

  it('a body of more text values than the field-image check looks through is 413 LIMIT_EXCEEDED, never partly checked', async () => {
    const { guard, matcher } = guardWith();
    // The host's multer sets no field limit: an image could hide after 10,000 other values.
    const { app, log } = appWith((a, log) =>
      a.post('/upload', multer().single('f'), guard.scan(), echo(log)),
    );
    const parts = Array.from({ length: 10_001 }, (_, i) => ({ name: `n${i}`, data: 'x' }));
    const body = multipartBody('ManyFields', [
      ...parts,
      { name: 'avatar', data: `data:image/png;base64,${png().toString('base64')}` },
    ]);
    const res = await request(app)
      .post('/upload')
      .set('content-type', 'multipart/form-data; boundary=ManyFields')
      .send(body);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('LIMIT_EXCEEDED');
    expect(log.runs).toBe(0);
    expect(matcher.calls).toHaveLength(0);
  });

  it('checks disk-storage files and deletes a rejected one from disk', async () => {
    const { guard } = guardWith();
    const { app, log } = appWith((a, log) =>
      a.post('/upload', multer({ dest: uploadDir }).array('f'), guard.scan(), echo(log)),
    );
    const ok = await request(app).post('/upload').attach('f', jpg(), 'a.jpg');
    expect(ok.status).toBe(200);
    expect(ok.body.files[0].path).toContain(uploadDir);
    expect(readdirSync(uploadDir)).toHaveLength(1);
    const bad = await request(app)
      .post('/upload')
      .attach('f', png(), 'good.png')
      .attach('f', png(100, 100), 'small.png');
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('IMAGE_TOO_SMALL');
    expect(readdirSync(uploadDir)).toHaveLength(1); // both files of the rejected request are gone
    expect(log.runs).toBe(1);
  });

  it('a disk file over maxFileSize is rejected without being read', async () => {
    const { guard } = guardWith({ limits: { maxFileSize: 1000 } });
    const { app } = appWith((a, log) =>
      a.post('/upload', multer({ dest: uploadDir }).single('f'), guard.scan(), echo(log)),
    );
    const before = readdirSync(uploadDir).length;
    const res = await request(app).post('/upload').attach('f', png(), 'a.png');
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('FILE_TOO_LARGE');
    expect(readdirSync(uploadDir)).toHaveLength(before);
  });
});

describe('guard.route(overrides) and double guards', () => {
  it('a request is never scanned twice (global guard plus route guard)', async () => {
    const { guard, matcher } = guardWith();
    const { app, log } = appWith((a, log) => {
      a.use(guard);
      a.post(
        '/upload',
        guard.route({ limits: { maxFileSize: 10_000_000 } }).single('f'),
        echo(log),
      );
    });
    const res = await request(app).post('/upload').attach('f', png(), 'a.png');
    expect(res.status).toBe(200);
    expect(res.body.file).toMatchObject({ fieldname: 'f' });
    expect(matcher.calls).toHaveLength(1);
    expect(log.runs).toBe(1);
  });

  it('route limits override the guard’s', async () => {
    const { guard } = guardWith();
    const { app } = appWith((a, log) => {
      a.post('/small', guard.route({ limits: { maxFileSize: 500 } }), echo(log));
      a.post('/upload', guard, echo(log));
    });
    const big = png();
    expect((await request(app).post('/small').attach('f', big, 'a.png')).status).toBe(413);
    expect((await request(app).post('/upload').attach('f', big, 'a.png')).status).toBe(200);
  });

  it('route overrides are validated', () => {
    const { guard } = guardWith();
    expect(() => guard.route({ limits: { maxFilesize: 1 } } as never)).toThrow(
      /limits\.maxFilesize.*maxFileSize/,
    );
    expect(() => guard.route({ policy: 'quarantine' })).toThrow(/quarantine/);
  });
});

describe('events', () => {
  it('on / once / off deliver typed reject and scan events', async () => {
    const { guard } = guardWith();
    const rejects: string[] = [];
    const scans: string[] = [];
    const onceSeen: string[] = [];
    const onReject = (e: { code: string }) => rejects.push(e.code);
    guard
      .on('reject', onReject)
      .on('scan', (e) => scans.push(e.outcome))
      .once('reject', (e) => onceSeen.push(e.code));
    const { app } = appWith(guarded(guard));
    await request(app).post('/upload').attach('f', hostile.pdf(), 'a.png');
    await request(app).post('/upload').attach('f', png(), 'a.png');
    guard.off('reject', onReject);
    await request(app).post('/upload').attach('f', hostile.pdf(), 'a.png');
    expect(rejects).toEqual(['UNSUPPORTED_MEDIA_TYPE']);
    expect(onceSeen).toEqual(['UNSUPPORTED_MEDIA_TYPE']);
    expect(scans).toEqual(['clean']);
  });

  it('a listener that throws breaks nothing and surfaces as an error event', async () => {
    const warnings: unknown[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: unknown) => warnings.push(o) };
    const { guard } = guardWith({ logger });
    const errors: string[] = [];
    guard.on('scan', () => {
      throw new Error('listener bug');
    });
    guard.on('error', (e) => errors.push(`${e.stage}:${e.error.message}`));
    const { app } = appWith(guarded(guard));
    const res = await request(app).post('/upload').attach('f', png(), 'a.png');
    expect(res.status).toBe(200);
    expect(errors).toEqual(['listener:listener bug']);
    expect(warnings).toHaveLength(1);
  });
});

describe('options', () => {
  it('an unknown option throws, naming it and the likely intended one', () => {
    expect(() =>
      photodnaGuard({ matcher: new RecordingMatcher(), limits: { maxFilesize: 1 } } as never),
    ).toThrow(/limits\.maxFilesize.*did you mean 'maxFileSize'/);
    expect(() =>
      photodnaGuard({ matcher: new RecordingMatcher(), polcy: 'block' } as never),
    ).toThrow(/'polcy'.*'policy'/);
  });

  it('a wrong value names the option path and what was expected', () => {
    try {
      photodnaGuard({ matcher: new RecordingMatcher(), limits: { maxFileSize: -1 } });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).paths).toEqual(['limits.maxFileSize']);
      expect((error as Error).message).toMatch(/limits\.maxFileSize/);
    }
    expect(() =>
      photodnaGuard({ matcher: new RecordingMatcher(), policy: 'delete' as never }),
    ).toThrow(/policy/);
    expect(() =>
      photodnaGuard({ matcher: new RecordingMatcher(), failMode: 'ajar' as never }),
    ).toThrow(/failMode/);
  });

  it("policy 'quarantine' without a store is refused at start-up", () => {
    expect(() => photodnaGuard({ matcher: new RecordingMatcher(), policy: 'quarantine' })).toThrow(
      /quarantine/,
    );
  });

  it('without a matcher and without a key the guard refuses to start', () => {
    const saved = process.env.PHOTODNA_API_KEY;
    delete process.env.PHOTODNA_API_KEY;
    try {
      expect(() => photodnaGuard()).toThrow(/apiKey/);
    } finally {
      if (saved !== undefined) process.env.PHOTODNA_API_KEY = saved;
    }
  });
});
