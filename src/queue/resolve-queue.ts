import type { RedisClientLike } from '../client/redis-connection.js';
import { openScanQueue, type QueueOption } from './open-queue.js';
import type { QueueEngine } from './types.js';

export interface OpenedQueue {
  queue: QueueEngine;
  /** Whether this code opened it (and so closes it). */
  owned: boolean;
  /** The queue's Redis, the default for the worker's shared rate limit. */
  redis: string | RedisClientLike | undefined;
}

/** An engine as given, or opened from its option. */
export async function resolveQueue(option: QueueEngine | QueueOption): Promise<OpenedQueue> {
  if (typeof (option as QueueEngine).consume === 'function') {
    const queue = option as QueueEngine & { redis?: string | RedisClientLike };
    return { queue, owned: false, redis: queue.redis };
  }
  const queueOption = option as QueueOption;
  return {
    queue: await openScanQueue(queueOption),
    owned: true,
    redis: 'redis' in queueOption ? queueOption.redis : undefined,
  };
}
