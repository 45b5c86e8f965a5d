import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import KoaRouter from '@koa/router';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { RejectEvent } from '../../src/index.js';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { png } from '../fixtures/images.js';
import { adapters, startPerTest } from '../helpers/adapters.js';
import { RecordingMatcher } from '../helpers/matchers.js';

/**
 * Metrics' `route` label is a bounded set on every adapter: the pattern of the matched route
 * where the framework knows it as the guard runs, else `unmatched`; never the request path,
 * which the uploader chooses (each distinct one would be a series kept for the process's life).
 */
const CLEAN = png(200, 200, 71);
const KNOWN = png(200, 200, 72);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const options = () => ({ matcher: new RecordingMatcher([sha(KNOWN)]) });

/** The distinct `route` label values in a text exposition. */
function routeLabels(text: string): Set<string> {
  return new Set([...text.matchAll(/[{,]route="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? ''));
}

/** Clean, matching and refused (not an image) uploads to `count` made-up paths. */
async function uploadTo(url: string, paths: (i: number) => string, count: number) {
  for (let i = 0; i < count; i++) {
    await request(url).post(paths(i)).attach('image', CLEAN, 'a.png');
    await request(url).post(paths(i)).attach('image', KNOWN, 'b.png');
    await request(url).post(paths(i)).attach('image', Buffer.from('not an image'), 'c.png');
  }
}

for (const adapter of adapters) {
  describe(`metrics route labels (${adapter.name})`, () => {
    const start = startPerTest(adapter);

    it('behind app.use(guard), uploads to many made-up paths make no series of their own', async () => {
      const server = await start(options(), [{ path: '/upload' }], { global: true });
      await server.guard.metrics(); // counted from the first call on
      // Paths no route matches (Fastify and the fetch handler answer 404 before any check), and
      // query strings on the real route.
      await uploadTo(server.url, (i) => (i % 2 ? `/a${i}` : `/upload?x=${Math.random()}`), 30);
      const text = await server.guard.metrics();
      expect(text).toMatch(/photodna_guard_scans_total\{outcome="clean"/);
      expect(text).toMatch(/photodna_guard_rejections_total\{code="UNSUPPORTED_MEDIA_TYPE"/);
      const labels = [...routeLabels(text)];
      // The router's pattern where it matched before the guard (Fastify: '/upload'; Hono: the
      // guard's own '/*'), else 'unmatched'.
      expect(labels.length).toBe(1);
      expect(['unmatched', '/upload', '/*']).toContain(labels[0]);
    });

    it.skipIf(adapter.name === 'fetch')(
      'a guard on /users/:id labels by the pattern, not by each id',
      async () => {
        const server = await start(options(), [{ path: '/users/:id', use: (g) => g.any() }]);
        await server.guard.metrics();
        await uploadTo(server.url, (i) => `/users/${i}`, 20);
        const text = await server.guard.metrics();
        expect([...routeLabels(text)]).toEqual(['/users/:id']);
        expect(text).toMatch(
          /photodna_guard_scans_total\{outcome="clean",route="\/users\/:id",deferred="false"\} 20\n/,
        );
      },
    );
  });
}

describe('metrics route labels (express5): a route passed through before app.use(guard)', () => {
  it('does not lend its pattern to the guard behind it (Express keeps req.route once a route called next())', async () => {
    const guard = photodnaGuard(options());
    const rejects: RejectEvent[] = [];
    guard.on('reject', (event) => rejects.push(event));
    const app = express();
    app.post('/direct/:id', guard.any(), (_req, res) => void res.json({}));
    app.all('/api/*rest', (_req, _res, next) => next()); // an auth or logging route, say
    app.use(guard);
    app.post('/api/photos/:id', (_req, res) => void res.json({}));
    await guard.metrics();
    const notImage = Buffer.from('not an image');
    await request(app).post('/api/photos/1').attach('image', notImage, 'c.png').expect(415);
    // The guard's own route still names its pattern.
    await request(app).post('/direct/1').attach('image', notImage, 'c.png').expect(415);
    expect(rejects.map((r) => r.routePattern)).toEqual([undefined, '/direct/:id']);
    expect([...routeLabels(await guard.metrics())].sort()).toEqual(['/direct/:id', 'unmatched']);
    await guard.close();
  });
});

describe('metrics route labels (koa3): a guard outside the route @koa/router matched', () => {
  it('names no pattern after the router (which leaves ctx._matchedRoute set) nor in router.use()', async () => {
    const guard = koaGuard(options());
    const rejects: RejectEvent[] = [];
    guard.on('reject', (event) => rejects.push(event));
    const router = new KoaRouter();
    const ok = (ctx: Koa.Context) => {
      ctx.body = {};
    };
    router.post('/direct/:id', guard.any(), ok);
    router.use('/mounted', guard.route({}));
    router.post('/mounted/:id', ok);
    router.all('/api/{*rest}', (_ctx, next) => next()); // an auth or logging route, say
    const app = new Koa().use(router.routes()).use(guard).use(ok);
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await guard.metrics();
      const notImage = Buffer.from('not an image');
      await request(url).post('/api/photos/1').attach('image', notImage, 'c.png').expect(415);
      await request(url).post('/mounted/1').attach('image', notImage, 'c.png').expect(415);
      // The guard's own route still names its pattern.
      await request(url).post('/direct/1').attach('image', notImage, 'c.png').expect(415);
      expect(rejects.map((r) => r.routePattern)).toEqual([undefined, undefined, '/direct/:id']);
      expect([...routeLabels(await guard.metrics())].sort()).toEqual(['/direct/:id', 'unmatched']);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await guard.close();
    }
  });
});
