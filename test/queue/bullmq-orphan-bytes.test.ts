import { afterAll, beforeAll, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import type { ScanEvent } from '../../src/events.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import type { Matcher } from '../../src/types.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';

/**
 * A BullMQ enqueue stores the upload's bytes, then adds its job: a process that dies in between
 * leaves the bytes with no job to delete them. A worker sweeps such keys when it starts, and only
 * those: never the bytes of a job that exists (however long it has waited), nor bytes stored
 * less than a day ago (an enqueue that has not added its job yet), nor another queue's.
 */

const TWO_DAYS_S = 2 * 86_400;

describeWithRedis('BullMQ queue: bytes left without a job', () => {
  const redisHost = useRedisWithAdmin();
  const redis = redisHost.server;
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ rateLimit: { perSecond: 5 } });
  }, 30_000);
  afterAll(async () => {
    await emulator?.close();
  });

  const bytesKey = (name: string, scanId: string) => `photodna-guard:scan-bytes:${name}:${scanId}`;

  /** Makes a key look untouched for `seconds` (RESTORE ... IDLETIME), its value unchanged. */
  async function age(key: string, seconds: number): Promise<void> {
    const dump = await redisHost.admin.dumpBuffer(key);
    if (!dump) throw new Error(`no key ${key}`);
    await redisHost.admin.call('RESTORE', key, '0', dump, 'REPLACE', 'IDLETIME', String(seconds));
  }

  it('a worker deletes, when it starts, the bytes of no job idle for a day, and nothing else', async () => {
    const name = 'orphans';
    const queue = await openScanQueue({ redis: redis.url, name });
    // Taken first (one at a time), it holds the worker while the others wait.
    await queue.enqueue({ scanId: 'blocker', source: { kind: 'bytes', bytes: png(200, 200, 1) } });
    await queue.enqueue({ scanId: 'live-1', source: { kind: 'bytes', bytes: png(200, 200, 2) } });
    // A job waiting for two days keeps its bytes.
    await age(bytesKey(name, 'live-1'), TWO_DAYS_S);
    // Bytes whose enqueue died before its add, two days ago.
    await redisHost.admin.set(bytesKey(name, 'orphan-old'), png(200, 200, 3));
    await age(bytesKey(name, 'orphan-old'), TWO_DAYS_S);
    // Bytes of an enqueue that has not added its job yet.
    await redisHost.admin.set(bytesKey(name, 'orphan-new'), png(200, 200, 4));
    // Other queues' orphans, one under a name that extends this one's (its keys match the prefix).
    for (const other of ['orphans-other', 'orphans:sub']) {
      await redisHost.admin.set(bytesKey(other, 'x-1'), png(200, 200, 5));
      await age(bytesKey(other, 'x-1'), TWO_DAYS_S);
    }

    const client = new PhotoDnaClient({ apiKey: 'orphan-key', baseUrl: emulator.url });
    const inner = client.asMatcher();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const matcher: Matcher = {
      match: async (request) => {
        await held;
        return inner.match(request);
      },
    };
    const scans: ScanEvent[] = [];
    const worker = await createScanWorker({ queue, matcher, concurrency: 1 });
    worker.on('scan', (e) => {
      scans.push(e);
    });
    try {
      await until(
        async () => (await redisHost.admin.exists(bytesKey(name, 'orphan-old'))) === 0,
        'the orphan swept',
        15_000,
      );
      expect(await redisHost.admin.exists(bytesKey(name, 'live-1'))).toBe(1);
      expect(await redisHost.admin.exists(bytesKey(name, 'orphan-new'))).toBe(1);
      expect(await redisHost.admin.exists(bytesKey('orphans-other', 'x-1'))).toBe(1);
      expect(await redisHost.admin.exists(bytesKey('orphans:sub', 'x-1'))).toBe(1);

      release();
      await until(() => scans.length === 2, 'both jobs scanned', 15_000);
      expect(scans.map((e) => [e.scanId, e.outcome]).sort()).toEqual([
        ['blocker', 'clean'],
        ['live-1', 'clean'],
      ]);
    } finally {
      release();
      await worker.close();
      await queue.close();
      await client.close();
    }
  }, 30_000);
});
