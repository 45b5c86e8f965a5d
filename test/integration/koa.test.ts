import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koaMulter from '@koa/multer';
import KoaRouter from '@koa/router';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/koa.js';
import { hostile, jpg, png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/** Koa-only behaviour; the shared suite (every adapter) covers statuses, codes and policies. */
const uploadDir = mkdtempSync(join(tmpdir(), 'pdg-koa-'));
afterAll(() => rmSync(uploadDir, { recursive: true, force: true }));

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function serve(
  build: (app: Koa, router: KoaRouter, guard: ReturnType<typeof photodnaGuard>) => void,
) {
  const matcher = new RecordingMatcher();
  const guard = photodnaGuard({ matcher });
  const app = new Koa();
  const router = new KoaRouter();
  let runs = 0;
  app.use(async (ctx, next) => {
    await next();
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') runs += 1;
  });
  build(app, router, guard);
  app.use(router.routes());
  return { url: await listenKoa(app, guard), matcher, runs: () => runs };
}

/** Serves `app` on a loopback port until the test ends (the guard closed after it); its URL. */
async function listenKoa(app: Koa, guard: ReturnType<typeof photodnaGuard>): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await guard.close();
  });
  const { port } = server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

type Ctx = Koa.Context & { file?: { fieldname: string; path?: string }; files?: unknown };

describe('Koa adapter', () => {
  it('sets ctx.file, ctx.request.file, ctx.request.body and ctx.state.photodna like @koa/multer', async () => {
    const { url } = await serve((_app, router, guard) => {
      router.post('/avatar', guard.single('avatar'), (ctx: Ctx) => {
        const request = ctx.request as Koa.Request & { file?: unknown; body?: unknown };
        ctx.body = {
          same: ctx.file === request.file,
          field: ctx.file?.fieldname,
          body: request.body,
          status: ctx.state.photodna?.status,
        };
      });
    });
    const res = await request(url)
      .post('/avatar')
      .field('name', 'ada')
      .attach('avatar', png(), 'me.png');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      same: true,
      field: 'avatar',
      body: { name: 'ada' },
      status: 'clean',
    });
  });

  it('sets ctx.files and ctx.request.files for array()', async () => {
    const { url } = await serve((_app, router, guard) => {
      router.post('/many', guard.array('pics', 3), (ctx: Ctx) => {
        ctx.body = {
          count: (ctx.files as unknown[]).length,
          same: ctx.files === (ctx.request as { files?: unknown }).files,
        };
      });
    });
    const res = await request(url)
      .post('/many')
      .attach('pics', png(200, 200, 1), 'a.png')
      .attach('pics', jpg(), 'b.jpg');
    expect(res.body).toEqual({ count: 2, same: true });
  });

  it('guard.scan() after @koa/multer memory storage checks ctx.file', async () => {
    const { url, matcher, runs } = await serve((_app, router, guard) => {
      router.post('/own', koaMulter().single('f'), guard.scan(), (ctx: Ctx) => {
        ctx.body = { status: ctx.state.photodna?.status };
      });
    });
    expect((await request(url).post('/own').attach('f', png(), 'a.png')).body).toEqual({
      status: 'clean',
    });
    const bad = await request(url).post('/own').attach('f', hostile.html(), 'a.png');
    expect(bad.status).toBe(415);
    expect(bad.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(matcher.calls).toHaveLength(1);
    expect(runs()).toBe(1);
  });

  it('guard.scan() after @koa/multer checks an image in a text field too (a data: URL)', async () => {
    const { url, matcher, runs } = await serve((_app, router, guard) => {
      router.post('/fields', koaMulter().single('f'), guard.scan(), (ctx: Ctx) => {
        ctx.body = { status: ctx.state.photodna?.status };
      });
    });
    const avatar = png(200, 200, 91);
    const res = await request(url)
      .post('/fields')
      .attach('f', png(200, 200, 90), 'a.png')
      .field('avatar', `data:image/png;base64,${avatar.toString('base64')}`);
    expect(res.body).toEqual({ status: 'clean' });
    expect(matcher.calls.map((c) => c.file.field).sort()).toEqual(['avatar', 'f']);
    const svg = `data:image/svg+xml;base64,${hostile.svg().toString('base64')}`;
    const bad = await request(url)
      .post('/fields')
      .attach('f', png(200, 200, 92), 'a.png')
      .field('avatar', svg);
    expect(bad.status).toBe(415);
    expect(runs()).toBe(1);
  });

  it('guard.scan() after @koa/multer disk storage deletes a rejected file', async () => {
    const { url } = await serve((_app, router, guard) => {
      router.post('/disk', koaMulter({ dest: uploadDir }).single('f'), guard.scan(), (ctx: Ctx) => {
        ctx.body = { path: ctx.file?.path };
      });
    });
    const ok = await request(url).post('/disk').attach('f', png(), 'a.png');
    expect(ok.status).toBe(200);
    expect(readdirSync(uploadDir)).toHaveLength(1);
    const bad = await request(url).post('/disk').attach('f', png(120, 120), 'a.png');
    expect(bad.status).toBe(422);
    expect(readdirSync(uploadDir)).toHaveLength(1);
  });

  it('answers rejections itself: downstream middleware and the route never run', async () => {
    let downstream = 0;
    const { url } = await serve((app, router, guard) => {
      app.use(guard);
      app.use(async (_ctx, next) => {
        downstream += 1;
        await next();
      });
      router.post('/x', (ctx) => {
        ctx.body = { ok: true };
      });
    });
    const res = await request(url).post('/x').attach('f', hostile.pdf(), 'a.png');
    expect(res.status).toBe(415);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    expect(downstream).toBe(0);
  });
});

describe('Koa guard.scan(): text fields', () => {
  const emu = useEmulator();

  it("looks through ctx.request.body, never ctx.body (the response's): a response body set before the guard hid the text fields", async () => {
    const guard = photodnaGuard(emu.options());
    const app = new Koa();
    const router = new KoaRouter();
    let handed: unknown;
    // An app that sets a default answer before its routes run (an envelope, a cache's entry).
    app.use(async (ctx, next) => {
      ctx.body = { ok: false };
      await next();
    });
    router.post('/post', koaMulter().none(), guard.scan(), (ctx) => {
      handed = (ctx.request as { body?: { avatar?: string } }).body?.avatar;
      ctx.body = { ok: true };
    });
    app.use(router.routes());
    const url = await listenKoa(app, guard);
    const avatar = `data:image/png;base64,${knownImage().toString('base64')}`;
    const res = await request(url).post('/post').field('avatar', avatar);
    // Before: 200, and the handler read the known image from ctx.request.body.
    expect(res.status).toBe(422);
    expect(handed).toBeUndefined();
  });
});
