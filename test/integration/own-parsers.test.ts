import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import busboy from 'busboy';
import express from 'express';
import formidable from 'formidable';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { png } from '../fixtures/images.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * `app.use(guard)` in front of routes that parse uploads themselves (issue 10): those routes get
 * the same `req.file(s)`/`req.body`, storage and errors as without the guard, while a matched
 * file never reaches them. Each case runs the same request against the app with and without
 * the guard and compares what the handler saw.
 */
const CLEAN = png(200, 200, 61);
const OTHER = png(200, 200, 62);
const KNOWN = png(200, 200, 63);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-own-'));
  dirs.push(dir);
  return dir;
};

type Describe = (f: Express.Multer.File) => Record<string, unknown>;
const describeFile: Describe = (f) => ({
  field: f.fieldname,
  name: f.originalname,
  size: f.size,
  sha: f.buffer ? sha(f.buffer) : undefined,
  onDisk: typeof f.path === 'string',
});

function expressApp(
  guarded: boolean,
  mount: (app: express.Express) => void,
  policy: 'block' | 'flag' = 'block',
) {
  const app = express();
  const matcher = new RecordingMatcher([sha(KNOWN)]);
  if (guarded) app.use(photodnaGuard({ matcher, policy }));
  mount(app);
  app.use(((error, _req, res, _next) => {
    res.status(500).json({ hostError: (error as Error).message });
  }) as express.ErrorRequestHandler);
  return app;
}

const echo: express.RequestHandler = (req, res) => {
  const files = Array.isArray(req.files)
    ? req.files.map(describeFile)
    : req.files
      ? Object.fromEntries(Object.entries(req.files).map(([k, v]) => [k, v.map(describeFile)]))
      : undefined;
  res.json({ file: req.file ? describeFile(req.file) : undefined, files, body: req.body });
};

/** The same request against the app without and with the guard: the answers must agree. */
async function same(
  mount: (app: express.Express) => void,
  send: (r: request.Test) => request.Test,
) {
  const bare = await send(request(expressApp(false, mount)).post('/upload'));
  const guarded = await send(request(expressApp(true, mount)).post('/upload'));
  expect(guarded.status).toBe(bare.status);
  expect(guarded.body).toEqual(bare.body);
  return guarded;
}

describe('Express: app.use(guard) in front of the route’s own parser', () => {
  it('per-route multer, memory storage: same req.file and req.body', async () => {
    const res = await same(
      (app) => app.post('/upload', multer().single('avatar'), echo),
      (r) => r.field('note', 'hi').attach('avatar', CLEAN, 'a.png'),
    );
    expect(res.status).toBe(200);
    expect(res.body.file).toMatchObject({ field: 'avatar', sha: sha(CLEAN) });
    expect(res.body.files).toBeUndefined();
  });

  it('per-route multer, disk storage: the file lands on disk as without the guard', async () => {
    const dir = tempDir();
    const res = await same(
      (app) =>
        app.post('/upload', multer({ dest: dir }).array('p', 2), (req, res) => {
          const files = req.files as Express.Multer.File[];
          res.json({ files: files.map((f) => ({ size: f.size, inDir: f.path.startsWith(dir) })) });
        }),
      (r) => r.attach('p', CLEAN, 'a.png').attach('p', OTHER, 'b.png'),
    );
    expect(res.body.files).toEqual([
      { size: CLEAN.length, inDir: true },
      { size: OTHER.length, inDir: true },
    ]);
    expect(readdirSync(dir)).toHaveLength(4); // two runs, two files each
  });

  it('a custom StorageEngine sees the same stream', async () => {
    const engine: multer.StorageEngine = {
      _handleFile(_req, file, cb) {
        const hash = createHash('sha256');
        file.stream.on('data', (c: Buffer) => hash.update(c));
        file.stream.on('end', () => cb(null, { path: `memory:${hash.digest('hex')}` }));
      },
      _removeFile(_req, _file, cb) {
        cb(null);
      },
    };
    const res = await same(
      (app) =>
        app.post('/upload', multer({ storage: engine }).single('f'), (req, res) => {
          res.json({ path: req.file?.path });
        }),
      (r) => r.attach('f', CLEAN, 'a.png'),
    );
    expect(res.body.path).toBe(`memory:${sha(CLEAN)}`);
  });

  it("multer's field rules and errors are multer's: a wrong field is its own error", async () => {
    const res = await same(
      (app) => app.post('/upload', multer().single('avatar'), echo),
      (r) => r.attach('other', CLEAN, 'a.png'),
    );
    expect(res.status).toBe(500);
    expect(res.body.hostError).toBe('Unexpected file field');
  });

  it('multer().any() mounted after the guard', async () => {
    const res = await same(
      (app) => app.post('/upload', multer().any(), echo),
      (r) => r.field('a', '1').attach('x', CLEAN, 'a.png').attach('y', OTHER, 'b.png'),
    );
    expect(res.body.files).toHaveLength(2);
    expect(res.body.body).toEqual({ a: '1' });
  });

  it('busboy used directly', async () => {
    await same(
      (app) =>
        app.post('/upload', (req, res) => {
          const seen: Array<{ name: string; sha: string }> = [];
          const bb = busboy({ headers: req.headers });
          bb.on('file', (name, stream) => {
            const hash = createHash('sha256');
            stream.on('data', (c: Buffer) => hash.update(c));
            stream.on('end', () => seen.push({ name, sha: hash.digest('hex') }));
          });
          bb.on('close', () => res.json({ seen }));
          req.pipe(bb);
        }),
      (r) => r.attach('f', CLEAN, 'a.png'),
    );
  });

  it('formidable 3', async () => {
    const res = await same(
      (app) =>
        app.post('/upload', (req, res, next) => {
          formidable({ uploadDir: tempDir() })
            .parse(req as IncomingMessage)
            .then(([fields, files]) => {
              const f = files.f?.[0];
              res.json({ fields, size: f?.size, name: f?.originalFilename });
            }, next);
        }),
      (r) => r.field('note', 'hi').attach('f', CLEAN, 'a.png'),
    );
    expect(res.body).toEqual({ fields: { note: ['hi'] }, size: CLEAN.length, name: 'a.png' });
  });

  it.each(['text/plain, multipart/form-data; boundary=XB', 'text/plain; x=multipart; boundary=XB'])(
    'a Content-Type that mentions multipart but multer will not read (%s): refused, never passed on unread',
    async (type) => {
      let runs = 0;
      const app = expressApp(true, (a) =>
        a.post('/upload', (req, res, next) => {
          runs += 1;
          formidable({ uploadDir: tempDir() })
            .parse(req as IncomingMessage)
            .then(([, files]) => res.json({ files: Object.keys(files) }), next);
        }),
      );
      // formidable reads any of these as multipart (it looks for 'multipart' and a boundary).
      const body = Buffer.concat([
        Buffer.from(
          '--XB\r\nContent-Disposition: form-data; name="f"; filename="k.png"\r\nContent-Type: image/png\r\n\r\n',
        ),
        KNOWN,
        Buffer.from('\r\n--XB--\r\n'),
      ]);
      const res = await request(app).post('/upload').set('Content-Type', type).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('MALFORMED_MULTIPART');
      expect(runs).toBe(0);
    },
  );

  /** A multipart body of raw parts (header lines, then bytes), boundary `XB`. */
  const rawBody = (parts: Array<{ headers: string[]; data: Buffer }>) =>
    Buffer.concat([
      ...parts.flatMap((part) => [
        Buffer.from(`--XB\r\n${part.headers.join('\r\n')}\r\n\r\n`, 'latin1'),
        part.data,
        Buffer.from('\r\n'),
      ]),
      Buffer.from('--XB--\r\n'),
    ]);

  it.each([
    ['an attachment disposition', ['Content-Disposition: attachment; name="f"; filename="k.png"']],
    [
      'two dispositions, inline first',
      ['Content-Disposition: inline', 'Content-Disposition: form-data; name="f"; filename="k.png"'],
    ],
  ])(
    'a part the guard’s parser skips (%s) never reaches formidable: the route gets the checked body',
    async (_, headers) => {
      const seen: string[] = [];
      const app = expressApp(true, (a) =>
        a.post('/upload', (req, res, next) => {
          formidable({ uploadDir: tempDir() })
            .parse(req as IncomingMessage)
            .then(([fields, files]) => {
              for (const list of Object.values(files)) {
                for (const file of list ?? []) seen.push(sha(readFileSync(file.filepath)));
              }
              res.json({ fields, files: Object.keys(files) });
            }, next);
        }),
      );
      // formidable reads a part of any disposition as a file; busboy (multer) skips it unread.
      const body = rawBody([
        { headers: ['Content-Disposition: form-data; name="note"'], data: Buffer.from('hi') },
        { headers: [...headers, 'Content-Type: image/png'], data: KNOWN },
      ]);
      const res = await request(app)
        .post('/upload')
        .set('Content-Type', 'multipart/form-data; boundary=XB')
        .send(body);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ fields: { note: ['hi'] }, files: [] });
      expect(seen).not.toContain(sha(KNOWN));
    },
  );

  it('file and field names reach the route’s multer as without the guard (latin1 bytes, RFC 5987, quotes)', async () => {
    const res = await same(
      (app) => app.post('/upload', multer().any(), echo),
      (r) =>
        r.set('Content-Type', 'multipart/form-data; boundary=XB').send(
          rawBody([
            // UTF-8 bytes as browsers send them: busboy reads them as latin1, byte for byte.
            {
              headers: [
                `Content-Disposition: form-data; name="${Buffer.from('примечание').toString('latin1')}"`,
              ],
              data: Buffer.from('значение'),
            },
            {
              headers: [
                `Content-Disposition: form-data; name="a"; filename="${Buffer.from('фото.png').toString('latin1')}"`,
                'Content-Type: image/png',
              ],
              data: CLEAN,
            },
            {
              headers: [
                'Content-Disposition: form-data; name="b"; filename*=UTF-8\'\'%E5%9B%BE%20%22x%22.png',
                'Content-Type: image/png',
              ],
              data: OTHER,
            },
            {
              headers: [
                'Content-Disposition: form-data; name="c"; filename="q\\"uote\\\\d.png"',
                'Content-Type: image/png',
              ],
              data: CLEAN,
            },
          ]),
        ),
    );
    expect(res.status).toBe(200);
    const names = (res.body.files as Array<{ name: string }>).map((f) => f.name);
    expect(names).toHaveLength(3);
    expect(Buffer.from(names[0] as string, 'latin1').toString('utf8')).toBe('фото.png');
    expect(names[1]).toBe('图 "x".png');
  });

  it('a body larger than any the limits let through, its excess in the preamble, still reaches the route’s parser whole', async () => {
    const app = express();
    const matcher = new RecordingMatcher([sha(KNOWN)]);
    const limits = {
      maxFiles: 1,
      maxFileSize: 1_000_000,
      maxFields: 1,
      maxFieldSize: 1_000,
      maxParts: 2,
    };
    app.use(photodnaGuard({ matcher, limits }));
    app.post('/upload', multer().single('f'), echo);
    // busboy drops what comes before the first boundary: 2 MiB of it, past what the limits
    // allow a body (the guard once kept the raw body up to that bound, then passed none on).
    const body = Buffer.concat([
      Buffer.alloc(2 * 1024 * 1024, 'x'),
      Buffer.from('\r\n'),
      rawBody([
        {
          headers: [
            'Content-Disposition: form-data; name="f"; filename="a.png"',
            'Content-Type: image/png',
          ],
          data: CLEAN,
        },
      ]),
    ]);
    const res = await request(app)
      .post('/upload')
      .set('Content-Type', 'multipart/form-data; boundary=XB')
      .send(body);
    expect(res.status).toBe(200);
    expect(res.body.file).toMatchObject({ field: 'f', name: 'a.png', sha: sha(CLEAN) });
    expect(matcher.calls).toHaveLength(1);
  });

  it.each(['arrays', 'single files'])(
    'formidable before the guard (%s per field, as koa-body and express-formidable leave them): refused 503 as a configuration failure, never passed unchecked',
    async (shape) => {
      const matcher = new RecordingMatcher([sha(KNOWN)]);
      const guard = photodnaGuard({ matcher });
      const errors: string[] = [];
      guard.on('error', (e) => void errors.push(`${e.reason} ${e.error.message}`));
      let runs = 0;
      const app = express();
      app.use((req, _res, next) => {
        formidable({ uploadDir: tempDir() })
          .parse(req as IncomingMessage)
          .then(([fields, files]) => {
            const single = Object.entries(files).map(([name, list]) => [name, list?.[0]]);
            Object.assign(req, {
              body: fields,
              files: shape === 'arrays' ? files : Object.fromEntries(single),
            });
            next();
          }, next);
      });
      app.use(guard);
      app.post('/upload', (_req, res) => {
        runs += 1;
        res.end();
      });
      const res = await request(app).post('/upload').attach('f', CLEAN, 'a.png');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(res.headers['retry-after']).toMatch(/^\d+$/); // SPEC 3.3: 503 + Retry-After
      expect(runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
      expect(errors).toEqual([
        expect.stringMatching(/^not-configured .*mount the guard before that parser/),
      ]);
      await guard.close();
    },
  );

  it('a matched file never reaches the route’s parser: rejected before it', async () => {
    let runs = 0;
    const app = expressApp(true, (a) =>
      a.post('/upload', multer().single('avatar'), (_req, res) => {
        runs += 1;
        res.end();
      }),
    );
    const res = await request(app).post('/upload').attach('avatar', KNOWN, 'k.png');
    expect(res.status).toBe(422);
    expect(runs).toBe(0);
  });

  it("under 'flag' the route's parser sees the other files, never the matched one", async () => {
    const app = expressApp(true, (a) => a.post('/upload', multer().any(), echo), 'flag');
    const res = await request(app)
      .post('/upload')
      .field('note', 'hi')
      .attach('x', KNOWN, 'k.png')
      .attach('y', CLEAN, 'c.png');
    expect(res.status).toBe(200);
    expect(res.body.files).toEqual([
      { field: 'y', name: 'c.png', size: CLEAN.length, sha: sha(CLEAN), onDisk: false },
    ]);
    expect(res.body.body).toEqual({ note: 'hi' });
  });
  it("a rebuilt body (a match withheld under 'flag') keeps nested and repeated fields as sent", async () => {
    const app = expressApp(true, (a) => a.post('/upload', multer().any(), echo), 'flag');
    const res = await request(app)
      .post('/upload')
      .field('user[name]', 'ada')
      .field('user[tags][]', 'a')
      .field('user[tags][]', 'b')
      .field('note', 'one')
      .field('note', 'two')
      .attach('x', KNOWN, 'k.png')
      .attach('y', CLEAN, 'c.png');
    expect(res.status).toBe(200);
    expect(res.body.files).toEqual([
      { field: 'y', name: 'c.png', size: CLEAN.length, sha: sha(CLEAN), onDisk: false },
    ]);
    expect(res.body.body).toEqual({
      user: { name: 'ada', tags: ['a', 'b'] },
      note: ['one', 'two'],
    });
  });

  it('a replay no parser read is taken back once the answer is written: the request has ended', async () => {
    // Node's server lets a request go at 'finish' only if it has ended; otherwise its connection
    // holds it (and both copies of the body) until the next request, or for as long as it idles.
    let ended: (value: { readableEnded: boolean; files: number }) => void = () => {};
    const seen = new Promise<{ readableEnded: boolean; files: number }>((r) => {
      ended = r;
    });
    const app = expressApp(true, (app) =>
      app.post('/upload', (req, res) => {
        res.on('finish', () =>
          ended({ readableEnded: req.readableEnded, files: (req.files as unknown[]).length }),
        );
        res.json({ ok: true });
      }),
    );
    const res = await request(app).post('/upload').attach('p', CLEAN, 'a.png');
    expect(res.status).toBe(200);
    expect(await seen).toEqual({ readableEnded: true, files: 1 });
  });
  it('only the guard as a whole hands the body on: guard.any() is the route’s parser', async () => {
    const guard = photodnaGuard({ matcher: new RecordingMatcher() });
    const app = express();
    const seen = (req: express.Request, res: express.Response) =>
      res.json({ replayable: !req.readableEnded, files: (req.files as unknown[]).length });
    app.post('/whole', guard, seen);
    app.post('/any', guard.any(), seen);
    const whole = await request(app).post('/whole').attach('p', CLEAN, 'a.png');
    const any = await request(app).post('/any').attach('p', CLEAN, 'a.png');
    expect(whole.body).toEqual({ replayable: true, files: 1 });
    expect(any.body).toEqual({ replayable: false, files: 1 });
    await guard.close();
  });
});

describe('Koa: app.use(guard) in front of @koa/multer and busboy', () => {
  async function run(guarded: boolean, send: (r: request.Test) => request.Test) {
    const app = new Koa();
    if (guarded) app.use(koaGuard({ matcher: new RecordingMatcher([sha(KNOWN)]) }) as never);
    const router = new KoaRouter();
    router.post('/avatar', koaMulter().single('avatar'), (ctx) => {
      const c = ctx as unknown as { file?: Express.Multer.File; files?: unknown };
      ctx.body = {
        file: c.file ? describeFile(c.file) : undefined,
        files: c.files,
        body: (ctx.request as { body?: unknown }).body,
      };
    });
    router.post('/busboy', async (ctx) => {
      ctx.body = await new Promise((resolve) => {
        const seen: string[] = [];
        const bb = busboy({ headers: ctx.req.headers });
        bb.on('file', (_name, stream) => {
          const hash = createHash('sha256');
          stream.on('data', (c: Buffer) => hash.update(c));
          stream.on('end', () => seen.push(hash.digest('hex')));
        });
        bb.on('close', () => resolve({ seen }));
        ctx.req.pipe(bb);
      });
    });
    app.use(router.routes());
    const server = app.listen(0, '127.0.0.1');
    try {
      return await send(request(server).post('/avatar'));
    } finally {
      server.close();
    }
  }

  it('@koa/multer per route: same ctx.file and body', async () => {
    const send = (r: request.Test) => r.field('note', 'hi').attach('avatar', CLEAN, 'a.png');
    const bare = await run(false, send);
    const guarded = await run(true, send);
    expect(guarded.status).toBe(200);
    expect(guarded.body).toEqual(bare.body);
    expect(guarded.body.file).toMatchObject({ sha: sha(CLEAN) });
    const matched = await run(true, (r) => r.attach('avatar', KNOWN, 'k.png'));
    expect(matched.status).toBe(422);
  });

  it('busboy directly on ctx.req', async () => {
    const send = (r: request.Test) => r.attach('f', CLEAN, 'a.png');
    const path = (r: request.Test) => send(r);
    const app = async (guarded: boolean) => {
      const koa = new Koa();
      if (guarded) koa.use(koaGuard({ matcher: new RecordingMatcher() }) as never);
      koa.use(async (ctx) => {
        ctx.body = await new Promise((resolve) => {
          const seen: string[] = [];
          const bb = busboy({ headers: ctx.req.headers });
          bb.on('file', (_n, stream) => {
            const hash = createHash('sha256');
            stream.on('data', (c: Buffer) => hash.update(c));
            stream.on('end', () => seen.push(hash.digest('hex')));
          });
          bb.on('close', () => resolve({ seen }));
          ctx.req.pipe(bb);
        });
      });
      const server = koa.listen(0, '127.0.0.1');
      try {
        return await path(request(server).post('/'));
      } finally {
        server.close();
      }
    };
    const guarded = await app(true);
    expect(guarded.body).toEqual({ seen: [sha(CLEAN)] });
    expect(guarded.body).toEqual((await app(false)).body);
  });

  it('a replay no parser read is taken back once the answer is written (Koa)', async () => {
    const koa = new Koa();
    koa.use(koaGuard({ matcher: new RecordingMatcher() }) as never);
    const seen = new Promise<boolean>((resolve) => {
      koa.use((ctx) => {
        ctx.res.on('finish', () => resolve(ctx.req.readableEnded));
        ctx.body = { ok: true };
      });
    });
    const server = koa.listen(0, '127.0.0.1');
    try {
      const res = await request(server).post('/').attach('p', CLEAN, 'a.png');
      expect(res.status).toBe(200);
      expect(await seen).toBe(true);
    } finally {
      server.close();
    }
  });
});
