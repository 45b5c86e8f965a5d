import type { RedisClientLike } from '../client/redis-connection.js';
import { openEmbeddedQueue } from './embedded.js';
import type { QueueEngine } from './types.js';

/** Where deferred scan jobs are kept. */
export type QueueOption =
  /** The embedded engine: a directory on the local disk (SQLite + private byte files). */
  | { dir: string; keepDoneDays?: number }
  /**
   * BullMQ on Redis: any number of workers on any number of machines. `name` defaults to
   * `'photodna-guard-scan'`; `keepDoneDays` defaults to `7`.
   */
  | { redis: string | RedisClientLike; name?: string; keepDoneDays?: number; lockMs?: number };

/** Opens the engine an option names (BullMQ and better-sqlite3 are imported only when used). */
export async function openScanQueue(option: QueueOption): Promise<QueueEngine> {
  if ('redis' in option && option.redis !== undefined) {
    const { openBullmqQueue } = await import('./bullmq.js');
    return openBullmqQueue(option);
  }
  if ('dir' in option && typeof option.dir === 'string' && option.dir) {
    return openEmbeddedQueue(option);
  }
  throw new TypeError('queue: expected { dir } (embedded) or { redis } (BullMQ)');
}
