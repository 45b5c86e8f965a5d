/**
 * `limits.bodyIdleMs`: an upload body that stops sending while the guard reads it is ended by
 * the guard, as nginx's `client_body_timeout` ends one, rather than held until the client or the
 * server's own timeouts close it (a `node:http2` server has none by default). Before, each such
 * connection kept its bytes counted in `maxBufferedBytes`, and other uploads met 503
 * `SCAN_BUSY` meanwhile. Ended means treated as an uploader who left mid-body: the request is
 * destroyed (HTTP/1: the connection; HTTP/2: the stream), nothing is answered (the Web
 * `Request` guards return their 499 `Response`, which @hono/node-server writes before it closes
 * the connection), no event, no handler, its bytes given back at once, no temp file left. A slow
 * upload whose bytes keep coming is not ended, nor is a request whose check outlasts
 * `bodyIdleMs` after its body was read. Every adapter where the guard reads the body, real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { uploadBudget } from '../../src/core/upload-budget.js';
import { png } from '../fixtures/images.js';
import { adapters, startPerTest } from '../helpers/adapters.js';
import { fastifyScanAdapter } from '../helpers/adapters-web.js';
import {
  closeAfterEach,
  fastifyH2,
  honoH2,
  imageForm,
  koaH2,
  send as sendH2,
  upload as uploadH2,
} from '../helpers/http2-servers.js';
import { HeldMatcher, RecordingMatcher } from '../helpers/matchers.js';
import { exchange } from '../helpers/raw-upload.js';
import { head, KIB, MIB, partOf, send, stall, upload } from '../helpers/stalled-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';
import { until } from '../helpers/until.js';

expectNoTempFiles();

/** Short, so that the tests run quickly; the deadlines they wait on are generous. */
const IDLE = 300;
/** For the slow upload, whose chunks are paced 100 ms apart. */
const SLOW_IDLE = 1_000;
const CLEAN = png(200, 200, 1);
/** The Web `Request` guards answer an uploader gone with their 499 `Response`. */
const ANSWERS_GONE = new Set(['hono4', 'fetch']);

afterEach(async () => {
  // Nothing a test started may stay counted for the next one (the budget is the process's).
  await until(() => uploadBudget.held === 0, 'the budget given back');
});
// Registered after: run before it (the HTTP/2 servers and clients closed first).
closeAfterEach();

/** The events a guard emits about a request, in order. */
function eventsOf(guard: { on(name: string, listener: (event: unknown) => void): unknown }) {
  const seen: string[] = [];
  for (const name of ['scan', 'match', 'reject', 'error'])
    guard.on(name, () => {
      seen.push(name);
    });
  return seen;
}

describe.each([...adapters, fastifyScanAdapter])('$name', (adapter) => {
  const start = startPerTest(adapter);

  async function serve(matcher = new RecordingMatcher(), bodyIdleMs = IDLE) {
    // Anything still counted refuses the next upload (one upload alone always passes).
    const server = await start({ matcher, cache: false, limits: { maxBufferedBytes: 1 } }, [
      { path: '/upload', use: (g) => g.route({ limits: { bodyIdleMs } }).single('f') },
    ]);
    return { server, matcher, events: eventsOf(server.guard as never) };
  }

  it('an upload body that stops sending is ended after bodyIdleMs, as an uploader who left: no answer, no handler, no event, its bytes given back', async () => {
    const { server, matcher, events } = await serve();
    const part = partOf(512 * KIB, 100 * KIB);
    const stalled = stall(server.port, '/upload', part.length, part.sent);
    if (!adapter.hostParser) {
      await until(() => uploadBudget.held === part.sent.length, 'the stalled upload counted');
    }

    await until(() => stalled.closed(), 'the server to end the stalled upload', 15_000);
    expect(stalled.received()).toMatch(ANSWERS_GONE.has(adapter.name) ? /^HTTP\/1\.1 499 / : /^$/);
    await until(() => uploadBudget.held === 0, 'its bytes given back', 10_000);
    expect(server.log.runs).toBe(0);
    expect(matcher.calls).toHaveLength(0);
    expect(events).toEqual([]);

    const next = await send(server, '/upload', upload(CLEAN));
    expect(next.status).toBe(200);
    expect(server.log.runs).toBe(1);
  });

  it.runIf(!adapter.hostParser)(
    'a body refused mid-way (a file past maxFileSize) that stops sending while it is drained is ended after bodyIdleMs too',
    async () => {
      const matcher = new RecordingMatcher();
      const server = await start({ matcher, cache: false }, [
        {
          path: '/upload',
          use: (g) => g.route({ limits: { bodyIdleMs: IDLE, maxFileSize: 64 * KIB } }).single('f'),
        },
      ]);
      const part = partOf(400 * KIB, 300 * KIB);
      const stalled = stall(server.port, '/upload', part.length, part.sent);
      await until(() => stalled.closed(), 'the server to end the stalled drain', 15_000);
      expect(stalled.received()).toMatch(
        ANSWERS_GONE.has(adapter.name) ? /^HTTP\/1\.1 499 / : /^$/,
      );
      expect(server.log.runs).toBe(0);
      expect(matcher.calls).toHaveLength(0);
    },
  );

  it('a slow upload whose bytes keep coming (a chunk every 100 ms, longer in all than bodyIdleMs) passes', async () => {
    // A gap of 100 ms against 1 s: a busy machine may delay the client's next chunk a lot.
    const { server, events } = await serve(undefined, SLOW_IDLE);
    const body = upload(png(200, 200, 2));
    const size = Math.ceil(body.length / 15);
    async function* slowly() {
      for (let at = 0; at < body.length; at += size) {
        // The pace of a slow client, not a wait for something to happen.
        if (at > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        yield body.subarray(at, at + size);
      }
    }
    const began = Date.now();
    const answer = await exchange(server.port, head('/upload', body.length), slowly());
    expect(answer.status).toBe(200);
    expect(Date.now() - began).toBeGreaterThan(SLOW_IDLE);
    expect(server.log.runs).toBe(1);
    expect(events).toEqual(['scan']);
  });

  it('the wait for the check, once the body was read, is not an idle body: a check slower than bodyIdleMs passes', async () => {
    const matcher = new HeldMatcher();
    const { server } = await serve(matcher as never);
    const answering = send(server, '/upload', upload(CLEAN));
    await until(() => matcher.signals.length === 1, 'the check under way');
    const checking = Date.now();
    // The check is held for three times bodyIdleMs: a timer left running would end the request.
    await until(() => Date.now() - checking > 3 * IDLE, 'three idle periods into the check');
    matcher.release();
    const answer = await answering;
    expect(answer.status).toBe(200);
    expect(server.log.runs).toBe(1);
  });
});

describe.each([koaH2, fastifyH2, honoH2])('$name', (h2) => {
  it('a stream whose body stops sending is ended after bodyIdleMs: no handler, no event, its bytes given back, the next upload passes', async () => {
    const served = await h2.start({
      matcher: new RecordingMatcher(),
      cache: false,
      limits: { bodyIdleMs: IDLE, maxBufferedBytes: 1, maxFileSize: MIB },
    });
    const body = imageForm(png(200, 200, 3, 200 * KIB));
    const sent = 40 * KIB;
    const stalled = sendH2(
      served.port,
      body.subarray(0, sent),
      { 'content-length': String(body.length) },
      { end: false },
    );
    await until(() => uploadBudget.held === sent, 'the stalled upload counted');

    await until(() => stalled.stream.closed, 'the server to end the stalled stream', 15_000);
    await until(() => uploadBudget.held === 0, 'its bytes given back', 10_000);
    expect(served.runs()).toBe(0);
    expect(served.rejects).toEqual([]);

    const next = await uploadH2(served.port, CLEAN).answer;
    expect(next.status).toBe(200);
    expect(served.runs()).toBe(1);
  });

  it('a stream refused mid-way (a file past maxFileSize) that stops sending while it is drained is ended as gone: no answer, no reject event', async () => {
    const served = await h2.start({
      matcher: new RecordingMatcher(),
      cache: false,
      limits: { bodyIdleMs: IDLE, maxFileSize: 64 * KIB },
    });
    const body = imageForm(png(200, 200, 3, 200 * KIB));
    const stalled = sendH2(
      served.port,
      body.subarray(0, 150 * KIB),
      { 'content-length': String(body.length) },
      { end: false },
    );
    await until(() => stalled.stream.closed, 'the server to end the stalled stream', 15_000);
    expect(served.runs()).toBe(0);
    expect(served.rejects).toEqual([]);
    expect(await stalled.answer.then((a) => a.status).catch(() => 'reset')).not.toBe(413);
  });
});
