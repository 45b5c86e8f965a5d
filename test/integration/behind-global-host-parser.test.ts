import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { type KoaGuard, photodnaGuard as koaGuard } from '../../src/koa.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

/**
 * A route guard behind `app.use(guard)` when the host's multer parsed the body ahead of both
 * (`@koa/multer` leaves the files on `ctx` and `ctx.request`, not on Node's request): the
 * handler gets the files the route's selector selects, where that parser left them, and the
 * selector's field rules apply as with the guard's own parser. (Before: on Koa the route guard
 * shaped the files it found on `ctx.req`, none, and copied that empty result over `ctx.files`.)
 */

const emu = useEmulator({ rateLimit: false });
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/pdq', name));
const CLEAN = fixture('scene1.png');
const OTHER = fixture('scene6.jpg');
const KNOWN = knownImage();

type Shape = { file?: unknown; files?: unknown };
/** What the handler saw of its files, as field names and sizes per place. */
function described(place: Shape): unknown {
  const one = (f: unknown) => {
    const file = f as { fieldname: string; buffer?: Buffer };
    return `${file.fieldname}:${file.buffer?.length ?? -1}`;
  };
  const files = place.files;
  return {
    file: place.file === undefined ? undefined : one(place.file),
    files: Array.isArray(files)
      ? files.map(one)
      : files && typeof files === 'object'
        ? Object.fromEntries(Object.entries(files).map(([k, v]) => [k, (v as unknown[]).map(one)]))
        : files,
  };
}

type RouteGuard = ReturnType<KoaGuard['route']>;
interface Case {
  name: string;
  use: (route: RouteGuard) => unknown;
  /** The field of the second file (`OTHER`); the first (`CLEAN`) is in `a`. */
  second: string;
  /** What the handler reads, in every place the host's parser leaves files. */
  expected: unknown;
}
const a = `a:${CLEAN.length}`;
const b = `b:${OTHER.length}`;
const cases: Case[] = [
  { name: 'guard.route({})', use: (r) => r, second: 'b', expected: { files: [a, b] } },
  { name: 'guard.route({}).any()', use: (r) => r.any(), second: 'b', expected: { files: [a, b] } },
  {
    name: "guard.route({}).fields([{ name: 'a' }, { name: 'b', maxCount: 1 }])",
    use: (r) => r.fields([{ name: 'a' }, { name: 'b', maxCount: 1 }]),
    second: 'b',
    expected: { files: { a: [a], b: [b] } },
  },
  {
    name: "guard.route({}).array('a', 2)",
    use: (r) => r.array('a', 2),
    second: 'a',
    expected: { files: [a, `a:${OTHER.length}`] },
  },
];

let closing: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closing.map((close) => close()));
  closing = [];
});

const listen = (server: Server) => {
  closing.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
};

/** `@koa/multer().any()`, then `app.use(guard)`, then a route with `use(guard.route({}))`. */
function koaApp(use: (route: RouteGuard) => unknown) {
  const guard = koaGuard(emu.options());
  closing.push(() => guard.close());
  const log = { runs: 0 };
  const app = new Koa();
  app.use(koaMulter().any() as Koa.Middleware);
  app.use(guard);
  const router = new KoaRouter();
  router.post('/x', use(guard.route({})) as never, (ctx) => {
    log.runs++;
    const { files, file } = ctx as unknown as Shape;
    ctx.body = { ctx: described({ file, files }), request: described(ctx.request as Shape) };
  });
  app.use(router.routes());
  return { server: listen(app.listen(0, '127.0.0.1')), log };
}

/** `multer().any()`, then `app.use(guard)`, then a route with `use(guard.route({}))`. */
function expressApp(use: (route: RouteGuard) => unknown) {
  const guard = photodnaGuard(emu.options());
  closing.push(() => guard.close());
  const log = { runs: 0 };
  const app = express();
  app.use(multer().any());
  app.use(guard);
  app.post('/x', use(guard.route({}) as never) as express.RequestHandler, (req, res) => {
    log.runs++;
    res.json({ req: described(req as Shape) });
  });
  return { server: listen(app.listen(0, '127.0.0.1')), log };
}

const frameworks = [
  { name: 'Koa, @koa/multer().any() ahead', start: koaApp, places: ['ctx', 'request'] },
  { name: 'Express, multer().any() ahead', start: expressApp, places: ['req'] },
];

for (const framework of frameworks) {
  describe(`a route guard behind app.use(guard), the host's multer ahead of both (${framework.name})`, () => {
    const each = (expected: unknown) =>
      Object.fromEntries(framework.places.map((place) => [place, expected]));

    for (const c of cases) {
      it(`${c.name}: the handler gets the files the selector selects`, async () => {
        const { server, log } = framework.start(c.use);
        const res = await request(server)
          .post('/x')
          .attach('a', CLEAN, 'a.png')
          .attach(c.second, OTHER, 'b.jpg');
        expect({ status: res.status, body: res.body }).toEqual({
          status: 200,
          body: each(c.expected),
        });
        expect(log.runs).toBe(1);
      });
    }

    it("single('a'): the handler gets file 'a' alone, as the selector's multer leaves it", async () => {
      const { server } = framework.start((r) => r.single('a'));
      const res = await request(server).post('/x').attach('a', CLEAN, 'a.png');
      expect({ status: res.status, body: res.body }).toEqual({
        status: 200,
        body: each({ file: a }),
      });
    });

    it("single('a') with a file in 'b': 413 LIMIT_EXCEEDED as the selector's multer answers, the handler never runs", async () => {
      const { server, log } = framework.start((r) => r.single('a'));
      const res = await request(server)
        .post('/x')
        .attach('a', CLEAN, 'a.png')
        .attach('b', OTHER, 'b.jpg');
      expect({ status: res.status, code: res.body.error?.code }).toEqual({
        status: 413,
        code: 'LIMIT_EXCEEDED',
      });
      expect(log.runs).toBe(0);
    });

    it('a known image never reaches the handler', async () => {
      const { server, log } = framework.start((r) => r.any());
      const res = await request(server).post('/x').attach('a', KNOWN, 'k.png');
      expect(res.status).toBe(422);
      expect(log.runs).toBe(0);
    });
  });
}

describe('Koa: app.use(guard), then @koa/multer on the replayed body, then a route guard', () => {
  it("single('a'): the handler gets file 'a' where @koa/multer left it", async () => {
    const guard = koaGuard(emu.options());
    closing.push(() => guard.close());
    const app = new Koa();
    app.use(guard);
    app.use(koaMulter().any() as Koa.Middleware);
    const router = new KoaRouter();
    router.post('/x', guard.route({}).single('a') as never, (ctx) => {
      const { files, file } = ctx as unknown as Shape;
      ctx.body = { ctx: described({ file, files }), request: described(ctx.request as Shape) };
    });
    app.use(router.routes());
    const res = await request(listen(app.listen(0, '127.0.0.1')))
      .post('/x')
      .attach('a', CLEAN, 'a.png');
    expect({ status: res.status, body: res.body }).toEqual({
      status: 200,
      body: { ctx: { file: a }, request: { file: a } },
    });
  });
});
