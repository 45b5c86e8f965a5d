import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulator, startEmulator } from '../../src/emulator/index.js';
import type { ErrorEvent, RejectEvent, ScanEvent } from '../../src/events.js';
import { createScanWorker, openScanQueue, type QueueEngine } from '../../src/queue/index.js';
import type { LoadRef } from '../../src/queue/load-ref.js';
import { loadSqlite } from '../../src/queue/load-sqlite.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';

/**
 * A deferred job whose image is gone for good (its private copy deleted, its BullMQ bytes key
 * missing, a `load(ref)` that resolves `null`) cannot come back: it ends once, as `unchecked`,
 * with the `reject` event (`SCAN_UNAVAILABLE`) of an upload that could not be checked, instead of
 * an `error` event and a retry every 5 minutes forever. A read that fails otherwise is retried.
 */

let emulator: Emulator;
let root: string;
beforeAll(async () => {
  emulator = await startEmulator({ rateLimit: { perSecond: 5 } });
  root = mkdtempSync(join(tmpdir(), 'pdg-gone-'));
});
afterAll(async () => {
  await emulator?.close();
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const fresh = () => join(root, `queue-${n++}`);

async function startWorker(queue: QueueEngine, load?: LoadRef) {
  const scans: ScanEvent[] = [];
  const rejects: RejectEvent[] = [];
  const errors: ErrorEvent[] = [];
  const worker = await createScanWorker({
    queue,
    apiKey: 'gone-key',
    baseUrl: emulator.url,
    concurrency: 1,
    ...(load ? { load } : {}),
  });
  worker.on('scan', (e) => {
    scans.push(e);
  });
  worker.on('reject', (e) => {
    rejects.push(e);
  });
  worker.on('error', (e) => {
    errors.push(e);
  });
  return { worker, scans, rejects, errors };
}

/** The reject event of a job that could not be checked because its image is gone. */
const goneReject = (scanId: string, detail: RegExp) => ({
  code: 'SCAN_UNAVAILABLE',
  status: 503,
  detail: expect.stringMatching(detail),
  route: '/upload',
  method: 'POST',
  ip: '203.0.113.5',
  file: { field: 'photo', originalname: `${scanId}.png` },
  deferred: true,
  scanId,
  metadata: { post: scanId },
});

const job = (scanId: string) => ({
  scanId,
  field: 'photo',
  originalname: `${scanId}.png`,
  metadata: { post: scanId },
  uploader: { route: '/upload', ip: '203.0.113.5' },
});

/** The outcome kept in an embedded queue's row (the queue closed). */
async function embeddedOutcome(dir: string, scanId: string): Promise<unknown> {
  const Database = await loadSqlite();
  const db = new Database(join(dir, 'queue.db'));
  try {
    return db.prepare('SELECT state, outcome FROM jobs WHERE scan_id = ?').get(scanId);
  } finally {
    db.close();
  }
}

describe('embedded queue: a job whose bytes are gone', () => {
  it('a deleted private copy ends the job as unchecked, with one reject event and no retry', async () => {
    const dir = fresh();
    const queue = await openScanQueue({ dir });
    await queue.enqueue({
      ...job('deleted-1'),
      source: { kind: 'bytes', bytes: png(200, 200, 1) },
    });
    rmSync(join(dir, 'bytes', 'deleted-1'));
    const before = emulator.calls.length;
    const { worker, rejects, errors, scans } = await startWorker(queue);
    await until(() => rejects.length + errors.length > 0, 'the job to end or fail', 15_000);
    expect(errors).toEqual([]);
    expect(rejects).toEqual([goneReject('deleted-1', /deleted-1.*no longer exists/)]);
    await until(async () => (await queue.depth()).waiting === 0, 'the job done', 15_000);
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    await worker.close();
    await queue.close();
    expect(scans).toEqual([]);
    expect(emulator.calls.length).toBe(before);
    expect(await embeddedOutcome(dir, 'deleted-1')).toEqual({
      state: 'done',
      outcome: 'unchecked',
    });
  }, 30_000);

  it('a copy that cannot be read (not gone) is retried with an error event, and scanned once readable', async () => {
    const dir = fresh();
    const queue = await openScanQueue({ dir });
    const bytes = png(200, 200, 2);
    await queue.enqueue({ ...job('unreadable-1'), source: { kind: 'bytes', bytes } });
    // A directory in the file's place: reading it fails (EISDIR), but it is not ENOENT.
    const path = join(dir, 'bytes', 'unreadable-1');
    rmSync(path);
    mkdirSync(path);
    const { worker, rejects, errors, scans } = await startWorker(queue);
    await until(() => errors.length > 0, 'the error event', 15_000);
    expect(errors[0]).toMatchObject({ stage: 'scan' });
    expect(errors[0]?.error.message).toMatch(
      /could not read the job bytes for deferred scan unreadable-1/,
    );
    rmSync(path, { recursive: true });
    writeFileSync(path, bytes);
    await until(() => scans.length === 1, 'the scan on a retry', 15_000);
    expect(scans[0]).toMatchObject({ scanId: 'unreadable-1', outcome: 'clean' });
    expect(rejects).toEqual([]);
    await worker.close();
    await queue.close();
  }, 30_000);

  it('a load(ref) that resolves null (the ref no longer exists) ends the job the same way', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    await queue.enqueue({ ...job('ref-gone-1'), source: { kind: 'ref', ref: 'media/deleted' } });
    const asked: string[] = [];
    const { worker, rejects, errors } = await startWorker(queue, async (ref) => {
      asked.push(ref);
      return null;
    });
    await until(() => rejects.length + errors.length > 0, 'the job to end or fail', 15_000);
    expect(errors).toEqual([]);
    expect(rejects).toEqual([goneReject('ref-gone-1', /ref-gone-1.*load\(ref\) resolved null/)]);
    await until(async () => (await queue.depth()).waiting === 0, 'the job done', 15_000);
    expect(asked).toEqual(['media/deleted']);
    await worker.close();
    await queue.close();
  }, 30_000);
});

describeWithRedis('BullMQ queue: a job whose bytes are gone', () => {
  const redisHost = useRedisWithAdmin();

  it('a missing bytes key ends the job as unchecked, with one reject event and no retry', async () => {
    const name = 'gone-bytes';
    const queue = await openScanQueue({ redis: redisHost.server.url, name });
    await queue.enqueue({
      ...job('bq-gone-1'),
      source: { kind: 'bytes', bytes: png(200, 200, 3) },
    });
    expect(await redisHost.admin.del(`photodna-guard:scan-bytes:${name}:bq-gone-1`)).toBe(1);
    const { worker, rejects, errors, scans } = await startWorker(queue);
    await until(() => rejects.length + errors.length > 0, 'the job to end or fail', 15_000);
    expect(errors).toEqual([]);
    expect(rejects).toEqual([goneReject('bq-gone-1', /bq-gone-1.*missing/)]);
    await until(
      async () => (await redisHost.admin.zscore(`bull:${name}:completed`, 'bq-gone-1')) !== null,
      'the job completed',
      15_000,
    );
    expect(
      JSON.parse((await redisHost.admin.hget(`bull:${name}:bq-gone-1`, 'returnvalue')) ?? '{}'),
    ).toMatchObject({ done: true, outcome: 'unchecked' });
    expect(await queue.depth()).toMatchObject({ waiting: 0, active: 0 });
    expect(scans).toEqual([]);
    await worker.close();
    await queue.close();
  }, 30_000);
});
