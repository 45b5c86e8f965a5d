import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PhotoDnaClient } from '../../src/client/index.js';
import { testImages } from '../../src/emulator/index.js';
import { createFileQuarantineStore } from '../../src/quarantine/index.js';
import { incidentIdOf, openScanQueue, type QueueEngine } from '../../src/queue/index.js';
import { useRedisServer } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { busiestWindow } from '../helpers/call-log.js';
import { until } from '../helpers/until.js';
import {
  type EmulatorProcess,
  spawnWorkerCli,
  startEmulatorProcess,
  startWorkerProcess,
  type WorkerEvent,
  type WorkerProcess,
  type WorkerSpec,
} from './worker-processes.js';

/**
 * Issue 12: three BullMQ worker processes and two synchronous scanners share one key's budget
 * through one real redis-server, against the emulator enforcing 5 calls/s; one worker is killed
 * with SIGKILL in the middle of a job.
 */

const PER_SECOND = 5;
const API_KEY = 'queue-cluster-key-7d1';
const JOBS = 21;
const SYNC_CALLS = 8;

describeWithRedis('BullMQ workers sharing one Redis rate limit with synchronous scanners', () => {
  const redis = useRedisServer();
  let emulator: EmulatorProcess;
  let root: string;
  let queue: QueueEngine;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    emulator = await startEmulatorProcess({ rateLimit: { perSecond: PER_SECOND } });
    root = mkdtempSync(join(tmpdir(), 'pdg-bullmq-'));
    queue = await openScanQueue({ redis: redis.url, lockMs: 1_500 });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await queue?.close();
    await emulator?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('at most 5 calls in any second, no 429, every job once, a killed worker loses nothing', async () => {
    const quarantineDir = join(root, 'quarantine');
    const matched = testImages()
      .slice(0, 3)
      .map((i) => i.bytes);
    const jobImages = Array.from({ length: JOBS }, (_, i) =>
      i < matched.length ? (matched[i] as Buffer) : png(200, 200, 900 + i),
    );
    const syncImages = Array.from({ length: SYNC_CALLS }, (_, i) => png(200, 200, 5000 + i));
    const events: WorkerEvent[] = [];
    const spec: WorkerSpec = {
      queue: { redis: redis.url, lockMs: 1_500 },
      apiKey: API_KEY,
      baseUrl: emulator.url,
      perSecond: PER_SECOND,
      quarantineDir,
      concurrency: 2,
    };
    // The victim answers two matches, then hangs in its third job until it is killed.
    const victim = await startWorkerProcess({ ...spec, concurrency: 1, hangAfter: 2 }, events, 0);
    workers.push(victim);

    // The victim runs alone until it hangs in its third job, so that it surely gets one whatever
    // the scheduling; the other two workers start then, and take over once it is killed.
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const bytes = jobImages[i] as Buffer;
      const scanId = `job-${i}`;
      ids.push(scanId);
      await queue.enqueue({ scanId, source: { kind: 'bytes', bytes }, metadata: { i } });
    }
    // Enqueueing the same id again is a no-op.
    await queue.enqueue({ scanId: 'job-0', source: { kind: 'bytes', bytes: png() } });

    const scanners = [0, 1].map(
      () =>
        new PhotoDnaClient({
          apiKey: API_KEY,
          baseUrl: emulator.url,
          rateLimit: { perSecond: PER_SECOND, redis: redis.url },
        }),
    );
    const synchronous = Promise.all(
      Array.from({ length: SYNC_CALLS }, (_, i) =>
        scanners[i % 2]?.match(syncImages[i] as Buffer, 'image/png'),
      ),
    );

    await until(
      () => events.some((e) => e.name === 'hung' && e.worker === 0),
      'the victim to hang',
      90_000,
    );
    for (const index of [1, 2]) workers.push(await startWorkerProcess(spec, events, index));
    await victim.kill();
    await synchronous;
    await until(
      async () => {
        const depth = await queue.depth();
        return depth.waiting === 0 && depth.active === 0;
      },
      'every job to finish',
      90_000,
    );
    await Promise.all(scanners.map((s) => s.close()));

    const calls = (await emulator.calls()).filter((c) => c.operation === 'match-v2');
    expect(calls.filter((c) => c.httpStatus === 429)).toEqual([]);
    expect(busiestWindow(calls.map((c) => c.at))).toBeLessThanOrEqual(PER_SECOND);
    // Every job scanned; each outcome acted on exactly once (the hung job never got an answer).
    const scans = events.filter((e) => e.name === 'scan');
    expect(scans.map((e) => e.scanId).sort()).toEqual([...ids].sort());
    expect(calls).toHaveLength(JOBS + SYNC_CALLS);
    expect(scans.every((e) => e.deferred === true)).toBe(true);
    const matches = events.filter((e) => e.name === 'match');
    expect(matches.map((e) => e.scanId).sort()).toEqual(['job-0', 'job-1', 'job-2']);
    expect(events.filter((e) => e.name === 'quarantine')).toHaveLength(3);
    const store = createFileQuarantineStore({ dir: quarantineDir });
    expect((await store.list()).map((r) => r.id).sort()).toEqual(
      ['job-0', 'job-1', 'job-2'].map(incidentIdOf).sort(),
    );
  }, 120_000);

  it('photodna-guard worker --redis URL runs jobs and stops on SIGTERM', async () => {
    const cli = spawnWorkerCli([
      '--redis',
      redis.url,
      '--queue',
      'cli-queue',
      '--api-key',
      'cli-key',
      '--base-url',
      emulator.url,
    ]);
    const { child, exited } = cli;
    await until(() => cli.output().includes('"event":"ready"'), 'the worker to start');
    const cliQueue = await openScanQueue({ redis: redis.url, name: 'cli-queue' });
    await cliQueue.enqueue({
      scanId: 'cli-job',
      source: { kind: 'bytes', bytes: png(200, 200, 777) },
    });
    await until(() => cli.output().includes('"scanId":"cli-job"'), 'the job to be scanned');
    const line = cli
      .output()
      .split('\n')
      .find((l) => l.includes('"scanId":"cli-job"')) as string;
    expect(JSON.parse(line)).toMatchObject({ event: 'scan', scanId: 'cli-job', outcome: 'clean' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await cliQueue.close();
  });
});
