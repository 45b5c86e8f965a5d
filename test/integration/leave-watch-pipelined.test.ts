/**
 * Pipelined HTTP/1.1: a client sends several uploads on one connection without waiting for the
 * answers. Node runs every request at once but queues each response behind the one ahead of it;
 * a queued response gets its socket, and with it its 'close', only once those ahead finished.
 * When the connection closes first, Node tells the queued responses nothing (it destroys the
 * requests, whose bodies were read already): the guard must still see every one of those
 * uploaders as gone (their scans aborted, no `reject` for them), and add no listener per request.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { photodnaGuard as fastifyGuard } from '../../src/fastify.js';
import { photodnaGuard as expressGuard, type GuardOptions } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { png } from '../fixtures/images.js';
import { HeldMatcher } from '../helpers/matchers.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

const BOUNDARY = 'pipelined';
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const unhandled: unknown[] = [];
const warnings: Error[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const onWarning = (warning: Error) => warnings.push(warning);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  process.on('warning', onWarning);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('warning', onWarning);
});

interface Served {
  server: Server;
  rejects: string[];
  runs: () => number;
  /** The server's side of each connection, as accepted. */
  connections: Socket[];
}

type Start = (options: GuardOptions) => Promise<Served>;

function served(server: Server, rejects: string[], runs: () => number): Served {
  const connections: Socket[] = [];
  server.on('connection', (socket: Socket) => connections.push(socket));
  return { server, rejects, runs, connections };
}

async function listening(server: Server): Promise<void> {
  if (!server.listening) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
}

const starts: Array<{ name: string; start: Start }> = [
  {
    name: 'Express 5',
    async start(options) {
      const guard = expressGuard(options);
      closers.push(() => guard.close());
      const rejects: string[] = [];
      guard.on('reject', (event) => rejects.push(event.code));
      let runs = 0;
      const app = express();
      app.post('/upload', guard.any(), (_req, res) => {
        runs++;
        res.json({ ok: true });
      });
      const server = app.listen(0, '127.0.0.1');
      const result = served(server, rejects, () => runs);
      await listening(server);
      return result;
    },
  },
  {
    name: 'Koa 3',
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
        ctx.body = { ok: true };
      });
      const server = app.listen(0, '127.0.0.1');
      const result = served(server, rejects, () => runs);
      await listening(server);
      return result;
    },
  },
  {
    name: 'Fastify 5',
    async start(options) {
      const app = Fastify();
      await app.register(fastifyGuard, options);
      const rejects: string[] = [];
      app.photodna.on('reject', (event) => rejects.push(event.code));
      let runs = 0;
      app.post('/upload', async () => {
        runs++;
        return { ok: true };
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return served(app.server, rejects, () => runs);
    },
  },
];

/** `count` uploads written back to back on one raw connection, before any answer. */
function pipeline(server: Server, count: number, seed: number): Socket {
  const { port } = server.address() as AddressInfo;
  const requests: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body = multipartBody(BOUNDARY, [
      { name: 'f', filename: 'a.png', type: 'image/png', data: png(300, 300, seed + i) },
    ]);
    requests.push(
      Buffer.from(
        `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${body.length}\r\n\r\n`,
      ),
      body,
    );
  }
  const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat(requests)));
  socket.on('error', () => {});
  closers.push(async () => socket.destroy());
  return socket;
}

describe.each(starts)('$name', ({ start }) => {
  it('the client closes while pipelined uploads are scanned: every one is gone, the queued too', async () => {
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const app = await start({ matcher });
    // More than Node's default of 10 listeners: one connection watched once, not once a request.
    const count = 12;
    const client = pipeline(app.server, count, 8100);
    await until(() => matcher.signals.length === count, 'every upload to be scanned', 10_000);
    const [connection] = app.connections;
    expect(app.connections).toHaveLength(1);
    client.destroy();
    await until(
      () => matcher.signals.every((signal) => signal.aborted),
      "every scan's signal to abort (the queued ones hear nothing from Node)",
      10_000,
    );
    expect(connection?.destroyed).toBe(true);
    expect(app.rejects).toEqual([]);
    expect(app.runs()).toBe(0);
    // The server stays healthy: the next connection's upload is answered.
    const next = request(app.server)
      .post('/upload')
      .attach('f', png(300, 300, 8200), 'b.png');
    const answered = next.then((res) => res.status);
    await until(() => matcher.signals.length === count + 1, 'the next scan', 10_000);
    matcher.release();
    expect(await answered).toBe(200);
    expect(app.runs()).toBe(1);
    expect(unhandled).toEqual([]);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('pipelined uploads all answered leave no listener on the connection', async () => {
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const app = await start({ matcher });
    const count = 3;
    const client = pipeline(app.server, count, 8300);
    let received = '';
    client.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    // Every scan under way while the later responses wait in Node's queue, then all answered.
    await until(() => matcher.signals.length === count, 'every upload to be scanned', 10_000);
    matcher.release();
    await until(
      () => received.split('HTTP/1.1 200 OK').length - 1 === count,
      'every pipelined upload to be answered',
      10_000,
    );
    const [connection] = app.connections;
    // Node's own listeners only: its connection's, none of a response (all finished), none of ours.
    const fresh = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    closers.push(async () => fresh.destroy());
    await until(() => app.connections.length === 2, 'a fresh connection', 10_000);
    const idle = app.connections[1] as Socket;
    expect(connection?.listenerCount('close')).toBe(idle.listenerCount('close'));
    expect(matcher.signals.some((signal) => signal.aborted)).toBe(false);
    expect(app.runs()).toBe(count);
    expect(app.rejects).toEqual([]);
  });
});
