/**
 * The shared suite's entries for Fastify 5, Hono 4 (on @hono/node-server) and a plain Web
 * `Request` handler (a node:http server converting to `Request`, via @hono/node-server's
 * adaptor with no Hono app in it).
 */

import { readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import fastifyMultipart from '@fastify/multipart';
import { serve } from '@hono/node-server';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Hono } from 'hono';
import type { FastifyRouteGuard } from '../../src/fastify.js';
import { photodnaGuard as fastifyGuard } from '../../src/fastify.js';
import { type Checker, type CheckPassed, photodnaGuard as fetchGuard } from '../../src/fetch.js';
import { photodnaGuard as honoGuard, type PhotoDnaEnv } from '../../src/hono.js';
import type { RouteOverrides } from '../../src/index.js';
import type { Selection } from '../../src/multipart/selection.js';
import {
  type Adapter,
  type AnyGuard,
  describeFile,
  describeFiles,
  type HandlerLog,
  listening,
  type RouteSpec,
} from './adapter-kit.js';

/**
 * The Express guard's route methods, recorded as a Fastify route's `config.photodna`: the
 * route picks of the shared suite (`g.route({ policy }).single('f')`) mean the same route there.
 * In `'scan'` mode (`selects: false`) the field selection is @fastify/multipart's, not the
 * guard's (the plugin refuses `select` there): only the overrides are kept.
 */
export function recorder(overrides: RouteOverrides = {}, selects = true): AnyGuard {
  const config = (select?: Selection): FastifyRouteGuard => ({
    ...overrides,
    ...(select && selects ? { select } : {}),
  });
  const methods = {
    single: (field: string) => config({ kind: 'single', field }),
    array: (field: string, maxCount?: number) =>
      config({ kind: 'array', field, ...(maxCount === undefined ? {} : { maxCount }) }),
    fields: (fields: Array<{ name: string; maxCount?: number }>) =>
      config({ kind: 'fields', fields }),
    any: () => config({ kind: 'any' }),
    none: () => config({ kind: 'none' }),
    route: (more: RouteOverrides) => recorder({ ...overrides, ...more }, selects),
  };
  const target = config();
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(target, name, { value, enumerable: false });
  }
  return target as AnyGuard;
}

export const fastifyAdapter: Adapter = {
  name: 'fastify5',
  async start(options, routes, config = {}) {
    const app = Fastify({ trustProxy: config.trustProxy === true });
    await app.register(fastifyGuard, options);
    return fastifyRoutes(app, routes, config, async (request) => request.uploads ?? {});
  },
};

/**
 * Fastify in `'scan'` mode after @fastify/multipart (files saved to disk, read back by the
 * handler): for the cases where the host's parser makes no difference (its parse errors are its
 * own; its file size limit is above the guard's, so the guard's decides).
 */
export const fastifyScanAdapter: Adapter = {
  name: 'fastify5-multipart',
  hostParser: '@fastify/multipart',
  hostStorage: 'disk',
  async start(options, routes, config = {}) {
    const app = Fastify({ trustProxy: config.trustProxy === true });
    await app.register(fastifyMultipart, { limits: { fileSize: 64 * 1024 * 1024 } });
    await app.register(fastifyGuard, { ...options, mode: 'scan' });
    return fastifyScanRoutes(app, routes, config, async (request) => {
      if (!request.isMultipart()) return {};
      const { files, values } = await request.saveRequestFiles();
      const described = files.map((f) => ({
        fieldname: f.fieldname,
        originalname: f.filename,
        mimetype: f.mimetype,
        clientMimetype: (f as { clientMimetype?: string }).clientMimetype,
        size: statSync(f.filepath).size,
        buffer: readFileSync(f.filepath), // what the handler reads back from the disk
      }));
      // Read: removed now rather than by the plugin's onResponse hook, after the answer is out.
      await request.cleanRequestFiles();
      return { files: described, body: textValues(values) };
    });
  },
};

/**
 * Fastify in `'scan'` mode after @fastify/multipart with `attachFieldsToBody: true`: the parts
 * buffered on `request.body` (files read with `toBuffer()`, text fields as their values).
 */
export const fastifyScanBodyAdapter: Adapter = {
  name: 'fastify5-multipart-body',
  hostParser: '@fastify/multipart',
  hostStorage: 'memory',
  async start(options, routes, config = {}) {
    const app = Fastify({ trustProxy: config.trustProxy === true });
    await app.register(fastifyMultipart, {
      attachFieldsToBody: true,
      limits: { fileSize: 64 * 1024 * 1024 },
    });
    await app.register(fastifyGuard, { ...options, mode: 'scan' });
    return fastifyScanRoutes(app, routes, config, async (request) => {
      if (!request.isMultipart()) return {};
      const parts = Object.values((request.body ?? {}) as Record<string, unknown>).flat() as Array<{
        type: string;
        fieldname: string;
        filename: string;
        mimetype: string;
        clientMimetype?: string;
        toBuffer(): Promise<Buffer>;
      }>;
      const files = [];
      for (const part of parts.filter((p) => p.type === 'file')) {
        const buffer = await part.toBuffer();
        files.push({
          fieldname: part.fieldname,
          originalname: part.filename,
          mimetype: part.mimetype,
          clientMimetype: part.clientMimetype,
          size: buffer.length,
          buffer,
        });
      }
      return { files, body: textValues(request.body) };
    });
  },
};

type Uploaded = { file?: Parameters<typeof describeFile>[0]; files?: unknown; body?: unknown };

/** The text fields @fastify/multipart parsed (its `fields` object), as `{ name: value(s) }`. */
function textValues(fields: unknown): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries((fields ?? {}) as Record<string, unknown>)) {
    const values = (Array.isArray(entry) ? entry : [entry])
      .filter((part) => (part as { type?: string }).type === 'field')
      .map((part) => (part as { value: unknown }).value);
    if (values.length > 0) body[name] = values.length === 1 ? values[0] : values;
  }
  return body;
}

/** `fastifyRoutes` in `'scan'` mode: a route pick keeps its overrides, never a `select`. */
function fastifyScanRoutes(
  app: FastifyInstance,
  routes: RouteSpec[],
  config: { global?: boolean },
  uploaded: (request: FastifyRequest) => Promise<Uploaded>,
) {
  return fastifyRoutes(app, routes, config, uploaded, false);
}

async function fastifyRoutes(
  app: FastifyInstance,
  routes: RouteSpec[],
  config: { global?: boolean },
  uploaded: (request: FastifyRequest) => Promise<Uploaded>,
  selects = true,
) {
  const log: HandlerLog = { runs: 0 };
  const handler = async (request: FastifyRequest) => {
    log.runs += 1;
    const { file, files, body } = await uploaded(request);
    return {
      file: file ? describeFile(file) : undefined,
      files: describeFiles(files),
      body: body ?? request.body,
      photodna: request.photodna,
    };
  };
  for (const route of routes) {
    const photodna = route.use
      ? (route.use(recorder({}, selects)) as FastifyRouteGuard)
      : config.global
        ? undefined
        : false;
    app.post(route.path, { config: { photodna } }, handler);
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const running = await listening(app.server, app.photodna, log);
  return { ...running, close: () => closeFastify(app) };
}

async function closeFastify(app: ReturnType<typeof Fastify>): Promise<void> {
  app.server.closeAllConnections();
  await app.close(); // closes the guard too (onClose hook)
}

/** The echo of a Web handler: what reached it from the guard's check. */
function webEcho(passed: CheckPassed | undefined): unknown {
  return {
    file: passed?.file ? describeFile(passed.file) : undefined,
    files: describeFiles(passed?.files),
    body: passed?.photodna ? passed.fields : undefined,
    photodna: passed?.photodna,
  };
}

/** The uploader's address as a host behind a proxy would take it (the first X-Forwarded-For). */
function addressOf(request: Request, socketAddress: string, trustProxy: boolean): string {
  const forwarded = request.headers.get('x-forwarded-for');
  return trustProxy && forwarded ? (forwarded.split(',')[0] ?? '').trim() : socketAddress;
}

type NodeEnv = { incoming: { socket: { remoteAddress?: string } } };

export const honoAdapter: Adapter = {
  name: 'hono4',
  async start(options, routes, config = {}) {
    const guard = honoGuard(options);
    const app = new Hono<PhotoDnaEnv & { Bindings: NodeEnv }>();
    const log: HandlerLog = { runs: 0 };
    if (config.trustProxy) {
      app.use(async (c, next) => {
        const socket = c.env.incoming.socket.remoteAddress ?? '';
        c.set('photodnaIp', addressOf(c.req.raw, socket, true));
        await next();
      });
    }
    if (config.global) app.use(guard);
    for (const route of routes) {
      const mw = route.use ? (route.use(guard as never) as typeof guard) : undefined;
      const handler = (c: Parameters<typeof guard>[0]) => {
        log.runs += 1;
        return c.json(webEcho(c.get('upload')));
      };
      if (mw) app.post(route.path, mw, handler);
      else app.post(route.path, handler);
    }
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    return listening(server, guard, log);
  },
};

export const fetchAdapter: Adapter = {
  name: 'fetch',
  async start(options, routes, config = {}) {
    const guard = fetchGuard(options);
    const log: HandlerLog = { runs: 0 };
    const byPath = new Map(
      routes.map((r) => [r.path, r.use ? (r.use(guard as never) as Checker) : undefined]),
    );
    // A route handler as Next.js, Remix, Bun or Deno would run it: `Request` in, `Response` out.
    const handle = async (request: Request, env: NodeEnv): Promise<Response> => {
      const path = new URL(request.url).pathname;
      if (request.method !== 'POST' || !byPath.has(path))
        return new Response(null, { status: 404 });
      const peer = env.incoming.socket.remoteAddress ?? '';
      const info = { ip: addressOf(request, peer, config.trustProxy === true), peer };
      let passed: CheckPassed | undefined;
      for (const checker of [config.global ? guard : undefined, byPath.get(path)]) {
        if (!checker) continue;
        const result = await checker.check(request, info);
        if (result.response) return result.response;
        passed = result.photodna ? result : passed;
      }
      log.runs += 1;
      return Response.json(webEcho(passed));
    };
    const server = serve({ fetch: handle as never, port: 0, hostname: '127.0.0.1' }) as Server;
    return listening(server, guard, log);
  },
};
