/**
 * One integration suite, every adapter: each entry builds a real listening server on Express 4,
 * Express 5, Koa 2 or Koa 3 with the same routes and the same echo handler, so a test written
 * once proves the same statuses, codes, bodies and events on all of them.
 */

import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import KoaRouter from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import Koa2 from 'koa2';
import { photodnaGuard as expressGuard, type GuardOptions } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';

export interface HandlerLog {
  runs: number;
}

/** What the echo handler answers: what reached the route, never the bytes. */
export interface Echo {
  file?: {
    fieldname: string;
    originalname: string;
    size: number;
    hasBuffer: boolean;
    mimetype: string;
    clientMimetype?: string;
    sha256?: string;
  };
  files?: unknown;
  body?: unknown;
  photodna?: { status: string; files: Array<Record<string, unknown>> };
}

type AnyGuard = ReturnType<typeof expressGuard> | ReturnType<typeof koaGuard>;
type Pick = (guard: AnyGuard) => unknown;

/** A route: `use` picks route middleware from the guard (absent: the route relies on `app.use(guard)`). */
export interface RouteSpec {
  path: string;
  use?: Pick;
}

export interface Running {
  url: string;
  port: number;
  log: HandlerLog;
  guard: AnyGuard;
  close(): Promise<void>;
}

export interface Adapter {
  name: string;
  /** Starts a server; `global` mounts `app.use(guard)` before the routes. */
  start(
    options: GuardOptions,
    routes: RouteSpec[],
    config?: { global?: boolean; trustProxy?: boolean },
  ): Promise<Running>;
}

const describeFile = (f: {
  fieldname: string;
  originalname: string;
  size: number;
  mimetype: string;
  clientMimetype?: string;
  buffer?: Buffer;
}) => ({
  fieldname: f.fieldname,
  originalname: f.originalname,
  size: f.size,
  hasBuffer: Buffer.isBuffer(f.buffer),
  mimetype: f.mimetype,
  clientMimetype: f.clientMimetype,
  // What the handler holds, by hash (never the bytes themselves).
  sha256: f.buffer ? createHash('sha256').update(f.buffer).digest('hex') : undefined,
});

function describeFiles(files: unknown): unknown {
  if (Array.isArray(files)) return files.map(describeFile);
  if (files && typeof files === 'object') {
    return Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, (v as never[]).map(describeFile)]),
    );
  }
  return undefined;
}

async function listening(server: Server, guard: AnyGuard, log: HandlerLog): Promise<Running> {
  if (!server.listening) await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    guard,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await guard.close();
    },
  };
}

function expressAdapter(name: string, express: typeof express5): Adapter {
  return {
    name,
    async start(options, routes, config = {}) {
      const guard = expressGuard(options);
      const app = express();
      if (config.trustProxy) app.set('trust proxy', true);
      const log: HandlerLog = { runs: 0 };
      if (config.global) app.use(guard);
      for (const route of routes) {
        const handler: express5.RequestHandler = (req, res) => {
          log.runs += 1;
          res.json({
            file: req.file ? describeFile(req.file) : undefined,
            files: describeFiles(req.files),
            body: req.body,
            photodna: req.photodna,
          });
        };
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
      for (const route of routes) {
        const handler = (ctx: Koa3.Context) => {
          log.runs += 1;
          const c = ctx as Koa3.Context & { file?: never; files?: unknown };
          ctx.body = {
            file: c.file ? describeFile(c.file) : undefined,
            files: describeFiles(c.files),
            body: (ctx.request as { body?: unknown }).body,
            photodna: ctx.state.photodna,
          };
        };
        if (route.use) router.post(route.path, route.use(guard) as never, handler);
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
];
