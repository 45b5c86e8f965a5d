import { inspect } from 'node:util';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import { type ErrorEvent, photodnaGuard } from '../../src/index.js';
import { memoryLogger } from '../client/helpers.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { useEmulator } from '../helpers/emulated.js';
import { serveUploads } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';

/**
 * A guard that defers to a BullMQ queue (its workers elsewhere) when the queue's Redis refuses
 * it: a deferred upload is answered (503, never held forever), the failure is reported with its
 * reason, and the Redis password appears in no event, log line or printed object, even where
 * ioredis's own error carries the `AUTH` command with its arguments.
 */

const emu = useEmulator({ rateLimit: false });
let seed = 73_000;

describeWithRedis('a guard whose queue Redis refuses it', () => {
  const redisHost = useRedisWithAdmin();
  const closers: Array<() => Promise<void>> = [];

  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  /** A Redis user allowed everything, with this password. */
  async function user(name: string, password: string): Promise<void> {
    await redisHost.admin.call('ACL', 'SETUSER', name, 'on', `>${password}`, '~*', '&*', '+@all');
  }

  async function start(name: string, password: string) {
    const logger = memoryLogger();
    const guard = photodnaGuard(
      emu.options({
        queue: { redis: `redis://${name}:${password}@127.0.0.1:${redisHost.server.port}` },
        defer: true,
        scanTimeoutMs: 1_000,
        logger,
      }),
    );
    const errors: ErrorEvent[] = [];
    guard.on('error', (e) => void errors.push(e));
    const server = await serveUploads(guard);
    closers.push(() => server.close());
    const upload = () =>
      request(server.url)
        .post('/upload')
        .attach('f', png(200, 200, seed++), 'a.png');
    /** Everything that could show the password: events whole, log lines, the guard printed. */
    const shown = () =>
      [inspect(errors, { depth: 20 }), logger.lines.join('\n'), inspect(guard, { depth: 20 })].join(
        '\n',
      );
    return { guard, errors, upload, shown };
  }

  it('wrong password: a deferred upload is refused within scanTimeoutMs, the refusal reported as unauthorized', async () => {
    await user('guard-a', 'right-pw-A1SECRET');
    const s = await start('guard-a', 'wrong-pw-A2SECRET');
    const res = await s.upload();
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(res.headers['retry-after']).toMatch(/^\d+$/); // SPEC 3.3: 503 + Retry-After
    expect(s.errors).toContainEqual(expect.objectContaining({ stage: 'scan', reason: 'timeout' }));
    await until(() => s.errors.some((e) => e.stage === 'queue'), "the queue's Redis reported");
    const reported = s.errors.find((e) => e.stage === 'queue');
    expect(reported?.reason).toBe('unauthorized');
    expect(reported?.error.message).toMatch(/^the queue's Redis: WRONGPASS/);
    expect(s.shown()).not.toContain('wrong-pw-A2SECRET');
  });

  it('password changed while running: the next deferred upload fails, and the AUTH command ioredis carries shows nowhere', async () => {
    await user('guard-b', 'first-pw-B1SECRET');
    const s = await start('guard-b', 'first-pw-B1SECRET');
    const first = await s.upload();
    expect(first.status).toBe(200);
    expect(first.body.photodna.status).toBe('pending');
    await redisHost.admin.call('ACL', 'SETUSER', 'guard-b', 'resetpass', '>second-pw-B2SECRET');
    await redisHost.admin.call('CLIENT', 'KILL', 'USER', 'guard-b');
    const second = await s.upload();
    expect(second.status).toBe(503);
    expect(second.body.error.code).toBe('SCAN_UNAVAILABLE');
    expect(second.headers['retry-after']).toMatch(/^\d+$/); // SPEC 3.3: 503 + Retry-After
    const failed = s.errors.find((e) => e.stage === 'scan');
    expect(failed?.error.message).toMatch(/WRONGPASS|did not answer within/);
    expect(s.shown()).not.toContain('first-pw-B1SECRET');
    expect(s.shown()).not.toContain('second-pw-B2SECRET');
  });
});
