import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScanEvent } from '../../src/events.js';
import { photodnaGuard } from '../../src/index.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import { loadSqlite } from '../../src/queue/load-sqlite.js';
import type { QueueEngine, ScanJobInput } from '../../src/queue/types.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { until } from '../helpers/until.js';

/**
 * "The queue keeps the URL as given until the job is done": once done, a job's row (embedded) or
 * BullMQ job keeps its id, outcome and times, and nothing of the upload: not the presigned URL's
 * token, the uploader's address or user agent, the file name or the host's metadata.
 */

const TOKEN = 'X-Amz-Signature=DONEJOBSECRET0123456789';
const SECRETS = [
  'DONEJOBSECRET0123456789',
  '203.0.113.77',
  'DoneJobAgent/1.0',
  'holiday-photo.png',
  'post-metadata-77',
];

const job = (scanId: string): ScanJobInput => ({
  scanId,
  source: { kind: 'url', url: `https://bucket.example/img.png?${TOKEN}` },
  originalname: 'holiday-photo.png',
  metadata: { post: 'post-metadata-77' },
  uploader: { ip: '203.0.113.77', userAgent: 'DoneJobAgent/1.0', route: '/upload' },
});

/** A worker whose matcher matches by URL (no download): every job is clean. */
async function startWorker(
  queue: QueueEngine,
): Promise<{ scans: ScanEvent[]; close(): Promise<void> }> {
  const scans: ScanEvent[] = [];
  const clean = async () => ({ isMatch: false, trackingId: 't', matchFlags: [] });
  const worker = await createScanWorker({
    queue,
    matcher: { match: clean },
    matchUrl: clean,
    concurrency: 1,
  });
  worker.on('scan', (e) => {
    scans.push(e);
  });
  return { scans, close: () => worker.close() };
}

const expectNoSecret = (text: string) => {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
};

describe('embedded queue: a done job', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pdg-done-jobs-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('keeps nothing of the upload in queue.db, and its scanId stays a no-op', async () => {
    const dir = join(root, 'clean');
    const queue = await openScanQueue({ dir });
    const worker = await startWorker(queue);
    await queue.enqueue(job('done-1'));
    await until(() => worker.scans.length === 1, 'the scan event');
    await until(async () => (await queue.depth()).active === 0, 'the job done');
    await worker.close();
    await queue.close();
    // Closed: the WAL is in the database file, which is all there is on disk.
    expectNoSecret(readFileSync(join(dir, 'queue.db')).toString('latin1'));

    const reopened = await openScanQueue({ dir });
    await reopened.enqueue(job('done-1'));
    expect(await reopened.depth()).toMatchObject({ waiting: 0, active: 0 });
    await reopened.close();
  });

  it('kept whole by an earlier version is emptied at the next open', async () => {
    const dir = join(root, 'upgrade');
    const queue = await openScanQueue({ dir });
    const worker = await startWorker(queue);
    await queue.enqueue(job('old-1'));
    await until(() => worker.scans.length === 1, 'the scan event');
    await until(async () => (await queue.depth()).active === 0, 'the job done');
    await worker.close();
    await queue.close();
    // The done row as earlier versions left it: the job's JSON kept.
    const Database = await loadSqlite();
    const db = new Database(join(dir, 'queue.db'));
    db.prepare("UPDATE jobs SET payload = ? WHERE scan_id = 'old-1' AND state = 'done'").run(
      JSON.stringify(job('old-1')),
    );
    db.close();
    expect(readFileSync(join(dir, 'queue.db')).toString('latin1')).toContain(SECRETS[0]);

    await (await openScanQueue({ dir })).close();
    expectNoSecret(readFileSync(join(dir, 'queue.db')).toString('latin1'));
  });
});

describe('keepDoneDays past ten years', () => {
  it('is refused as the embedded queue opens, naming the range', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pdg-keep-done-'));
    try {
      await expect(openScanQueue({ dir, keepDoneDays: 1e300 })).rejects.toThrow(
        /keepDoneDays: .*at most 3650 days/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is refused in the guard options, naming the option and the range', () => {
    expect(() =>
      photodnaGuard({
        matcher: { match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }) },
        queue: { redis: 'redis://127.0.0.1:6379', keepDoneDays: 1e300 },
      }),
    ).toThrow(/option 'queue\.keepDoneDays': Expected more than 0 and at most 3650 days/);
  });
});

describeWithRedis('BullMQ queue: a done job', () => {
  const redisHost = useRedisWithAdmin();
  const redis = redisHost.server;

  /** Every value Redis holds, as text. */
  async function everything(): Promise<string> {
    const parts: string[] = [];
    for (const key of await redisHost.admin.keys('*')) {
      const type = await redisHost.admin.type(key);
      if (type === 'string') parts.push((await redisHost.admin.get(key)) ?? '');
      if (type === 'hash') parts.push(JSON.stringify(await redisHost.admin.hgetall(key)));
      if (type === 'list') parts.push(JSON.stringify(await redisHost.admin.lrange(key, 0, -1)));
      if (type === 'set') parts.push(JSON.stringify(await redisHost.admin.smembers(key)));
      if (type === 'zset') parts.push(JSON.stringify(await redisHost.admin.zrange(key, 0, -1)));
      if (type === 'stream')
        parts.push(JSON.stringify(await redisHost.admin.xrange(key, '-', '+')));
    }
    return parts.join('\n');
  }

  const completed = (name: string, scanId: string) => async () =>
    (await redisHost.admin.zscore(`bull:${name}:completed`, scanId)) !== null;

  it('keeps its id alone in Redis, and its scanId stays a no-op', async () => {
    const name = 'done-jobs';
    const queue = await openScanQueue({ redis: redis.url, name });
    await queue.enqueue(job('bq-done-1'));
    expect(await everything()).toContain(SECRETS[0]); // kept until the job is done
    const worker = await startWorker(queue);
    await until(() => worker.scans.length === 1, 'the scan event');
    await until(completed(name, 'bq-done-1'), 'the job completed');
    expect(await redisHost.admin.hget(`bull:${name}:bq-done-1`, 'data')).toBe(
      JSON.stringify({ scanId: 'bq-done-1' }),
    );
    expectNoSecret(await everything());

    await queue.enqueue(job('bq-done-1'));
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    await worker.close();
    await queue.close();
  });

  it('finished by a worker that died before completing it: forgotten by the run that finds its done marker', async () => {
    const name = 'done-jobs-died';
    const queue = await openScanQueue({ redis: redis.url, name });
    await queue.enqueue(job('bq-died-1'));
    // What a worker killed after the job's effects leaves: the done marker, the job not completed.
    await redisHost.admin.set(
      `photodna-guard:scan-done:${name}:bq-died-1`,
      JSON.stringify({ done: true, outcome: 'clean' }),
    );
    const worker = await startWorker(queue);
    await until(completed(name, 'bq-died-1'), 'the job completed');
    expect(worker.scans).toEqual([]); // not acted on twice
    expectNoSecret(await everything());
    await worker.close();
    await queue.close();
  });

  it('kept past ten years (keepDoneDays 1e300): refused as the queue opens, not as every job completes', async () => {
    await expect(
      openScanQueue({ redis: redis.url, name: 'done-jobs-huge-keep', keepDoneDays: 1e300 }),
    ).rejects.toThrow(/keepDoneDays: .*at most 3650 days/);
  });

  it('kept the longest allowed (3650 days): still completes', async () => {
    const name = 'done-jobs-longest-keep';
    const queue = await openScanQueue({ redis: redis.url, name, keepDoneDays: 3650 });
    await queue.enqueue(job('bq-long-1'));
    const worker = await startWorker(queue);
    await until(completed(name, 'bq-long-1'), 'the job completed');
    expect(await redisHost.admin.ttl(`photodna-guard:scan-done:${name}:bq-long-1`)).toBeGreaterThan(
      3649 * 86_400,
    );
    await worker.close();
    await queue.close();
  });

  it('kept under half a second (keepDoneDays): still completes (kept a second, not `EX 0`)', async () => {
    const name = 'done-jobs-short-keep';
    // 0.0864 s: rounded to whole seconds it would be `EX 0`, which Redis refuses.
    const queue = await openScanQueue({ redis: redis.url, name, keepDoneDays: 1e-6 });
    await queue.enqueue(job('bq-short-1'));
    const worker = await startWorker(queue);
    const key = `bull:${name}:bq-short-1`;
    let failedReason: string | null = null;
    await until(async () => {
      failedReason = await redisHost.admin.hget(key, 'failedReason');
      return failedReason !== null || (await completed(name, 'bq-short-1')());
    }, 'the job completed or failed');
    expect(failedReason).toBeNull();
    expect(worker.scans).toHaveLength(1);
    await worker.close();
    await queue.close();
  });
});
