import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { rename, rm, truncate } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import koaMulter from '@koa/multer';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import {
  type ErrorEvent,
  type GuardOptions,
  photodnaGuard,
  type RejectEvent,
} from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

/**
 * The drop-in mode's reads (issue 10): the files a parser ahead of the guard left are measured
 * and found by the guard itself. A storage engine's `size` is not trusted (a custom engine may
 * leave it out or get it wrong, and a disk file may grow after the engine finished), a stored
 * file is read only as the regular file the engine wrote, and every place a framework's parsers
 * leave files is checked, each file once.
 */

const emu = useEmulator({ rateLimit: false });
const temp = expectNoTempFiles();
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/pdq', name));
const CLEAN = fixture('scene1.png');
const OTHER = fixture('scene6.jpg');
const KNOWN = knownImage();
const MAX = 4 * 1024 * 1024;
/** Over Node's 2 GiB `readFile` bound; sparse, so it costs no disk. */
const HUGE = 3 * 1024 * 1024 * 1024;

type StoredInfo = { path: string; size?: number };

/**
 * A custom multer `StorageEngine` that writes each upload to a file of its own in the OS temp
 * directory, then lets `finish` alter what it reports (or the file itself) before answering.
 */
function diskEngine(finish: (info: { path: string; size: number }) => Promise<StoredInfo>) {
  return {
    _handleFile(
      _req: IncomingMessage,
      file: { stream: NodeJS.ReadableStream },
      cb: (error: unknown, info?: StoredInfo) => void,
    ) {
      const path = join(temp.dir(), randomBytes(8).toString('hex'));
      const out = createWriteStream(path);
      pipeline(file.stream, out)
        .then(() => finish({ path, size: out.bytesWritten }))
        .then((info) => cb(null, info), cb);
    },
    _removeFile(_req: IncomingMessage, _file: unknown, cb: (error: unknown) => void) {
      cb(null);
    },
  } as unknown as multer.StorageEngine;
}

/** A memory `StorageEngine` that reports a `size` of its choosing beside the real buffer. */
function memoryEngine(size: number) {
  return {
    _handleFile(
      _req: IncomingMessage,
      file: { stream: NodeJS.ReadableStream },
      cb: (error: unknown, info?: { buffer: Buffer; size: number }) => void,
    ) {
      const chunks: Buffer[] = [];
      file.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      file.stream.on('error', cb);
      file.stream.on('end', () => cb(null, { buffer: Buffer.concat(chunks), size }));
    },
    _removeFile(_req: IncomingMessage, _file: unknown, cb: (error: unknown) => void) {
      cb(null);
    },
  } as unknown as multer.StorageEngine;
}

type Seen = Array<['error', ErrorEvent] | ['reject', RejectEvent]>;

/** An Express app: the host's multer, `guard.scan()`, a handler that records that it ran. */
function expressApp(
  parse: express.RequestHandler,
  options: GuardOptions = {},
  between?: express.RequestHandler,
) {
  const guard = photodnaGuard(emu.options(options));
  const seen: Seen = [];
  guard.on('error', (e) => void seen.push(['error', e]));
  guard.on('reject', (e) => void seen.push(['reject', e]));
  const state = { runs: 0, seen, file: undefined as Express.Multer.File | undefined };
  const app = express();
  app.post(
    '/upload',
    parse,
    between ?? ((_req, _res, next) => next()),
    guard.scan(),
    (req, res) => {
      state.runs++;
      state.file = req.file;
      res.json({ status: (req as { photodna?: { status: string } }).photodna?.status });
    },
  );
  app.use(((error, _req, res, _next) => {
    res.status(500).json({ hostError: (error as Error).message });
  }) as express.ErrorRequestHandler);
  return { app, state };
}

describe("a storage engine's size is not trusted", () => {
  it.each([
    ['reports no size', ({ path }: StoredInfo) => ({ path })],
    ['reports the size it wrote, and the file grew after', (info: StoredInfo) => info],
  ])(
    'disk file over maxFileSize from a custom engine that %s: 413 FILE_TOO_LARGE, never read whole',
    async (_, report) => {
      const storage = diskEngine(async (info) => {
        // Grown past Node's 2 GiB `readFile` bound: read whole, the guard would have failed (and,
        // below that bound, held the whole file in memory before validation refused it).
        await truncate(info.path, HUGE);
        return report(info);
      });
      const { app, state } = expressApp(multer({ storage }).single('photo'));
      const res = await request(app).post('/upload').attach('photo', CLEAN, 'a.png');
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 413,
        code: 'FILE_TOO_LARGE',
      });
      expect(state.runs).toBe(0);
      // The file is deleted, as for any rejected upload (expectNoTempFiles checks).
    },
  );

  it('memory storage whose size disagrees with its buffer: judged by the buffer, handed on with its real size', async () => {
    const { app, state } = expressApp(multer({ storage: memoryEngine(MAX * 2) }).single('photo'));
    const res = await request(app).post('/upload').attach('photo', CLEAN, 'a.png');
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { status: 'clean' },
    });
    expect(state.file?.size).toBe(CLEAN.length);
  });
});

describe('a stored file the guard will not read: the host storage misconfigured, 503', () => {
  it.each([
    [
      'a symlink (its target would outlive a rejection)',
      async (info: StoredInfo) => {
        const store = join(temp.dir(), 'store');
        mkdirSync(store, { recursive: true });
        const target = join(store, 'content');
        await rename(info.path, target);
        symlinkSync(target, info.path);
        return info;
      },
    ],
    [
      'a directory',
      async (info: StoredInfo) => {
        await rm(info.path);
        mkdirSync(info.path);
        return info;
      },
    ],
  ])('file.path is %s: 503 not-configured, error event first, handler not run', async (_, swap) => {
    const paths: string[] = [];
    const storage = diskEngine(async (info) => {
      paths.push(info.path);
      return swap(info);
    });
    const { app, state } = expressApp(multer({ storage }).single('photo'));
    try {
      const res = await request(app).post('/upload').attach('photo', KNOWN, 'k.png');
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 503,
        code: 'SCAN_UNAVAILABLE',
      });
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(state.runs).toBe(0);
      // The configuration failure first, the `reject` last (a directory the guard cannot delete
      // adds a `cleanup` error between them).
      const [first, last] = [state.seen[0], state.seen.at(-1)];
      expect(first?.[0]).toBe('error');
      const error = first?.[1] as ErrorEvent;
      expect(error).toMatchObject({ stage: 'scan', reason: 'not-configured' });
      expect(error.error.message).toMatch(/regular file/);
      expect(last?.[0]).toBe('reject');
    } finally {
      // What the host's engine left behind the path is the host's to remove.
      await rm(join(temp.dir(), 'store'), { recursive: true, force: true });
      for (const path of paths) await rm(path, { recursive: true, force: true });
    }
  });
});

describe('files in every place the parsers leave them, each checked once', () => {
  /** A Koa app: `parse` (the host's parsers and middleware), `guard.scan()`, a handler. */
  function koaApp(parse: Koa.Middleware[], options: GuardOptions = {}) {
    const guard = koaGuard(emu.options(options));
    const state = { runs: 0, rejected: [] as string[] };
    guard.on('reject', (e) => void state.rejected.push(e.code));
    const app = new Koa();
    for (const middleware of parse) app.use(middleware);
    app.use(guard.scan());
    app.use((ctx) => {
      state.runs++;
      ctx.body = { status: ctx.state.photodna?.status };
    });
    return { app, state };
  }

  /** multer run on Node's request, as an Express-middleware bridge (koa-connect) runs it. */
  const multerOnReq =
    (handler: express.RequestHandler): Koa.Middleware =>
    (ctx, next) =>
      new Promise<void>((resolve, reject) => {
        const res = ctx.res as ServerResponse & express.Response;
        handler(ctx.req as express.Request, res, (error?: unknown) =>
          error ? reject(error) : resolve(),
        );
      }).then(next);

  it.each([
    [
      'multer on ctx.req (a koa-connect bridge) and one file copied to ctx.request.file',
      [
        multerOnReq(multer().any()),
        (async (ctx, next) => {
          const files = (ctx.req as { files?: Express.Multer.File[] }).files ?? [];
          (ctx.request as { file?: unknown }).file = files.find((f) => f.fieldname === 'avatar');
          await next();
        }) as Koa.Middleware,
      ],
    ],
    [
      '@koa/multer, then ctx.files narrowed to one field (ctx.request.files keeps all)',
      [
        koaMulter().any() as Koa.Middleware,
        (async (ctx, next) => {
          const all = (ctx as { files?: Express.Multer.File[] }).files ?? [];
          (ctx as { files?: unknown }).files = all.filter((f) => f.fieldname === 'avatar');
          await next();
        }) as Koa.Middleware,
      ],
    ],
  ])('Koa, %s: the known file in the other place is rejected', async (_, parse) => {
    const { app, state } = koaApp(parse);
    const res = await request(app.callback())
      .post('/upload')
      .attach('avatar', CLEAN, 'a.png')
      .attach('extra', KNOWN, 'k.png');
    // Answered like an unreadable image (matchAnswer 'disguised'); the event says why.
    expect(res.status).toBe(422);
    expect(state.rejected).toEqual(['UPLOAD_REJECTED']);
    expect(state.runs).toBe(0);
  });

  it('Express, one file in req.file and req.files: counted, read and checked once', async () => {
    const options = emu.options({ limits: { maxFiles: 1 } });
    const { app, state } = expressApp(multer().array('photos'), options, (req, _res, next) => {
      req.file = (req.files as Express.Multer.File[])[0];
      next();
    });
    const res = await request(app).post('/upload').attach('photos', OTHER, 'o.jpg');
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { status: 'clean' },
    });
    expect(state.runs).toBe(1);
    expect(emu.emulator.calls.filter((call) => call.key === options.apiKey)).toHaveLength(1);
  });
});

describe('a route guard behind a global guard, after a parser ahead of both', () => {
  it("Koa, @koa/multer first: the route's stricter maxFiles applies to the files it left on ctx", async () => {
    const options = emu.options();
    const guard = koaGuard(options);
    let runs = 0;
    const app = new Koa();
    app.use(koaMulter().any() as Koa.Middleware);
    app.use(guard);
    app.use(guard.route({ limits: { maxFiles: 1 } }).scan());
    app.use((ctx) => {
      runs++;
      ctx.body = {};
    });
    const res = await request(app.callback())
      .post('/upload')
      .attach('a', CLEAN, 'a.png')
      .attach('b', OTHER, 'b.jpg');
    expect({ status: res.status, code: res.body.error?.code }).toEqual({
      status: 413,
      code: 'LIMIT_EXCEEDED',
    });
    expect(runs).toBe(0);
  });
});
