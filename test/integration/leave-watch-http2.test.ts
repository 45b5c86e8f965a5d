/**
 * The guard on HTTP/2 (the servers and client of test/helpers/http2-servers.ts): an upload is
 * checked as over HTTP/1, and an uploader who resets the stream is gone: no answer, no `reject`
 * event, the scan's signal aborted. The compatibility response has no `destroyed`, so one who
 * left before the guard started watching (while a step ahead of it ran) must still be seen as
 * gone, not waited on forever.
 */
import { once } from 'node:events';
import { constants, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import fastifyMultipart from '@fastify/multipart';
import koaMulter from '@koa/multer';
import Fastify from 'fastify';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photodnaGuard as fastifyGuard } from '../../src/fastify.js';
import type { GuardOptions } from '../../src/index.js';
import { photodnaGuard as koaGuard } from '../../src/koa.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import {
  BOUNDARY,
  closeAfterEach,
  closers,
  fastifyH2,
  type H2Server,
  honoH2,
  koaH2,
  listening,
  type Sent,
  type Served,
  send,
  upload,
} from '../helpers/http2-servers.js';
import { HeldMatcher } from '../helpers/matchers.js';
import { multipartBody } from '../helpers/raw-upload.js';
import { until } from '../helpers/until.js';

const env = useEmulator();
closeAfterEach();

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** A step ahead of the guard that waits until the uploader is gone (a slow middleware). */
interface Ahead {
  arrived: boolean;
  /** How the step ended once the guard was done: 'returned' when the guard gave control back. */
  settled: string;
}

interface H2Adapter extends H2Server {
  /**
   * The host's parser reads the body, then a slow step runs, then the guard scans the files it
   * left (Koa `guard.scan()` after @koa/multer, Fastify `mode: 'scan'` after @fastify/multipart).
   */
  startBehindSlowStep?(options: GuardOptions, ahead: Ahead): Promise<Served>;
}

function closed(res: NodeJS.EventEmitter): Promise<unknown> {
  return once(res, 'close');
}

const koa: H2Adapter = {
  ...koaH2,
  async startBehindSlowStep(options, ahead) {
    const guard = koaGuard(options);
    closers.push(() => guard.close());
    const rejects: string[] = [];
    guard.on('reject', (event) => rejects.push(event.code));
    let runs = 0;
    const app = new Koa();
    app.use(koaMulter().any() as never);
    app.use(async (ctx, next) => {
      ahead.arrived = true;
      await closed(ctx.res);
      try {
        await next();
        ahead.settled = 'returned';
      } catch (error) {
        ahead.settled = `threw ${String(error)}`;
      }
    });
    app.use(guard.scan() as never);
    app.use((ctx) => {
      runs++;
      ctx.body = 'ok';
    });
    const port = await listening(createServer(app.callback()));
    return { port, rejects, runs: () => runs, metrics: () => guard.metrics() };
  },
};

const fastify: H2Adapter = {
  ...fastifyH2,
  async startBehindSlowStep(options, ahead) {
    const app = Fastify({ http2: true });
    closers.push(() => app.close());
    await app.register(fastifyMultipart, { attachFieldsToBody: true });
    await app.register(fastifyGuard, { ...options, mode: 'scan' });
    const rejects: string[] = [];
    app.photodna.on('reject', (event) => rejects.push(event.code));
    // The application's hooks run before a route's own, where the guard's is.
    app.addHook('preValidation', async (_request, reply) => {
      ahead.arrived = true;
      await closed(reply.raw);
    });
    let runs = 0;
    app.post('/upload', async () => {
      runs++;
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { port, rejects, runs: () => runs, metrics: () => app.photodna.metrics() };
  },
};

const hono: H2Adapter = honoH2;

/** The uploader resets its stream (RST_STREAM CANCEL): it is gone, its connection stays. */
function reset(sent: Sent): void {
  sent.stream.close(constants.NGHTTP2_CANCEL);
}

describe.each([koa, fastify, hono])('$name', (adapter) => {
  it('a clean upload reaches the handler; the emulator test image is refused, disguised as unreadable', async () => {
    const served = await adapter.start(env.options());
    const clean = await upload(served.port, png(300, 300, 7001)).answer;
    expect(clean.status).toBe(200);
    expect(JSON.parse(clean.body)).toEqual({ files: 1 });
    const known = await upload(served.port, knownImage()).answer;
    expect(known.status).toBe(422);
    // `matchAnswer: 'disguised'` (the default): answered like an unreadable image.
    expect(JSON.parse(known.body)).toEqual({
      error: { code: 'INVALID_IMAGE', message: 'The file is not a readable image.' },
    });
    expect(served.runs()).toBe(1);
    expect(served.rejects).toEqual(['UPLOAD_REJECTED']);
  });

  it('an uploader who resets the stream mid-scan is gone: scan aborted, no reject, no answer', async () => {
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const served = await adapter.start({ matcher });
    const sent = upload(served.port, png(300, 300, 7002));
    await until(() => matcher.signals.length === 1, 'the scan to start', 10_000);
    reset(sent);
    await until(() => matcher.allAborted, "the scan's signal to abort", 10_000);
    // The server stays healthy: the next uploader is answered.
    matcher.release();
    const next = upload(served.port, png(300, 300, 7003));
    await until(() => matcher.signals.length === 2, 'the next scan to start', 10_000);
    matcher.release();
    expect((await next.answer).status).toBe(200);
    expect(served.rejects).toEqual([]);
    expect(served.runs()).toBe(1); // the next upload only
    expect(unhandled).toEqual([]);
  });
});

describe.each(
  [koa, fastify].map((adapter) => ({
    name: adapter.name,
    adapter: adapter as Required<H2Adapter>,
  })),
)('$name, a host parser and a slow step ahead of the guard', ({ adapter }) => {
  it('an uploader gone before the guard scans is seen as gone at once, not waited on', async () => {
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const ahead: Ahead = { arrived: false, settled: '' };
    const served = await adapter.startBehindSlowStep({ matcher }, ahead);
    const sent = upload(served.port, png(300, 300, 7004));
    await until(() => ahead.arrived, 'the body to be parsed and the slow step to run', 10_000);
    reset(sent);
    // A scan started on a request whose 'close' already came: its signal aborts at once
    // (before the fix it stayed unaborted, and the request was held forever).
    await until(() => matcher.allAborted, "the scan's signal to abort", 10_000);
    if (adapter === koa) {
      await until(() => ahead.settled !== '', 'the guard to give the request up', 10_000);
      expect(ahead.settled).toBe('returned');
    }
    expect(served.rejects).toEqual([]);
    expect(served.runs()).toBe(0);
    expect(unhandled).toEqual([]);
  });
});

describe('Koa 3 on http2.createServer, the guard parsing, a slow step ahead of it', () => {
  it('an uploader who reset the stream meanwhile is gone: its body never reaches the handler as "read before"', async () => {
    // Node ends an HTTP/2 compatibility request whose stream closed (its unread data dropped)
    // instead of destroying it, as HTTP/1 does: the guard must not take that body for one a
    // host parser read, with no files in it, and hand the request on.
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const guard = koaGuard({ matcher });
    closers.push(() => guard.close());
    const rejects: string[] = [];
    guard.on('reject', (event) => rejects.push(event.code));
    const ahead: Ahead = { arrived: false, settled: '' };
    let runs = 0;
    const app = new Koa();
    app.use(async (ctx, next) => {
      ahead.arrived = true;
      await closed(ctx.res);
      await until(() => ctx.req.readableEnded, 'Node to end the request', 10_000);
      await next();
      ahead.settled = 'returned';
    });
    app.use(guard);
    app.use((ctx) => {
      runs++;
      ctx.body = 'ok';
    });
    const port = await listening(createServer(app.callback()));
    const sent = upload(port, png(300, 300, 7005));
    await until(() => ahead.arrived, 'the slow step to run', 10_000);
    reset(sent);
    await until(() => ahead.settled !== '', 'the guard to give the request up', 10_000);
    expect(runs).toBe(0);
    expect(matcher.signals).toHaveLength(0);
    expect(rejects).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});

describe("Fastify 5 with http2: true, mode 'scan', a body sent without Content-Length", () => {
  it('is read by @fastify/multipart and checked, its malformed form still refused as on Express', async () => {
    // HTTP/2 has no Transfer-Encoding: a streamed body announces no length. The plugin reads it;
    // the guard's own parser judges the same bytes alongside, whatever the headers say of length.
    const matcher = new HeldMatcher();
    closers.push(async () => matcher.release());
    const app = Fastify({ http2: true });
    closers.push(() => app.close());
    await app.register(fastifyMultipart);
    await app.register(fastifyGuard, { matcher, mode: 'scan' });
    const rejects: string[] = [];
    app.photodna.on('reject', (event) => rejects.push(event.code));
    let runs = 0;
    app.post('/upload', async () => {
      runs++;
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const image = multipartBody(BOUNDARY, [
      { name: 'f', filename: 'a.png', type: 'image/png', data: png(300, 300, 7006) },
    ]);
    const clean = send(port, image, {});
    await until(() => matcher.signals.length === 1, 'the file to be checked', 10_000);
    matcher.release();
    expect((await clean.answer).status).toBe(200);
    const nameless = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
    );
    const refused = await send(port, nameless, {}).answer;
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body).error.code).toBe('MALFORMED_MULTIPART');
    expect(runs).toBe(1);
    expect(rejects).toEqual(['MALFORMED_MULTIPART']);
  });
});
