import { createServer } from 'node:net';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ErrorEvent, GuardOptions, Matcher, ScanEvent } from '../../src/index.js';
import { png } from '../fixtures/images.js';
import { type Adapter, adapters, type Running, startPerTest } from '../helpers/adapters.js';
import { scanAdapters } from '../helpers/adapters-scan.js';
import { useEmulator } from '../helpers/emulated.js';
import { abortMidUpload, multipartBody } from '../helpers/raw-upload.js';
import { expectNoTempFiles } from '../helpers/tmpdir.js';

// A disk entry's host parser saves to the OS temp directory: nothing refused may stay there.
expectNoTempFiles();

const emu = useEmulator({ rateLimit: false });
let seed = 1000;
/** A fresh image each time, so the dedup cache never answers for another test. */
const fresh = () => png(200, 200, seed++);

describe.each([...adapters, ...scanAdapters])('$name', (adapter: Adapter) => {
  const running: Running[] = [];
  afterEach(async () => {
    emu.emulator.faults.clear();
    emu.emulator.setLatency(0);
    await Promise.all(running.splice(0).map((r) => r.close()));
  });

  async function start(extra: GuardOptions = {}, apiKey?: string) {
    const options = emu.options(extra);
    const server = await adapter.start(
      apiKey ? { ...options, apiKey } : options,
      [{ path: '/upload' }],
      { global: true },
    );
    running.push(server);
    const errors: ErrorEvent[] = [];
    const scans: ScanEvent[] = [];
    server.guard.on('error', (e) => errors.push(e)).on('scan', (e) => scans.push(e));
    return { server, errors, scans, key: options.apiKey as string };
  }
  const callsWithKey = (key: string) => emu.emulator.calls.filter((c) => c.key === key);
  const send = (server: Running, bytes = fresh()) =>
    request(server.url).post('/upload').attach('f', bytes, 'f.png');

  it.each([
    ['HTTP 500', { type: 'status', status: 500 }],
    ['HTTP 503', { type: 'status', status: 503 }],
    ['HTTP 429 with Retry-After', { type: 'status', status: 429, retryAfter: 1 }],
    ['a connection reset', { type: 'reset' }],
    ['Status.Code 3004', { type: 'code', code: 3004 }],
    ['malformed JSON', { type: 'malformed' }],
    ['an answer of the wrong shape', { type: 'shape' }],
  ] as const)('recovers from %s followed by a good answer', async (_, fault) => {
    const { server, key } = await start();
    emu.emulator.faults.push(fault);
    const res = await send(server);
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('clean');
    expect(callsWithKey(key)).toHaveLength(2);
  });

  it('a fault that persists past the retries answers 503 SCAN_UNAVAILABLE with Retry-After; events: error (the cause) then one reject (the answer)', async () => {
    const { server, errors, key } = await start();
    const sequence: string[] = [];
    server.guard
      .on('error', (e) => sequence.push(`error:${e.stage}`))
      .on('reject', (e) => sequence.push(`reject:${e.code}:${e.status}`));
    emu.emulator.faults.push(
      ...Array.from({ length: 10 }, () => ({ type: 'status' as const, status: 500 })),
    );
    const res = await send(server);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ error: { code: 'SCAN_UNAVAILABLE', message: expect.any(String) } });
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(server.log.runs).toBe(0);
    expect(errors.map((e) => `${e.stage}:${e.reason}`)).toEqual(['scan:server-error']);
    expect(sequence).toEqual(['error:scan', 'reject:SCAN_UNAVAILABLE:503']);
    expect(callsWithKey(key).length).toBeGreaterThan(1);
  });

  it("a service's Retry-After of a day reaches the uploader as at most a minute", async () => {
    const { server } = await start();
    emu.emulator.faults.push({ type: 'status', status: 503, retryAfter: 86_400 });
    const res = await send(server);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    // Before: "Retry-After: 86400", every uploader told to come back tomorrow by one answer.
    expect(res.headers['retry-after']).toBe('60');
  });

  it('client tuning reaches the client: maxAttempts 1 makes exactly one call', async () => {
    const { server, key } = await start({ client: { retry: { maxAttempts: 1 } } });
    emu.emulator.faults.push({ type: 'status', status: 500 });
    const res = await send(server);
    expect(res.status).toBe(503);
    expect(callsWithKey(key)).toHaveLength(1);
  });

  it('malformed answers never pass as clean', async () => {
    const { server } = await start();
    emu.emulator.faults.push(...Array.from({ length: 10 }, () => ({ type: 'malformed' as const })));
    const res = await send(server);
    expect(res.status).toBe(503);
    expect(server.log.runs).toBe(0);
  });

  it("under failMode 'open' an unchecked file goes through, marked unchecked, with an error event", async () => {
    const { server, errors } = await start({ failMode: 'open' });
    emu.emulator.faults.push(
      ...Array.from({ length: 10 }, () => ({ type: 'status' as const, status: 503 })),
    );
    const res = await send(server);
    expect(res.status).toBe(200);
    expect(res.body.photodna.status).toBe('unchecked');
    expect(res.body.photodna.files[0]).toMatchObject({ isMatch: false, matchFlags: [] });
    expect(res.body.photodna.files[0].trackingId).toBeUndefined();
    expect(errors).toHaveLength(1);
  });

  it('a hanging service answers 503 within scanTimeoutMs', async () => {
    const { server, errors } = await start({ scanTimeoutMs: 800 });
    emu.emulator.faults.push({ type: 'hang' });
    const started = Date.now();
    const res = await send(server);
    const elapsed = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(3000);
    expect(errors[0]?.reason).toBe('timeout');
  });

  it('a bad key (401) is a configuration error event that never names the key; 503 to the uploader', async () => {
    const strict = await (await import('../../src/emulator/index.js')).startEmulator({
      apiKey: 'the-right-key',
      rateLimit: false,
    });
    try {
      const secret = 'sk-WRONG-secret-0123456789';
      const logged: string[] = [];
      const logger = {
        debug: (o: unknown, m?: string) => logged.push(JSON.stringify(o) + (m ?? '')),
        info: (o: unknown, m?: string) => logged.push(JSON.stringify(o) + (m ?? '')),
        warn: (o: unknown, m?: string) => logged.push(JSON.stringify(o) + (m ?? '')),
        error: (o: unknown, m?: string) =>
          logged.push(String((o as { err?: Error })?.err?.message) + JSON.stringify(o) + (m ?? '')),
      };
      const server = await adapter.start(
        { apiKey: secret, baseUrl: strict.url, logger },
        [{ path: '/upload' }],
        { global: true },
      );
      running.push(server);
      const errors: ErrorEvent[] = [];
      server.guard.on('error', (e) => errors.push(e));
      const res = await send(server);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
      expect(errors).toHaveLength(1);
      expect(errors[0]?.reason).toBe('unauthorized');
      expect(errors[0]?.error.message).toMatch(/key/i);
      const everything = [
        JSON.stringify(res.body),
        ...errors.map(
          (e) =>
            `${e.error.message} ${e.error.stack} ${JSON.stringify(e)} ${String((e.error as Error).cause)}`,
        ),
        ...logged,
      ].join('\n');
      expect(everything).not.toContain(secret);
      expect(strict.calls.filter((c) => c.httpStatus === 401)).toHaveLength(1); // not retried
    } finally {
      await strict.close();
    }
  });

  it.each([
    ['3206', 3206, 422, 'INVALID_IMAGE'],
    ['3208', 3208, 422, 'IMAGE_TOO_SMALL'],
    ['3002', 3002, 503, 'SCAN_UNAVAILABLE'],
    ['HTTP 403', 403, 503, 'SCAN_UNAVAILABLE'],
  ] as const)(
    'a permanent %s is not retried and answers %s %s',
    async (_, code, status, expected) => {
      const { server, key } = await start({ failMode: 'closed' });
      emu.emulator.faults.push(
        code === 403 ? { type: 'status', status: 403 } : { type: 'code', code },
      );
      const res = await send(server);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(expected);
      expect(callsWithKey(key)).toHaveLength(1);
    },
  );

  it('a service that cannot be reached answers 503 SCAN_UNAVAILABLE', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((r) => closed.close(() => r()));
    const server = await adapter.start(
      { apiKey: 'k', baseUrl: `http://127.0.0.1:${port}`, scanTimeoutMs: 3000 },
      [{ path: '/upload' }],
      { global: true },
    );
    running.push(server);
    const res = await send(server);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
  });

  it('a full queue answers 503 SCAN_BUSY at once with Retry-After', async () => {
    const { server } = await start({ rateLimit: { perSecond: 1, maxQueue: 1 } });
    emu.emulator.setLatency(300);
    const responses = await Promise.all([send(server), send(server), send(server), send(server)]);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    const busy = responses.filter((r) => r.body?.error?.code === 'SCAN_BUSY');
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(busy[0]?.status).toBe(503);
    expect(Number(busy[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('sends the sniffed Content-Type upstream even when the client lied', async () => {
    const { server, key } = await start();
    const res = await request(server.url)
      .post('/upload')
      .attach('f', fresh(), { filename: 'x.gif', contentType: 'image/gif' });
    expect(res.status).toBe(200);
    expect(callsWithKey(key)[0]?.contentType).toBe('image/png');
  });

  it('a re-upload of the same bytes costs no call (scan event says cached)', async () => {
    const { server, scans, key } = await start();
    const bytes = fresh();
    expect((await send(server, bytes)).status).toBe(200);
    expect((await send(server, bytes)).status).toBe(200);
    expect(callsWithKey(key)).toHaveLength(1);
    expect(scans.map((s) => s.cached)).toEqual([false, true]);
  });

  it('an upload aborted while waiting in the queue spends no call', async () => {
    const { server, key } = await start({ rateLimit: { perSecond: 1 } });
    // The first upload takes the only slot of this second; the second waits in the queue.
    const first = send(server).then((res) => res); // supertest sends on then()
    // The first upload has reached the service (so it holds the slot) before the second is sent.
    await vi.waitFor(() => expect(callsWithKey(key)).toHaveLength(1), {
      timeout: 15_000,
      interval: 10,
    });
    const boundary = 'queuedAbort';
    const body = multipartBody(boundary, [
      { name: 'f', filename: 'q.png', type: 'image/png', data: fresh() },
    ]);
    const socketDone = abortMidUpload(server.port, '/upload', body, boundary, body.length);
    await socketDone;
    expect((await first).status).toBe(200);
    // A barrier instead of a wait: the limiter's queue is first in, first out, so once an upload
    // sent after the abort has had its call, the aborted one's turn has passed without one.
    expect((await send(server)).status).toBe(200);
    expect(callsWithKey(key)).toHaveLength(2);
  });
});

describe.each([...adapters, ...scanAdapters])(
  '$name: a custom matcher that throws instead of rejecting',
  (adapter: Adapter) => {
    const start = startPerTest(adapter);
    const throwing: Matcher = {
      match() {
        throw new Error('a bug in the matcher');
      },
    };

    it.each([
      ['the fair share and the cache', { fairShare: { maxPerClient: 2 } }],
      ['no fair share', { fairShare: false }],
      ['no cache', { fairShare: { maxPerClient: 2 }, cache: false }],
      ['neither', { fairShare: false, cache: false }],
    ] as const)(
      'with %s: 503 SCAN_UNAVAILABLE and an error event; under open, unchecked',
      async (_, extra) => {
        const closed = await start({ matcher: throwing, ...extra }, [{ path: '/upload' }], {
          global: true,
        });
        const errors: ErrorEvent[] = [];
        closed.guard.on('error', (e) => errors.push(e));
        // Files one after another, more than twice the share: a throw frees the file's place (a
        // place kept would soon answer SCAN_BUSY; the first two are counted before a key is read).
        for (let i = 0; i < 5; i++) {
          const res = await request(closed.url).post('/upload').attach('f', fresh(), 'f.png');
          expect(res.status).toBe(503);
          expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
        }
        expect(closed.log.runs).toBe(0);
        expect(errors.map((e) => e.stage)).toEqual(Array(5).fill('scan'));

        const open = await start(
          { matcher: throwing, failMode: 'open', ...extra },
          [{ path: '/upload' }],
          { global: true },
        );
        const passed = await request(open.url).post('/upload').attach('f', fresh(), 'f.png');
        expect(passed.status).toBe(200);
        expect(passed.body.photodna.status).toBe('unchecked');
        expect(open.log.runs).toBe(1);
      },
    );
  },
);
