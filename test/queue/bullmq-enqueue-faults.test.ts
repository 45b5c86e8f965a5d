import { expect, it } from 'vitest';
import { STACK_TRACES_KEPT } from '../../src/queue/bullmq.js';
import { openScanQueue } from '../../src/queue/index.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';

/**
 * Issue 12: a BullMQ enqueue that Redis refuses after the job's bytes were stored (its add refused:
 * out of memory, a read-only replica after a failover, a missing permission) keeps no copy of the
 * upload: nothing would ever delete it, and the request that sent it was refused.
 */

describeWithRedis('BullMQ enqueue refused by Redis', () => {
  const redisHost = useRedisWithAdmin();

  it('a job whose add is refused leaves no copy of its bytes in Redis', async () => {
    // Allowed to store the bytes, not to run BullMQ's add script.
    await redisHost.admin.call(
      'ACL',
      'SETUSER',
      'noadd',
      'on',
      '>pw',
      '~*',
      '&*',
      '+@all',
      '-@scripting',
    );
    const queue = await openScanQueue({
      redis: `redis://noadd:pw@127.0.0.1:${redisHost.server.port}`,
      name: 'refused-add',
    });
    try {
      await expect(
        queue.enqueue({ scanId: 'refused-1', source: { kind: 'bytes', bytes: png(120, 120, 5) } }),
      ).rejects.toThrow(/NOPERM/);
      expect(await redisHost.admin.keys('photodna-guard:scan-bytes:refused-add:*')).toEqual([]);
    } finally {
      await queue.close();
    }
  }, 30_000);

  it('a job keeps only its last stack traces (retried through a long outage, it would grow in Redis)', async () => {
    const queue = await openScanQueue({ redis: redisHost.server.url, name: 'trace-limit' });
    try {
      await queue.enqueue({
        scanId: 'traced-1',
        source: { kind: 'bytes', bytes: png(120, 120, 6) },
      });
      const [key] = await redisHost.admin.keys('bull:trace-limit:traced-1');
      const opts = JSON.parse((await redisHost.admin.hget(key as string, 'opts')) ?? '{}');
      expect(opts.stackTraceLimit).toBe(STACK_TRACES_KEPT);
    } finally {
      await queue.close();
    }
  }, 30_000);
});
