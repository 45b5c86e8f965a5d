import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorEvent, ScanEvent } from '../../src/events.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import type { QueueEngine, ScanJobInput } from '../../src/queue/types.js';
import type { Matcher, MatchResult } from '../../src/types.js';
import { useRedisServer } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { until } from '../helpers/until.js';

/**
 * A worker's matcher call is bounded as the synchronous path's is: it gets a `signal`, aborted
 * when the worker closes or after `scanTimeoutMs`, and a matcher that ignores it still ends the
 * job's run then: a timeout is an `error` event and a retry, a close leaves the job waiting.
 */

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'pdg-matcher-deadline-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `queue-${n++}`);

const CLEAN: MatchResult = { isMatch: false, trackingId: 't', matchFlags: [] };
/** A service that never answers and ignores the signal. */
const hanging = () => new Promise<MatchResult>(() => {});

const imageJob = (scanId: string, seed: number): ScanJobInput => ({
  scanId,
  source: { kind: 'bytes', bytes: png(200, 200, seed) },
});

/** A worker of `queue` whose matcher answers as `answer` does its nth call (1-based). */
async function startWorker(
  queue: QueueEngine,
  answer: (call: number, signal: AbortSignal) => Promise<MatchResult>,
  extra: { scanTimeoutMs?: number; matchUrl?: true } = {},
) {
  const scans: ScanEvent[] = [];
  const errors: ErrorEvent[] = [];
  const signals: AbortSignal[] = [];
  const ask = (signal: AbortSignal) => {
    signals.push(signal);
    return answer(signals.length, signal);
  };
  const matcher: Matcher = { match: ({ signal }) => ask(signal) };
  const worker = await createScanWorker({
    queue,
    matcher,
    ...(extra.matchUrl ? { matchUrl: (_url, { signal }) => ask(signal) } : {}),
    concurrency: 1,
    ...(extra.scanTimeoutMs === undefined ? {} : { scanTimeoutMs: extra.scanTimeoutMs }),
  });
  worker.on('scan', (e) => void scans.push(e));
  worker.on('error', (e) => void errors.push(e));
  return { worker, scans, errors, signals };
}

describe("a worker's matcher that ignores its signal", () => {
  it('past scanTimeoutMs: an error event and a retry, not a job held for good', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    const { worker, scans, errors } = await startWorker(
      queue,
      (call) => (call === 1 ? hanging() : Promise.resolve(CLEAN)),
      { scanTimeoutMs: 200 },
    );
    await queue.enqueue(imageJob('slow-1', 31));
    // Before: the first call awaited for good, the job never retried.
    await until(() => scans.length === 1, 'the scan on the retry');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ stage: 'scan', reason: 'timeout' });
    expect(errors[0]?.error.message).toMatch(
      /slow-1: the matcher did not answer within 200 ms \(scanTimeoutMs\)/,
    );
    expect(scans[0]).toMatchObject({ scanId: 'slow-1', outcome: 'clean' });
    await worker.close();
    await queue.close();
  }, 15_000);

  it('a url job matched by URL (matchUrl) past scanTimeoutMs: an error event and a retry', async () => {
    const queue = await openScanQueue({ dir: fresh() });
    const { worker, scans, errors } = await startWorker(
      queue,
      (call) => (call === 1 ? hanging() : Promise.resolve(CLEAN)),
      { scanTimeoutMs: 200, matchUrl: true },
    );
    await queue.enqueue({
      scanId: 'slow-url',
      source: { kind: 'url', url: 'https://images.example/a.jpg' },
    });
    await until(() => scans.length === 1, 'the scan on the retry');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ stage: 'scan', reason: 'timeout' });
    expect(errors[0]?.error.message).toMatch(/matchUrl did not answer within 200 ms/);
    await worker.close();
    await queue.close();
  }, 15_000);

  it('close() resolves while a job waits on it; the job runs later', async () => {
    const dir = fresh();
    const queue = await openScanQueue({ dir });
    await queue.enqueue(imageJob('stuck-1', 32));
    const first = await startWorker(queue, () => hanging());
    await until(() => first.signals.length === 1, 'the matcher asked');
    // Before: the close waited for the matcher, for good.
    await first.worker.close();
    expect(first.signals[0]?.aborted).toBe(true);
    expect(first.errors).toEqual([]); // a close is no failure
    expect(await queue.depth()).toMatchObject({ waiting: 1, active: 0 });
    await queue.close();

    const reopened = await openScanQueue({ dir });
    const second = await startWorker(reopened, async () => CLEAN);
    await until(() => second.scans.length === 1, 'the scan on the next run');
    expect(second.scans[0]).toMatchObject({ scanId: 'stuck-1', outcome: 'clean' });
    await second.worker.close();
    await reopened.close();
  }, 15_000);
});

describeWithRedis("a BullMQ worker's matcher that ignores its signal", () => {
  const redis = useRedisServer();

  it('close() resolves while a job waits on it; the job waits', async () => {
    const queue = await openScanQueue({ redis: redis.url, name: 'matcher-deadline' });
    await queue.enqueue(imageJob('bq-stuck-1', 33));
    const { worker, errors, signals } = await startWorker(queue, () => hanging());
    await until(() => signals.length === 1, 'the matcher asked');
    await worker.close();
    expect(errors).toEqual([]);
    expect(await queue.depth()).toMatchObject({ waiting: 1, active: 0 });
    await queue.close();
  }, 15_000);
});
