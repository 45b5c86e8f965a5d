import { AsyncLocalStorage } from 'node:async_hooks';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import type { Matcher } from '../../src/types.js';
import { png } from '../fixtures/images.js';

/**
 * A host's request context (AsyncLocalStorage: request ids, tracing, a per-request logger) is
 * the handler's after the guard as before it: the guard reads the body on the socket's events and
 * waits on the matcher, and the handler still runs in the context the request entered it with
 * (multer kept it with an `AsyncResource`; the guard's own parser keeps it through its promises).
 */
const clean: Matcher = { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) };

describe('the request context reaches the handler through the guard', () => {
  it('Express: app.use(guard) and guard.single()', async () => {
    const store = new AsyncLocalStorage<{ id: string }>();
    const guard = photodnaGuard({ matcher: clean, cache: false });
    const app = express();
    app.use((req, _res, next) => store.run({ id: String(req.headers['x-id']) }, next));
    app.post('/any', guard, (_req, res) => res.json({ id: store.getStore()?.id ?? null }));
    app.post('/single', guard.single('f'), (_req, res) =>
      res.json({ id: store.getStore()?.id ?? null }),
    );
    for (const path of ['/any', '/single']) {
      const answers = await Promise.all(
        ['a', 'b', 'c'].map((id, i) =>
          request(app)
            .post(path)
            .set('x-id', id)
            .attach('f', png(200 + i, 200), 'x.png'),
        ),
      );
      expect(answers.map((a) => [a.status, a.body.id])).toEqual([
        [200, 'a'],
        [200, 'b'],
        [200, 'c'],
      ]);
    }
  });

  it('Koa: the guard as middleware', async () => {
    const store = new AsyncLocalStorage<{ id: string }>();
    const guard = koaGuard({ matcher: clean, cache: false });
    const app = new Koa();
    app.use((ctx, next) => store.run({ id: String(ctx.get('x-id')) }, next));
    app.use(guard);
    app.use((ctx) => {
      ctx.body = { id: store.getStore()?.id ?? null };
    });
    const server = app.callback();
    const answers = await Promise.all(
      ['a', 'b'].map((id, i) =>
        request(server)
          .post('/')
          .set('x-id', id)
          .attach('f', png(200 + i, 200), 'x.png'),
      ),
    );
    expect(answers.map((a) => [a.status, a.body.id])).toEqual([
      [200, 'a'],
      [200, 'b'],
    ]);
  });
});
