import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { PhotoDnaClient, type PhotoDnaClientOptions } from '../../src/client/index.js';
import { budgetKeyPrefix, COMMAND_TIMEOUT_MS } from '../../src/client/shared-window.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { memoryLogger, serviceError } from '../client/helpers.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';
import { useRedisServer } from './redis-admin.js';
import { freePort, startRedisServer } from './redis-server.js';
import { describeWithRedis } from './requires-redis.js';

/** `PhotoDnaClient` with `rateLimit.redis` against a real redis-server: keys, failures, recovery. */

let seed = 9000;
const image = () => png(200, 200, seed++);

describeWithRedis('rateLimit.redis (PhotoDnaClient, real Redis)', () => {
  const redis = useRedisServer();
  let emulator: Emulator;
  const clients: PhotoDnaClient[] = [];
  let keyCounter = 0;

  beforeAll(async () => {
    emulator = await startEmulator({ rateLimit: false });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    if (!redis.running) await redis.start();
  });
  afterAll(async () => {
    await emulator?.close();
  });

  function client(options: PhotoDnaClientOptions = {}): PhotoDnaClient {
    const created = new PhotoDnaClient({
      apiKey: `redis-window-key-${++keyCounter}-secret`,
      baseUrl: emulator.url,
      ...options,
      rateLimit: { perSecond: 5, redis: redis.url, ...options.rateLimit },
    });
    clients.push(created);
    return created;
  }

  it('keys its Redis entries by a hash of the subscription key, never the key, and lets them expire', async () => {
    const apiKey = 'a-subscription-key-that-must-not-leak';
    const logger = memoryLogger();
    await client({ apiKey, logger }).match(image(), 'image/png');
    const inspect = new Redis(redis.url);
    try {
      const keys = await inspect.keys('*');
      const prefix = budgetKeyPrefix(apiKey, 'v2');
      expect(keys.filter((k) => k.startsWith(prefix)).sort()).toEqual([
        `${prefix}:log`,
        `${prefix}:next`,
      ]);
      expect(keys.join(' ')).not.toContain(apiKey);
      for (const key of keys) expect(await inspect.pttl(key)).toBeGreaterThan(0);
    } finally {
      inspect.disconnect();
    }
    expect(logger.lines.join('\n')).not.toContain(apiKey);
  });

  it('uses a caller-supplied ioredis client as is and leaves it open on close()', async () => {
    const own = new Redis(redis.url);
    try {
      const c = client({ rateLimit: { redis: own } });
      await c.match(image(), 'image/png');
      await c.close();
      expect(own.status).toBe('ready');
      expect(await own.ping()).toBe('PONG');
    } finally {
      own.disconnect();
    }
  });

  it('two clients with the same key share one budget: the sixth call of a second waits', async () => {
    const apiKey = 'shared-budget-key-0001';
    const [a, b] = [client({ apiKey }), client({ apiKey })] as [PhotoDnaClient, PhotoDnaClient];
    const from = emulator.calls.length;
    await Promise.all([
      ...Array.from({ length: 3 }, () => a.match(image(), 'image/png')),
      ...Array.from({ length: 3 }, () => b.match(image(), 'image/png')),
    ]);
    const times = emulator.calls.slice(from).map((c) => c.at);
    expect(times).toHaveLength(6);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1_000);
  });

  it('a caller that gives up while waiting for the shared window makes no call', async () => {
    const options = { apiKey: 'abandon-key-0002', rateLimit: { perSecond: 1 } };
    const from = emulator.calls.length;
    await client(options).match(image(), 'image/png');
    // The window is full for about a second: the other client's call waits for it.
    const controller = new AbortController();
    const waiter = client(options);
    const waiting = waiter.match(image(), 'image/png', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('uploader left')), 100);
    await expect(waiting).rejects.toThrow('uploader left');
    // The same client's next call: had the abandoned caller kept its place in the client's FIFO,
    // it would have been served first and made a call before this one is answered.
    await waiter.match(image(), 'image/png');
    expect(emulator.calls.length - from).toBe(2);
  });

  it('a Redis clock that stepped back (or a failover to a replica behind it) holds calls back one window at most, not for the step', async () => {
    const apiKey = 'clock-step-key-0004';
    const prefix = budgetKeyPrefix(apiKey, 'v2');
    const inspect = new Redis(redis.url);
    try {
      // What a full window leaves behind when written an hour ahead of Redis's clock as it is
      // now: Redis keeps absolute expiry times, so the keys live an hour too.
      const [seconds, micros] = await inspect.time();
      const ahead = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 3_600_000;
      const life = 3_600_000 + 2_030;
      await inspect.set(`${prefix}:next`, String(ahead + 203), 'PX', life);
      for (let i = 0; i < 5; i++) await inspect.zadd(`${prefix}:log`, ahead - i * 203, `old:${i}`);
      await inspect.pexpire(`${prefix}:log`, life);
    } finally {
      inspect.disconnect();
    }
    const started = Date.now();
    const result = await client({ apiKey }).match(image(), 'image/png', {
      signal: AbortSignal.timeout(5_000),
    });
    expect(result).toMatchObject({ isMatch: false });
    // The old calls count as started now (they may well have been, by the real time).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('Redis frozen: calls fail with rate-limiter-down within about two seconds, then recover', async () => {
    const logger = memoryLogger();
    const c = client({ logger });
    await c.match(image(), 'image/png');
    redis.freeze();
    try {
      const started = Date.now();
      const error = await serviceError(c.match(image(), 'image/png'));
      expect(error.reason).toBe('rate-limiter-down');
      expect(error.guardCode).toBe('SCAN_UNAVAILABLE');
      expect(Date.now() - started).toBeLessThan(2_200);
      // While failing fast, a new call does not wait again (waiting would take COMMAND_TIMEOUT_MS;
      // the bound leaves room for a busy machine's pauses).
      const quick = Date.now();
      expect((await serviceError(c.match(image(), 'image/png'))).reason).toBe('rate-limiter-down');
      expect(Date.now() - quick).toBeLessThan(COMMAND_TIMEOUT_MS / 2);
    } finally {
      redis.thaw();
    }
    // It answers again once its fail-fast window (FAIL_FAST_MS) has passed: asked until then.
    let result: unknown;
    await until(
      async () => {
        result = await c.match(image(), 'image/png').catch((e: unknown) => e);
        return !(result instanceof Error);
      },
      'the client to answer again after its fail-fast window',
      10_000,
    );
    expect(result).toMatchObject({ isMatch: false });
    const text = logger.lines.join('\n');
    expect(text).toContain('shared rate limiter (Redis) is unavailable');
    expect(text).toContain('answers again');
  });

  it('Redis not there when the client starts: fails at once, works once Redis appears', async () => {
    const port = await freePort();
    const c = new PhotoDnaClient({
      apiKey: 'late-redis-key-0003',
      baseUrl: emulator.url,
      rateLimit: { redis: `redis://127.0.0.1:${port}` },
    });
    clients.push(c);
    const started = Date.now();
    expect((await serviceError(c.match(image(), 'image/png'))).reason).toBe('rate-limiter-down');
    expect(Date.now() - started).toBeLessThan(2_200);
    const late = await startRedisServer({ port });
    try {
      let result: unknown;
      await until(
        async () => {
          result = await c.match(image(), 'image/png').catch((e: unknown) => e);
          return !(result instanceof Error);
        },
        'the client to work once Redis appears',
        6_000,
      );
      expect(result).toMatchObject({ isMatch: false });
    } finally {
      await c.close();
      await late.close();
    }
  }, 15_000);
});
