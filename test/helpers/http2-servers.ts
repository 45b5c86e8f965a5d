/**
 * The guard on HTTP/2 (h2c on loopback, node:http2's compatibility API, `node:http2` as the
 * client): Koa on `http2.createServer(app.callback())`, Fastify with `http2: true`, Hono on
 * @hono/node-server with `createServer: http2.createServer`. Express 5 is not among them: it
 * does not run on node:http2 at all (it gives each request `http.IncomingMessage`'s prototype,
 * and the first body read throws; expressjs/express#5462).
 *
 * The client sends `Content-Length`, as browsers and curl do for a form: without it multer
 * sees no body on HTTP/2 (there is no `Transfer-Encoding` there) and the guard answers 400.
 */
import { once } from 'node:events';
import { type ClientHttp2Stream, connect, createServer, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { afterEach } from 'vitest';
import { photodnaGuard as fastifyGuard } from '../../src/fastify.js';
import { photodnaGuard as honoGuard } from '../../src/hono.js';
import type { GuardOptions } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { multipartBody } from './raw-upload.js';

export const BOUNDARY = 'h2Upload';

/** What the servers and clients of a test started, closed after it, last first. */
export const closers: Array<() => Promise<unknown>> = [];

/** Closes, after each test of the file that calls it, what the test started here. */
export function closeAfterEach(): void {
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
}

/** One server under test: what the guard announced and how often the handler ran. */
export interface Served {
  port: number;
  rejects: string[];
  runs: () => number;
  /** The guard's `metrics()`. */
  metrics: () => Promise<string>;
}

export interface H2Server {
  name: string;
  /** The guard on every upload to `/upload`, whose handler answers `{ files: <count> }`. */
  start(options: GuardOptions): Promise<Served>;
}

export async function listening(server: Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

export const koaH2: H2Server = {
  name: 'Koa 3 on http2.createServer',
  async start(options) {
    const guard = koaGuard(options);
    closers.push(() => guard.close());
    const rejects: string[] = [];
    guard.on('reject', (event) => rejects.push(event.code));
    let runs = 0;
    const app = new Koa();
    app.use(guard);
    app.use((ctx) => {
      runs++;
      ctx.body = { files: (ctx.request as { files?: unknown[] }).files?.length ?? 0 };
    });
    const port = await listening(createServer(app.callback()));
    return { port, rejects, runs: () => runs, metrics: () => guard.metrics() };
  },
};

export const fastifyH2: H2Server = {
  name: 'Fastify 5 with http2: true',
  async start(options) {
    const app = Fastify({ http2: true });
    closers.push(() => app.close());
    await app.register(fastifyGuard, options);
    const rejects: string[] = [];
    app.photodna.on('reject', (event) => rejects.push(event.code));
    let runs = 0;
    app.post('/upload', async (request) => {
      runs++;
      return { files: request.uploads?.files?.length ?? 0 };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { port, rejects, runs: () => runs, metrics: () => app.photodna.metrics() };
  },
};

export const honoH2: H2Server = {
  name: 'Hono 4 on @hono/node-server with http2.createServer',
  async start(options) {
    const guard = honoGuard(options);
    closers.push(() => guard.close());
    const rejects: string[] = [];
    guard.on('reject', (event) => rejects.push(event.code));
    let runs = 0;
    const app = new Hono();
    app.post('/upload', guard.any(), (c) => {
      runs++;
      return c.json({ files: c.get('upload').files?.length ?? 0 });
    });
    const server = serve({
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      createServer,
    }) as Http2Server;
    await once(server, 'listening');
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    return { port, rejects, runs: () => runs, metrics: () => guard.metrics() };
  },
};

export interface Sent {
  stream: ClientHttp2Stream;
  answer: Promise<{ status: number; body: string }>;
}

/** A multipart body of `image` as field `f` (boundary `BOUNDARY`). */
export function imageForm(image: Buffer): Buffer {
  return multipartBody(BOUNDARY, [
    { name: 'f', filename: 'a.png', type: 'image/png', data: image },
  ]);
}

/** Uploads `image` as field `f` over its own HTTP/2 connection. */
export function upload(port: number, image: Buffer): Sent {
  const body = imageForm(image);
  return send(port, body, { 'content-length': String(body.length) });
}

/**
 * Posts `body` (multipart, boundary `BOUNDARY`) with `headers` over its own HTTP/2 connection,
 * and ends the stream; with `end: false` the stream stays open after `body` (a stalled upload).
 */
export function send(
  port: number,
  body: Buffer,
  headers: Record<string, string>,
  { end = true } = {},
): Sent {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  closers.push(async () => {
    session.destroy();
  });
  const stream = session.request({
    ':method': 'POST',
    ':path': '/upload',
    'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
    ...headers,
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
  });
  answer.catch(() => {}); // a reset stream's answer is never read
  if (end) stream.end(body);
  else stream.write(body);
  return { stream, answer };
}
