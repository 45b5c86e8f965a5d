import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorEvent, ScanEvent } from '../../src/events.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import type { QueueEngine } from '../../src/queue/types.js';
import type { Matcher } from '../../src/types.js';
import { useRedisServer } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';

/**
 * A worker's `load(ref)` is bounded like its downloads: it gets a `signal`, aborted when the worker
 * closes or after `download.timeoutMs`, and a load that ignores it still ends the job's run: the
 * worker closes, and the job runs again later instead of holding its slot for good.
 */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-load-ref-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `queue-${n++}`);

const clean: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }),
};
/** Storage that never answers and ignores the signal. */
const hanging = () => new Promise<Uint8Array>(() => {});

async function startWorker(
  queue: QueueEngine,
  load: (ref: string, options: { signal: AbortSignal }) => Promise<Uint8Array>,
  timeoutMs?: number,
) {
  const scans: ScanEvent[] = [];
  const errors: ErrorEvent[] = [];
  const worker = await createScanWorker({
    queue,
    matcher: clean,
    load,
    concurrency: 1,
    ...(timeoutMs === undefined ? {} : { download: { timeoutMs } }),
  });
  worker.on('scan', (e) => {
    scans.push(e);
  });
  worker.on('error', (e) => {
    errors.push(e);
  });
  return { worker, scans, errors };
}

describe("a worker's load(ref)", () => {
  it('close() resolves while a job is stuck in a load that ignores its signal; the job runs later', async () => {
    const dir = fresh();
    const queue = await openScanQueue({ dir });
    await queue.enqueue({ scanId: 'stuck-1', source: { kind: 'ref', ref: 'media/1' } });
    const signals: AbortSignal[] = [];
    const first = await startWorker(queue, (_ref, { signal }) => {
      signals.push(signal);
      return hanging();
    });
    await until(() => signals.length === 1, 'the load');
    expect(signals[0]?.aborted).toBe(false);
    await first.worker.close();
    expect(signals[0]?.aborted).toBe(true);
    expect(first.errors).toEqual([]); // a close is no failure
    expect(await queue.depth()).toMatchObject({ waiting: 1, active: 0 });
    await queue.close();

    // Not lost: the next worker runs it.
    const reopened = await openScanQueue({ dir });
    const second = await startWorker(reopened, async () => png(200, 200, 5));
    await until(() => second.scans.length === 1, 'the scan on the next run');
    expect(second.scans[0]).toMatchObject({ scanId: 'stuck-1', outcome: 'clean' });
    await second.worker.close();
    await reopened.close();
  }, 15_000);

  it('a load slower than download.timeoutMs is an error event and a retry, not a job held for good', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    let calls = 0;
    const { worker, scans, errors } = await startWorker(
      queue,
      () => (++calls === 1 ? hanging() : Promise.resolve(png(200, 200, 6))),
      200,
    );
    await queue.enqueue({ scanId: 'slow-1', source: { kind: 'ref', ref: 'media/2' } });
    await until(() => scans.length === 1, 'the scan on the retry');
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ stage: 'scan', reason: 'timeout' });
    expect(errors[0]?.error.message).toMatch(
      /slow-1: load\(ref\) did not answer within 200 ms \(download\.timeoutMs\)/,
    );
    expect(scans[0]).toMatchObject({ scanId: 'slow-1', outcome: 'clean' });
    await worker.close();
    await queue.close();
  }, 15_000);
});

describeWithRedis("a BullMQ worker's load(ref)", () => {
  const redis = useRedisServer();

  it('close() resolves while a job is stuck in a load that ignores its signal; the job waits', async () => {
    const queue = await openScanQueue({ redis: redis.url, name: 'load-ref' });
    await queue.enqueue({ scanId: 'bq-stuck-1', source: { kind: 'ref', ref: 'media/1' } });
    let loads = 0;
    const { worker, errors } = await startWorker(queue, () => {
      loads++;
      return hanging();
    });
    await until(() => loads === 1, 'the load');
    await worker.close();
    expect(errors).toEqual([]);
    expect(await queue.depth()).toMatchObject({ waiting: 1, active: 0 });
    await queue.close();
  }, 15_000);
});
