import { expect, it } from 'vitest';
import { openScanQueue } from '../../src/queue/index.js';
import type { QueueDepth, QueueEngine } from '../../src/queue/types.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { until } from '../helpers/until.js';

/**
 * BullMQ's depth counts the jobs held for their request's verdict (`EnqueueOptions.holdId`) as
 * `held`, not `waiting`, as the embedded queue does: they are delayed jobs that may never run, and
 * a host that scales workers on `waiting` must not count them. Read from a count kept beside the
 * holds, in one command, never job by job.
 */

describeWithRedis('BullMQ depth: held jobs counted apart', () => {
  const redis = useRedisWithAdmin();

  async function depthBecomes(queue: QueueEngine, expected: Partial<QueueDepth>) {
    let depth: QueueDepth | undefined;
    await until(
      async () => {
        depth = await queue.depth();
        return Object.entries(expected).every(([k, v]) => depth?.[k as keyof QueueDepth] === v);
      },
      `depth ${JSON.stringify(expected)} (last ${JSON.stringify(depth)})`,
    );
  }

  it('held until released or withdrawn, then waiting; a job without a hold waits', async () => {
    const queue = await openScanQueue({ redis: redis.server.url, name: 'held-depth' });
    try {
      const job = (scanId: string) => ({ scanId, source: { kind: 'ref' as const, ref: scanId } });
      await queue.enqueue(job('a-1'), { holdId: 'hold-a' });
      await queue.enqueue(job('a-2'), { holdId: 'hold-a' });
      await queue.enqueue(job('b-1'), { holdId: 'hold-b' });
      await queue.enqueue(job('free-1'));
      expect(await queue.depth()).toMatchObject({ waiting: 1, held: 3, active: 0 });

      await queue.release?.('hold-a', ['a-1', 'a-2']);
      await depthBecomes(queue, { waiting: 3, held: 1, active: 0 });

      // Withdrawn: no longer held; it waits for a worker to end it refused.
      await queue.withdraw?.('hold-b', ['b-1']);
      await depthBecomes(queue, { waiting: 4, held: 0, active: 0 });
      // The count keeps nothing of them.
      expect(await redis.admin.zcard('photodna-guard:scan-held:held-depth')).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it('a withdrawn held job ends unrun and leaves the count; a member whose delay has ended is not held', async () => {
    const name = 'held-depth-worker';
    const queue = await openScanQueue({ redis: redis.server.url, name });
    try {
      await queue.enqueue({ scanId: 'w-1', source: { kind: 'ref', ref: 'w-1' } }, { holdId: 'w' });
      // A member whose job's delay has ended (its enqueuer died before the add, say): not held.
      await redis.admin.zadd(`photodna-guard:scan-held:${name}`, Date.now() - 1_000, 'ghost');
      expect(await queue.depth()).toMatchObject({ waiting: 0, held: 1 });
      const ran: string[] = [];
      const consumer = queue.consume(
        async (job) => {
          ran.push(job.scanId);
          return { done: true, outcome: 'clean' };
        },
        { concurrency: 1 },
      );
      try {
        await queue.withdraw?.('w', ['w-1']);
        await depthBecomes(queue, { waiting: 0, held: 0, active: 0 });
      } finally {
        await consumer.close();
      }
      expect(ran).toEqual([]);
      expect(await redis.admin.zscore(`photodna-guard:scan-held:${name}`, 'w-1')).toBeNull();
    } finally {
      await queue.close();
    }
  });
});
