import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import KoaRouter from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { photodnaGuard as fetchGuard } from '../../src/fetch.js';
import { photodnaGuard as honoGuard } from '../../src/hono.js';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';

/**
 * A guard wired the way a hurried engineer wires it: the Express guard on a Koa app,
 * `app.use(photodnaGuard)` (the factory), `guard.single` (not called), `guard({ policy })`. Each
 * answers 500 with a message that names the fix, and never runs the handler. Before: a TypeError
 * from inside ("Cannot read properties of undefined (reading 'readableEnded')"), a process-ending
 * unhandled rejection (`next is not a function`), a wall of "option 'socket' is not known", or a
 * request left hanging with no answer at all.
 */

const emu = useEmulator();
const KNOWN = knownImage();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

function closing<G extends { close(): Promise<void> }>(guard: G): G {
  closers.push(() => guard.close());
  return guard;
}

/** What came back, what the handler saw, and the error the framework was handed. */
interface Seen {
  status: number;
  runs: number;
  error: string | undefined;
}

type ExpressApp = ReturnType<typeof express5>;

/** An Express app whose error handler keeps the error's message; `mount` adds the wiring. */
async function onExpress(express: typeof express5, mount: (app: ExpressApp) => void) {
  const app = express();
  const seen: Seen = { status: 0, runs: 0, error: undefined };
  mount(app);
  app.post('/upload', (_req, res) => {
    seen.runs += 1;
    res.json({ ok: true });
  });
  app.use((error: Error, _req: unknown, res: express5.Response, _next: unknown) => {
    seen.error = error.message;
    res.status(500).json({ error: 'internal' });
  });
  seen.status = (await request(app).post('/upload').attach('photo', KNOWN, 'photo.png')).status;
  return seen;
}

async function onKoa(Koa: typeof Koa3, mount: (app: Koa3, router: KoaRouter) => void) {
  const app = new Koa();
  const router = new KoaRouter();
  const seen: Seen = { status: 0, runs: 0, error: undefined };
  app.on('error', (error: Error) => {
    seen.error = error.message;
  });
  mount(app, router);
  router.post('/upload', (ctx) => {
    seen.runs += 1;
    ctx.body = { ok: true };
  });
  app.use(router.routes());
  seen.status = (
    await request(app.callback()).post('/upload').attach('photo', KNOWN, 'photo.png')
  ).status;
  return seen;
}

/** A Hono app served on loopback by @hono/node-server. */
async function onHono(mount: (app: Hono) => void) {
  const app = new Hono();
  const seen: Seen = { status: 0, runs: 0, error: undefined };
  app.onError((error, c) => {
    seen.error = error.message;
    return c.json({ error: 'internal' }, 500);
  });
  mount(app);
  app.post('/upload', (c) => {
    seen.runs += 1;
    return c.json({ ok: true });
  });
  seen.status = (await upload(await served(app.fetch), KNOWN)).status;
  return seen;
}

/** A Web `Request` handler served on loopback by @hono/node-server; its URL. */
async function served(handle: (request: Request) => Response | Promise<Response>) {
  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: handle, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started as Server),
    );
  });
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
}

function upload(url: string, image: Buffer): Promise<Response> {
  const form = new FormData();
  form.set('photo', new File([image], 'photo.png', { type: 'image/png' }));
  return fetch(url, { method: 'POST', body: form });
}

const expressVersions = [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as typeof express5],
] as const;
const koaVersions = [
  ['Koa 3', Koa3],
  ['Koa 2', Koa2 as unknown as typeof Koa3],
] as const;

describe('a guard mounted on another framework', () => {
  it.each(koaVersions)('the Express guard on %s names the Koa guard', async (_, Koa) => {
    const guard = closing(photodnaGuard(emu.options()));
    const seen = await onKoa(Koa, (app) => app.use(guard as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(/the Express guard .* called by Koa .*'photodna-guard\/koa'/);
  });

  it.each(expressVersions)('the Koa guard on %s names the Express guard', async (_, express) => {
    const guard = closing(koaGuard(emu.options()));
    const seen = await onExpress(express, (app) => app.use(guard as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(/the Koa guard .* called by Express .* from 'photodna-guard'$/);
  });

  it.each(expressVersions)('the Hono guard on %s names the Express guard', async (_, express) => {
    const guard = closing(honoGuard(emu.options()));
    const seen = await onExpress(express, (app) => app.use(guard as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(/the Hono guard .* called by Express .* from 'photodna-guard'$/);
  });

  it('the Express guard on Hono names the Hono guard', async () => {
    const guard = closing(photodnaGuard(emu.options()));
    const seen = await onHono((app) => app.use(guard as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(/the Express guard .* called by Hono .*'photodna-guard\/hono'/);
  });

  it('guard.check given a Node request or a Hono context says what to pass', async () => {
    const guard = closing(fetchGuard(emu.options()));
    const seen = await onExpress(express5, (app) =>
      app.post('/upload', async (req, _res, next) => {
        await guard.check(req as never).catch(next);
      }),
    );
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(/takes a Web Request, got an Express request/);
    const hono = await onHono((app) =>
      app.post('/upload', async (c, next) => {
        await guard.check(c as never);
        return next();
      }),
    );
    expect(hono).toMatchObject({ status: 500, runs: 0 });
    expect(hono.error).toMatch(/takes a Web Request, got a Hono context: pass c\.req\.raw/);
  });
});

describe('the factory or a method mounted instead of called', () => {
  const mountedItself = /photodnaGuard was called by \w+ .*: it was mounted as middleware itself/;

  it.each(expressVersions)('app.use(photodnaGuard) on %s', async (_, express) => {
    const seen = await onExpress(express, (app) => app.use(photodnaGuard as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toMatch(mountedItself);
    expect(seen.error).toContain('const guard = photodnaGuard({ ... }); app.use(guard)');
  });

  it('app.use(photodnaGuard) on Koa and Hono', async () => {
    const koa = await onKoa(Koa3, (app) => app.use(koaGuard as never));
    expect(koa).toMatchObject({ status: 500, runs: 0 });
    expect(koa.error).toMatch(mountedItself);
    const hono = await onHono((app) => app.use(honoGuard as never));
    expect(hono).toMatchObject({ status: 500, runs: 0 });
    expect(hono.error).toMatch(mountedItself);
  });

  // Before: each returned middleware that nobody ran, and the request hung without an answer.
  it.each([
    ['single', "guard.single('photo')"],
    ['array', "guard.array('photos', 10)"],
    ['fields', 'guard.fields(['],
    ['any', 'guard.any()'],
    ['none', 'guard.none()'],
    ['scan', 'guard.scan()'],
    ['route', "guard.route({ policy: 'flag' })"],
  ] as const)(
    'guard.%s on an Express route, not called, is answered 500 naming the call',
    async (method, usage) => {
      const guard = closing(photodnaGuard(emu.options()));
      const seen = await onExpress(express4 as unknown as typeof express5, (app) =>
        app.post('/upload', guard[method] as never),
      );
      expect(seen).toMatchObject({ status: 500, runs: 0 });
      expect(seen.error).toMatch(`guard.${method} was called by Express`);
      expect(seen.error).toContain(usage);
    },
  );

  it('guard.single on a Koa route, not called, is answered 500, not 404', async () => {
    const guard = closing(koaGuard(emu.options()));
    const seen = await onKoa(Koa3, (_, router) => router.post('/upload', guard.single as never));
    expect(seen).toMatchObject({ status: 500, runs: 0 });
    expect(seen.error).toContain("Call it and mount what it returns: guard.single('photo')");
  });
});

describe('the guard called to set options', () => {
  it('guard({ policy }) and guard() throw at once, naming guard.route', () => {
    const guard = closing(photodnaGuard(emu.options()));
    const call = guard as unknown as (...args: unknown[]) => unknown;
    for (const args of [[{ policy: 'flag' }], []]) {
      expect(() => call(...args)).toThrow(
        /the Express guard .* was called with .*: it is Express middleware: mount it .*guard\.route\(\{ \.\.\. \}\)/,
      );
    }
    const koa = closing(koaGuard(emu.options()));
    expect(() => (koa as unknown as (o: unknown) => unknown)({ policy: 'flag' })).toThrow(
      /the Koa guard .* was called with \(object\): it is Koa middleware/,
    );
  });
});

describe('guard.check: a refusal ignored', () => {
  // Before: the second check of a refused request answered "go on, no upload" (`photodna` and
  // `formData` undefined, as for a request that was not multipart).
  it('checked again (by the same guard, a route guard, or twice at once), the request is refused again', async () => {
    const guard = closing(fetchGuard(emu.options()));
    const answers: Array<number | 'passed'> = [];
    const status = (result: Awaited<ReturnType<typeof guard.check>>) =>
      result.response?.status ?? 'passed';
    let readAfter = '';
    const url = await served(async (request) => {
      const first = await guard.check(request); // its answer ignored, as a hurried handler does
      answers.push(status(first));
      answers.push(status(await guard.check(request)));
      answers.push(status(await guard.single('photo').check(request)));
      const both = await Promise.all([guard.check(request), guard.route({}).check(request)]);
      answers.push(...both.map(status));
      // The guard read the body: the handler cannot fall back to the unchecked bytes.
      readAfter = await request.formData().then(
        () => 'read',
        (error: Error) => error.name,
      );
      return first.response ?? Response.json({ ok: true });
    });
    expect((await upload(url, KNOWN)).status).toBe(422);
    expect(answers).toEqual([422, 422, 422, 422, 422]);
    expect(readAfter).toBe('TypeError');
  });

  it('two checks at once of a refused request both answer the refusal', async () => {
    const guard = closing(fetchGuard(emu.options()));
    let answers: Array<number | undefined> = [];
    const url = await served(async (request) => {
      const both = await Promise.all([guard.check(request), guard.check(request)]);
      answers = both.map((result) => result.response?.status);
      return both[0]?.response ?? Response.json({ ok: true });
    });
    expect((await upload(url, KNOWN)).status).toBe(422);
    expect(answers).toEqual([422, 422]);
  });
});
