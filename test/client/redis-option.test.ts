import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ATTEMPT_CHANNEL, type AttemptMessage } from '../../src/client/diagnostics.js';
import { PhotoDnaClient } from '../../src/client/index.js';
import { resolveClientOptions } from '../../src/client/options.js';
import type { RedisClientLike } from '../../src/client/redis-connection.js';
import { COMMAND_TIMEOUT_MS, FAIL_FAST_MS } from '../../src/client/shared-window.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import { InvalidOptionsError } from '../../src/errors.js';
import { parseGuardOptions } from '../../src/options.js';
import { openScanQueue } from '../../src/queue/index.js';
import { png } from '../fixtures/images.js';
import { API_KEY, memoryLogger, serviceError } from './helpers.js';

/**
 * `rateLimit.redis` without a Redis: option validation, and the shared limiter's failure handling
 * against a scripted stand-in for an ioredis client. The real thing is tested in `test/cluster/`.
 */

type Mode = 'ok' | 'fail' | 'hang' | 'noscript-once';

/** Answers the limiter's scripts like Redis would when every call is granted. */
function fakeRedis(initial: Mode = 'ok') {
  const state = { mode: initial, evalsha: 0, eval: 0 };
  const answer = (numKeys: number) => (numKeys === 2 ? [1, Date.now()] : 1);
  const client: RedisClientLike = {
    async evalsha(_sha, numKeys) {
      state.evalsha++;
      if (state.mode === 'fail') throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      if (state.mode === 'hang') return new Promise(() => {});
      if (state.mode === 'noscript-once') {
        state.mode = 'ok';
        throw new Error('NOSCRIPT No matching script. Please use EVAL.');
      }
      return answer(numKeys);
    },
    async eval(_script, numKeys) {
      state.eval++;
      return answer(numKeys);
    },
  };
  return { client, state };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rateLimit.redis option', () => {
  it.each([
    ['a redis:// URL', 'redis://127.0.0.1:6379/0'],
    ['a rediss:// URL with credentials', 'rediss://user:pw@cache.example:6380'],
    ['an ioredis client', new Redis({ lazyConnect: true })],
    ['any object with eval and evalsha', fakeRedis().client],
  ])('accepts %s', (_, redis) => {
    expect(resolveClientOptions({ apiKey: 'k', rateLimit: { redis } }, {}).rateLimit.redis).toBe(
      redis,
    );
    expect(parseGuardOptions({ apiKey: 'k', rateLimit: { redis } }).rateLimit.redis).toBe(redis);
  });

  it.each([
    ['an http URL', 'http://127.0.0.1:6379'],
    ['a bare host', '127.0.0.1:6379'],
    ['a number', 6379],
    ['an object without eval', { get() {} }],
    // ioredis would send SELECT NaN on every connection.
    ['a URL whose path is not a database number', 'redis://:db-pw-SECRET@127.0.0.1:6379/abc'],
  ])('rejects %s, naming rateLimit.redis', (_, redis) => {
    for (const parse of [
      () => resolveClientOptions({ apiKey: 'k', rateLimit: { redis } }, {}),
      () => parseGuardOptions({ apiKey: 'k', rateLimit: { redis } }),
    ]) {
      try {
        parse();
        expect.unreachable('expected InvalidOptionsError');
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect((error as InvalidOptionsError).paths).toContain('rateLimit.redis');
        expect((error as Error).message).not.toContain('db-pw-SECRET');
      }
    }
  });

  it('a queue.redis URL whose path is not a database number is refused by the guard and by openScanQueue, without the URL', async () => {
    const redis = 'redis://:db-pw-SECRET@127.0.0.1:6379/abc';
    expect(() => parseGuardOptions({ apiKey: 'k', queue: { redis } })).toThrow(/database number/);
    const refused = await openScanQueue({ redis }).catch((error: unknown) => error as Error);
    expect((refused as Error).message).toMatch(/queue\.redis: .*database number/);
    expect((refused as Error).message).not.toContain('db-pw-SECRET');
    // A database number, or none, is a URL as ioredis reads it.
    for (const good of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://h/15']) {
      expect(parseGuardOptions({ apiKey: 'k', queue: { redis: good } }).queue).toEqual({
        redis: good,
      });
    }
  });
});

describe('the shared limiter when Redis fails', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ apiKey: API_KEY, rateLimit: false });
  });
  afterAll(async () => {
    await emulator.close();
  });
  let seed = 300;
  const image = () => png(200, 200, seed++);

  function clientWith(redis: RedisClientLike) {
    const logger = memoryLogger();
    const client = new PhotoDnaClient({
      apiKey: API_KEY,
      baseUrl: emulator.url,
      rateLimit: { perSecond: 100, redis },
      logger,
    });
    return { client, logger };
  }

  it('an error fails the call at once with rate-limiter-down, and no PhotoDNA call is made', async () => {
    const { client: redis } = fakeRedis('fail');
    const { client, logger } = clientWith(redis);
    const before = emulator.calls.length;
    const started = Date.now();
    const errors = await Promise.all(
      [1, 2, 3].map(() => serviceError(client.match(image(), 'image/png'))),
    );
    expect(Date.now() - started).toBeLessThan(500);
    for (const error of errors) {
      expect(error).toMatchObject({ guardCode: 'SCAN_UNAVAILABLE', reason: 'rate-limiter-down' });
    }
    expect(emulator.calls.length).toBe(before);
    expect(logger.lines.filter((l) => l.includes('is unavailable'))).toHaveLength(1);
    await client.close();
  });

  it(`a Redis that never answers fails the call after ${COMMAND_TIMEOUT_MS} ms, and later calls at once while failing fast`, async () => {
    const fake = fakeRedis('hang');
    const { client } = clientWith(fake.client);
    const started = Date.now();
    const waited = await Promise.all(
      [1, 2].map(() => serviceError(client.match(image(), 'image/png'))),
    );
    const elapsed = Date.now() - started;
    expect(waited.map((e) => e.reason)).toEqual(['rate-limiter-down', 'rate-limiter-down']);
    expect(elapsed).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 20);
    expect(elapsed).toBeLessThan(COMMAND_TIMEOUT_MS + 500);
    const asked = fake.state.evalsha;
    const quick = Date.now();
    expect((await serviceError(client.match(image(), 'image/png'))).reason).toBe(
      'rate-limiter-down',
    );
    // Waiting again would take COMMAND_TIMEOUT_MS; the bound leaves room for a busy machine.
    expect(Date.now() - quick).toBeLessThan(COMMAND_TIMEOUT_MS / 2);
    expect(fake.state.evalsha).toBe(asked);
    await client.close();
  });

  it(`recovers by itself: after ${FAIL_FAST_MS} ms the next call asks Redis again`, async () => {
    const fake = fakeRedis('fail');
    const { client, logger } = clientWith(fake.client);
    await serviceError(client.match(image(), 'image/png'));
    fake.state.mode = 'ok';
    await sleep(FAIL_FAST_MS + 50);
    await expect(client.match(image(), 'image/png')).resolves.toMatchObject({ isMatch: false });
    expect(logger.lines.some((l) => l.includes('answers again'))).toBe(true);
    await client.close();
  });

  it('recovers after its fail-fast spell though the wall clock stepped back an hour meanwhile', async () => {
    const fake = fakeRedis('fail');
    const { client } = clientWith(fake.client);
    await serviceError(client.match(image(), 'image/png'));
    fake.state.mode = 'ok';
    const realNow = Date.now.bind(Date);
    const stepped = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    try {
      await sleep(FAIL_FAST_MS + 50);
      // Before: the spell was timed on Date.now, and lasted the hour of the step.
      await expect(client.match(image(), 'image/png')).resolves.toMatchObject({ isMatch: false });
    } finally {
      stepped.mockRestore();
      await client.close();
    }
  });

  it("a 429 answered while Redis grants the next call's place holds that call back too", async () => {
    emulator.faults.push({ type: 'status', status: 429, retryAfter: 1 });
    // Redis answers the second call's take only once the first call met its 429.
    let takes = 0;
    let answerTake = () => {};
    const held = new Promise<void>((resolve) => {
      answerTake = resolve;
    });
    const redis: RedisClientLike = {
      async evalsha(_sha, numKeys) {
        if (numKeys !== 2) return 1;
        if (++takes === 2) await held;
        return [1, Date.now()];
      },
      async eval() {
        throw new Error('every script is known');
      },
    };
    const limited = (message: unknown) => {
      if ((message as AttemptMessage).httpStatus === 429) answerTake();
    };
    subscribe(ATTEMPT_CHANNEL, limited);
    const { client } = clientWith(redis);
    const before = emulator.calls.length;
    try {
      await Promise.all([1, 2].map(() => client.match(image(), 'image/png')));
    } finally {
      unsubscribe(ATTEMPT_CHANNEL, limited);
      await client.close();
    }
    const [first, ...rest] = emulator.calls.slice(before);
    expect(first?.httpStatus).toBe(429);
    expect(rest.length).toBeGreaterThanOrEqual(1);
    for (const call of rest) expect(call.at - (first?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  });

  it('loads its script with EVAL when Redis does not know it (after a restart)', async () => {
    const fake = fakeRedis('noscript-once');
    const { client } = clientWith(fake.client);
    await expect(client.match(image(), 'image/png')).resolves.toMatchObject({ isMatch: false });
    expect(fake.state.eval).toBe(1);
    await client.close();
  });
});
