/**
 * The shared suite's entries for the guard's `scan()` mode: the host parses the upload with its
 * own multer (Express 5, Koa 3 with @koa/multer) and the guard checks what the parser left, so
 * the cases where the parser makes no difference prove the same statuses, codes, bodies and
 * events there. The host parser's limits are generous (the guard's are the subject); its own
 * errors (unexpected fields, malformed bodies) are the host's and not these entries' subject.
 */

import { readFileSync, rmSync } from 'node:fs';
import koaMulter from '@koa/multer';
import KoaRouterLib from '@koa/router';
import express from 'express';
import Koa from 'koa';
import multer from 'multer';
import type { FastifyRouteGuard } from '../../src/fastify.js';
import { photodnaGuard as expressGuard } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import type { Selection } from '../../src/multipart/selection.js';
import {
  type Adapter,
  expressEcho,
  type HandlerLog,
  koaEcho,
  listening,
  type RouteSpec,
} from './adapter-kit.js';
import { fastifyScanAdapter, fastifyScanBodyAdapter, recorder } from './adapters-web.js';

/** The host parser's file size limit: above the guard's largest, so the guard's limit decides. */
const HOST_FILE_SIZE = 64 * 1024 * 1024;

type Picked = { overrides: Record<string, unknown> | undefined; select: Selection | undefined };

/** What a route pick of the shared suite means here: the route's overrides and its file fields. */
function picked(use: NonNullable<RouteSpec['use']>): Picked {
  const { select, ...overrides } = use(recorder()) as FastifyRouteGuard;
  return {
    overrides: Object.keys(overrides).length > 0 ? overrides : undefined,
    select: select as Selection | undefined,
  };
}

/** A multer-like parser's middleware for a route's file fields (all of them by default). */
function hostParser<M>(
  parser: {
    single(field: string): M;
    array(field: string, max?: number): M;
    fields(fields: ReadonlyArray<{ name: string; maxCount?: number }>): M;
    any(): M;
    none(): M;
  },
  select: Selection | undefined,
): M {
  switch (select?.kind) {
    case 'single':
      return parser.single(select.field);
    case 'array':
      return parser.array(select.field, select.maxCount);
    case 'fields':
      return parser.fields([...select.fields]);
    case 'none':
      return parser.none();
    default:
      return parser.any();
  }
}

type Storage = 'memory' | 'disk';
type Start = (
  storage: Storage,
  options: Parameters<Adapter['start']>[0],
  routes: RouteSpec[],
  config: NonNullable<Parameters<Adapter['start']>[2]>,
) => ReturnType<Adapter['start']>;

/**
 * A multer host's entry (`express5-multer`, `koa3-multer-disk`...): with `disk`, multer's disk
 * storage in the OS temp directory, and a handler that reads each file back (what it holds is
 * what is on disk) and removes it, as a host that stores it elsewhere would.
 */
function multerEntry(framework: string, storage: Storage, start: Start): Adapter {
  return {
    name: `${framework}-multer${storage === 'disk' ? '-disk' : ''}`,
    hostParser: 'multer',
    hostStorage: storage,
    start: (options, routes, config = {}) => start(storage, options, routes, config),
  };
}

/** multer's options for a host entry: the storage, and a file size limit above the guard's. */
function hostOptions(storage: Storage): multer.Options {
  return {
    ...(storage === 'disk' ? { storage: multer.diskStorage({}) } : {}),
    limits: { fileSize: HOST_FILE_SIZE },
  };
}

/** Express 5: `multer().<fields>`, then `guard.scan()` (or `guard.route(overrides).scan()`). */
const startExpressScan: Start = async (storage, options, routes, config) => {
  const guard = expressGuard(options);
  const host = multer(hostOptions(storage));
  const app = express();
  if (config.trustProxy) app.set('trust proxy', true);
  const log: HandlerLog = { runs: 0 };
  if (config.global) app.use(host.any(), guard.scan());
  const echo = expressEcho(log) as unknown as express.RequestHandler;
  const handler: express.RequestHandler =
    storage === 'disk' ? (req, res, next) => echo(readBack(req), res, next) : echo;
  for (const route of routes) {
    if (!route.use) {
      app.post(route.path, handler);
      continue;
    }
    const { overrides, select } = picked(route.use);
    const scoped = overrides ? guard.route(overrides) : guard;
    // Behind the global pair the body is parsed already: a second parser would wait forever.
    if (config.global) app.post(route.path, scoped.scan(), handler);
    else app.post(route.path, hostParser(host, select), scoped.scan(), handler);
  }
  return listening(app.listen(0, '127.0.0.1'), guard, log);
};

/**
 * A disk-storage request's files (on Express's `req` or Koa's `ctx`) read into `buffer` and
 * removed from the disk (see above).
 */
function readBack<R extends { file?: unknown; files?: unknown }>(req: R): R {
  const files = [
    ...(req.file ? [req.file] : []),
    ...(Array.isArray(req.files) ? req.files : Object.values(req.files ?? {}).flat()),
  ] as Express.Multer.File[];
  for (const file of files) {
    if (!file.path) continue;
    file.buffer = readFileSync(file.path);
    rmSync(file.path, { force: true });
  }
  return req;
}

type KoaMiddleware = (ctx: Koa.Context, next: () => Promise<unknown>) => Promise<unknown>;

/** Koa 3: `@koa/multer().<fields>`, then `guard.scan()` (or `guard.route(overrides).scan()`). */
const startKoaScan: Start = async (storage, options, routes, config) => {
  const guard = koaGuard(options);
  const host = koaMulter(hostOptions(storage)) as unknown as Parameters<
    typeof hostParser<KoaMiddleware>
  >[0];
  const app = new Koa();
  if (config.trustProxy) app.proxy = true;
  const log: HandlerLog = { runs: 0 };
  const router = new KoaRouterLib();
  if (config.global) {
    app.use(hostParser(host, undefined));
    app.use(guard.scan() as never);
  }
  const echo = koaEcho(log);
  const handler = (
    storage === 'disk' ? (ctx: Parameters<typeof echo>[0]) => echo(readBack(ctx)) : echo
  ) as never;
  for (const route of routes) {
    if (!route.use) {
      router.post(route.path, handler);
      continue;
    }
    const { overrides, select } = picked(route.use);
    const scoped = overrides ? guard.route(overrides as never) : guard;
    // Behind the global pair the body is parsed already: a second parser would wait forever.
    if (config.global) router.post(route.path, scoped.scan() as never, handler);
    else
      router.post(route.path, hostParser(host, select) as never, scoped.scan() as never, handler);
  }
  app.use(router.routes());
  return listening(app.listen(0, '127.0.0.1'), guard, log);
};

/** Every `scan()` entry: Express 5 and Koa 3 (memory, disk), Fastify 5 (disk, buffered parts). */
export const scanAdapters: Adapter[] = [
  multerEntry('express5', 'memory', startExpressScan),
  multerEntry('express5', 'disk', startExpressScan),
  multerEntry('koa3', 'memory', startKoaScan),
  multerEntry('koa3', 'disk', startKoaScan),
  fastifyScanAdapter,
  fastifyScanBodyAdapter,
];
