/**
 * One integration suite, every adapter: each entry builds a real listening server on Express 4,
 * Express 5, Koa 2, Koa 3, Fastify 5, Hono 4 or a plain Web `Request` handler, with the same routes and the same echo handler, so a test written
 * once proves the same statuses, codes, bodies and events on all of them.
 */

import KoaRouter from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { afterEach } from 'vitest';
import { photodnaGuard as expressGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import {
  type Adapter,
  expressEcho,
  type HandlerLog,
  koaEcho,
  listening,
  type Running,
} from './adapter-kit.js';
import { fastifyAdapter, fetchAdapter, honoAdapter } from './adapters-web.js';

export type * from './adapter-kit.js';

function expressAdapter(name: string, express: typeof express5): Adapter {
  return {
    name,
    async start(options, routes, config = {}) {
      const guard = expressGuard(options);
      const app = express();
      if (config.trustProxy) app.set('trust proxy', true);
      const log: HandlerLog = { runs: 0 };
      if (config.global) app.use(guard);
      const handler = expressEcho(log) as unknown as express5.RequestHandler;
      for (const route of routes) {
        if (route.use) app.post(route.path, route.use(guard) as express5.RequestHandler, handler);
        else app.post(route.path, handler);
      }
      return listening(app.listen(0, '127.0.0.1'), guard, log);
    },
  };
}

function koaAdapter(name: string, Koa: typeof Koa3): Adapter {
  return {
    name,
    async start(options, routes, config = {}) {
      const guard = koaGuard(options);
      const app = new Koa();
      if (config.trustProxy) app.proxy = true;
      const log: HandlerLog = { runs: 0 };
      const router = new KoaRouter();
      if (config.global) app.use(guard as never);
      const handler = koaEcho(log) as never;
      for (const route of routes) {
        if (route.use) router.post(route.path, route.use(guard as never) as never, handler);
        else router.post(route.path, handler);
      }
      app.use(router.routes());
      return listening(app.listen(0, '127.0.0.1'), guard, log);
    },
  };
}

export const adapters: Adapter[] = [
  expressAdapter('express5', express5),
  expressAdapter('express4', express4 as unknown as typeof express5),
  koaAdapter('koa3', Koa3),
  koaAdapter('koa2', Koa2 as unknown as typeof Koa3),
  fastifyAdapter,
  honoAdapter,
  fetchAdapter,
];

/**
 * `adapter.start` for the tests of one `describe`: every server it starts is closed after the
 * test that started it.
 */
export function startPerTest(adapter: Adapter): Adapter['start'] {
  const running: Running[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((r) => r.close()));
  });
  return async (...args) => {
    const server = await adapter.start(...args);
    running.push(server);
    return server;
  };
}
