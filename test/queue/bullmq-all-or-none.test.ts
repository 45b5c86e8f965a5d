import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import type { ErrorEvent } from '../../src/events.js';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import { createScanWorker, openScanQueue, type ScanWorkerOptions } from '../../src/queue/index.js';
import type { QueueEngine } from '../../src/queue/types.js';
import type { Logger } from '../../src/types.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { countRedisWaits } from '../cluster/redis-waits.js';
import { startReplyHoldingProxy } from '../cluster/reply-holding-proxy.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { postFiles, serveUploads } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';
import { recordOutcomes, uploadAccepted } from './outcomes.js';

/**
 * All or none: a request's deferred jobs run only once its verdict is final. A request refused
 * after some of its files were queued (another file could not be queued, matched, or was refused
 * as bad) answered no `scanId`, so the host stored none: those jobs must never be scanned,
 * quarantined or announced; they end `refused`. A request that passed has all its jobs run.
 */

const emu = useEmulator({ rateLimit: false });
let seed = 97_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const REFUSED = { done: true, outcome: 'refused' };
/** A keepDoneDays of two seconds: workers that start later can be down "longer than that". */
const SHORT_KEEP_DAYS = 2 / 86_400;

/** Resolves once more than SHORT_KEEP_DAYS has passed (half a second to spare) since `since`. */
function outlastShortKeep(since: number): Promise<void> {
  return until(() => Date.now() - since > 2_500, 'the job older than keepDoneDays');
}

describeWithRedis('BullMQ: a request’s deferred jobs run all or none', () => {
  const redisHost = useRedisWithAdmin();
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    emu.emulator.faults.clear();
    await redisHost.admin.config('SET', 'maxmemory', '0');
    await redisHost.admin.config('SET', 'maxmemory-policy', 'noeviction');
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A fresh directory, removed after the test. */
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pdg-all-or-none-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A guard queueing to `name` (no worker of its own) behind `POST /upload`. */
  async function startGuard(name: string, extra: GuardOptions, keepDoneDays?: number) {
    const dir = tempDir();
    const guard = photodnaGuard(
      emu.options({
        queue: { redis: redisHost.server.url, name, keepDoneDays },
        queueWorker: false,
        policy: 'quarantine',
        quarantine: { dir },
        ...extra,
      }),
    );
    const server = await serveUploads(guard);
    closers.push(() => server.close());
    return { url: server.url, dir };
  }

  /**
   * A worker of queue `name` recording its outcome events, its quarantine store in `dir` (a fresh
   * one by default). Its `error` events are kept apart (`errors`): a failure a test provokes (a
   * `load` that throws) is retried, and what most tests assert is the job's end.
   */
  async function startWorker(
    name: string,
    options: {
      dir?: string;
      keepDoneDays?: number;
      load?: ScanWorkerOptions['load'];
      logger?: Logger;
    } = {},
  ) {
    const worker = await createScanWorker({
      queue: { redis: redisHost.server.url, name, keepDoneDays: options.keepDoneDays },
      apiKey: 'all-or-none-worker',
      baseUrl: emu.emulator.url,
      quarantine: { dir: options.dir ?? tempDir() },
      concurrency: 1,
      ...(options.load ? { load: options.load } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    closers.push(() => worker.close());
    const errors: ErrorEvent[] = [];
    worker.on('error', (e) => void errors.push(e));
    return { ...recordOutcomes(worker), errors };
  }

  /** The guard's jobs in queue `name` (their ids are random UUIDs), once every one has ended. */
  async function endedJobs(name: string): Promise<Array<{ id: string; returnvalue: unknown }>> {
    const { admin } = redisHost;
    const keys = (await admin.keys(`bull:${name}:*`)).filter((key) =>
      UUID.test(key.slice(`bull:${name}:`.length)),
    );
    let ended: Array<{ id: string; returnvalue: unknown }> = [];
    await until(async () => {
      const jobs = await Promise.all(keys.map((key) => admin.hgetall(key)));
      if (jobs.some((job) => job.finishedOn === undefined)) return false;
      ended = jobs.map((job, i) => ({
        id: (keys[i] as string).slice(`bull:${name}:`.length),
        returnvalue: JSON.parse(job.returnvalue ?? 'null'),
      }));
      return true;
    }, `the jobs of ${name} ended`);
    return ended;
  }

  /** Lets Redis hold `headroom` more bytes than it does now (`maxmemory`, reset after each test). */
  async function capMemory(headroom: number): Promise<void> {
    const { admin } = redisHost;
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory', String(used + headroom));
  }

  /**
   * Two files to the guard at `url` while Redis has room for the first (4 KB) and its job, none
   * for the second (2.5 MB).
   */
  async function uploadPastMaxmemory(url: string): Promise<request.Response> {
    await capMemory(1_000_000);
    try {
      return await postFiles(url, knownImage(), png(200, 200, seed++, 2_500_000));
    } finally {
      await redisHost.admin.config('SET', 'maxmemory', '0');
    }
  }

  it('defer: true, the second file refused by Redis (maxmemory): 503, and the first file’s job ends refused, unscanned and silent', async () => {
    const name = 'aon-oom';
    const guard = await startGuard(name, { defer: true });
    const refused = await uploadPastMaxmemory(guard.url);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('SCAN_UNAVAILABLE');

    const seen = await startWorker(name, { dir: guard.dir });
    const jobs = await endedJobs(name);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.returnvalue).toEqual(REFUSED);
    expect(await redisHost.admin.keys(`photodna-guard:scan-bytes:${name}:*`)).toEqual([]);
    expect(seen.scans).toEqual([]);
    expect(seen.matches).toEqual([]);
    expect(seen.quarantined).toEqual([]);
    expect(seen.rejects).toEqual([]);

    // A request that passes has every one of its jobs run.
    const scanIds = await uploadAccepted(
      guard.url,
      seen,
      png(200, 200, seed++),
      png(200, 200, seed++),
    );
    expect(seen.scans.map((e) => [e.scanId, e.outcome]).sort()).toEqual(
      scanIds.map((id) => [id, 'clean']).sort(),
    );
  }, 60_000);

  it("failMode 'open': a file queued unchecked is never scanned when another file gets the request rejected (422)", async () => {
    const name = 'aon-unchecked';
    const guard = await startGuard(name, {
      failMode: 'open',
      client: { retry: { maxAttempts: 1 } },
    });
    // One file's call fails (queued for later), the other's is refused as not an image (422),
    // whichever comes first.
    emu.emulator.faults.push({ type: 'status', status: 500 }, { type: 'code', code: 3206 });
    const rejected = await postFiles(guard.url, png(200, 200, seed++), png(200, 200, seed++));
    expect(rejected.status).toBe(422);
    expect(rejected.body.error.code).toBe('INVALID_IMAGE');

    const seen = await startWorker(name, { dir: guard.dir });
    const jobs = await endedJobs(name);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.returnvalue).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
    expect(seen.rejects).toEqual([]);
  }, 60_000);

  /**
   * The engine alone (connected as `redis`, the suite's server by default): a hold's jobs, with
   * BullMQ's own view of them.
   */
  async function openHeld(
    name: string,
    options: { keepDoneDays?: number; redis?: string | Redis } = {},
  ) {
    const queue = await openScanQueue({
      redis: options.redis ?? redisHost.server.url,
      name,
      keepDoneDays: options.keepDoneDays,
    });
    closers.push(() => queue.close());
    const bull = new Queue(name, {
      connection: { host: '127.0.0.1', port: redisHost.server.port },
    });
    closers.push(() => bull.close());
    return { queue, bull };
  }

  /** Queues a fresh image as job `scanId`, held until `holdId` is released. */
  function enqueueHeld(queue: QueueEngine, scanId: string, holdId: string): Promise<unknown> {
    return queue.enqueue(
      { scanId, source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId },
    );
  }

  /** The key of hold `holdId`'s gate in queue `name`. */
  const gate = (name: string, holdId: string) => `photodna-guard:scan-hold:${name}:${holdId}`;

  /** As when hold `holdId`'s `HOLD_MS` passed: its gate gone, its job `scanId`'s delay over. */
  async function expireHold(bull: Queue, name: string, holdId: string, scanId: string) {
    await redisHost.admin.del(gate(name, holdId));
    await (await bull.getJob(scanId))?.promote();
  }

  /** Job `scanId`'s return value, once it has ended. */
  async function resultOf(bull: Queue, scanId: string): Promise<unknown> {
    await until(async () => (await bull.getJob(scanId))?.finishedOn !== undefined, 'ended');
    return (await bull.getJob(scanId))?.returnvalue;
  }

  it('a hold whose guard died before its verdict (its gate expired) ends refused, and a release after that fails', async () => {
    const name = 'aon-expired';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'orphan', 'dead-guard');
    expect(await (await bull.getJob('orphan'))?.getState()).toBe('delayed');
    await expireHold(bull, name, 'dead-guard', 'orphan');

    const seen = await startWorker(name);
    expect(await resultOf(bull, 'orphan')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
    await expect(queue.release?.('dead-guard', ['orphan'])).rejects.toThrow(/withdrawn or held/);
  }, 60_000);

  /** A logger recording its `error` lines (the worker's log-events path). */
  function errorLines(): { logger: Logger; lines: Array<{ obj: unknown; msg: string }> } {
    const lines: Array<{ obj: unknown; msg: string }> = [];
    const ignore = () => undefined;
    const logger: Logger = {
      debug: ignore,
      info: ignore,
      warn: ignore,
      error: (obj, msg) => void lines.push({ obj, msg: msg ?? '' }),
    };
    return { logger, lines };
  }

  it('a hold expired without a verdict (Redis lost its release) ends refused with an error event and a log line per job, naming its scanId', async () => {
    const name = 'aon-lost-release';
    const { queue, bull } = await openHeld(name);
    for (const scanId of ['lost-1', 'lost-2']) {
      await queue.enqueue(
        {
          scanId,
          source: { kind: 'bytes', bytes: png(200, 200, seed++) },
          metadata: { post: scanId },
        },
        { holdId: 'lost' },
      );
    }
    await queue.release?.('lost', ['lost-1', 'lost-2']);
    // Redis fails over to a replica the release never reached, and the hold has expired there:
    // its gate and marks are gone, the jobs (enqueued earlier) are there, and the upload was
    // answered as accepted.
    const { admin } = redisHost;
    for (const scanId of ['lost-1', 'lost-2']) {
      await admin.hdel(bull.toKey(scanId), 'photodna-guard:released');
    }
    await admin.del(gate(name, 'lost'));
    const { logger, lines } = errorLines();
    const seen = await startWorker(name, { logger });
    expect(await resultOf(bull, 'lost-1')).toEqual(REFUSED);
    expect(await resultOf(bull, 'lost-2')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
    // Before: refused without a word, an accepted upload never checked.
    const expired = seen.errors.filter((e) => e.reason === 'hold-expired');
    expect(expired.map((e) => e.scanId).sort()).toEqual(['lost-1', 'lost-2']);
    for (const e of expired) {
      expect(e).toMatchObject({ stage: 'queue', route: 'deferred', metadata: { post: e.scanId } });
      expect(e.error.message).toContain(`deferred scan ${e.scanId} refused unchecked`);
      expect(e.error.message).toMatch(/if Redis lost the release .* accepted and is never checked/);
    }
    const logged = lines.filter((line) => line.msg.includes('hold expired'));
    expect(logged.map((line) => (line.obj as { scanId: string }).scanId).sort()).toEqual([
      'lost-1',
      'lost-2',
    ]);
    expect(logged[0]?.msg).toMatch(/^photodna-guard: queue error: deferred scan lost-\d refused/);
    // The expiry is recorded: a release arriving now fails.
    expect(await admin.get(gate(name, 'lost'))).toBe('expired');
    await expect(queue.release?.('lost', ['lost-1', 'lost-2'])).rejects.toThrow(
      /withdrawn or held/,
    );
  }, 60_000);

  it('a withdrawn hold is refused without an error event, also once its gate is gone (workers down longer than it is kept)', async () => {
    const name = 'aon-withdrawn-quiet';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'withdrawn', 'refused-request');
    await enqueueHeld(queue, 'tombstoned', 'refused-request');
    await queue.withdraw?.('refused-request', ['withdrawn', 'tombstoned']);
    // Its tombstone gone (kept WITHDRAWN_MS, or evicted) before a worker reached the first job.
    await redisHost.admin.del(gate(name, 'refused-request'));
    const seen = await startWorker(name);
    expect(await resultOf(bull, 'withdrawn')).toEqual(REFUSED);
    expect(await resultOf(bull, 'tombstoned')).toEqual(REFUSED);
    expect(seen.errors).toEqual([]);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a held job a worker meets before its release is put back, and runs once released', async () => {
    const name = 'aon-early';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'early', 'slow-verdict');
    // Its delay over before its release (another machine's clock).
    await (await bull.getJob('early'))?.promote();
    const seen = await startWorker(name);
    await until(async () => {
      const job = await bull.getJob('early');
      return job?.processedOn !== undefined && (await job.getState()) === 'delayed';
    }, 'the worker to put the held job back');
    expect(seen.scans).toEqual([]);

    await queue.release?.('slow-verdict', ['early']);
    await until(() => seen.scans.some((e) => e.scanId === 'early'), 'the released job scanned');
    expect(seen.scans.map((e) => e.outcome)).toEqual(['clean']);
  }, 60_000);

  it('a released job first reached after its gate expired (workers down longer than keepDoneDays) still runs', async () => {
    const name = 'aon-late';
    // The released gate is kept SHORT_KEEP_DAYS.
    const { queue } = await openHeld(name, { keepDoneDays: SHORT_KEEP_DAYS });
    const enqueued = Date.now();
    await enqueueHeld(queue, 'late', 'accepted');
    await queue.release?.('accepted', ['late']);
    // No worker for longer than the gate is kept: it expired (deleted here, as Redis would).
    await redisHost.admin.del(gate(name, 'accepted'));
    await outlastShortKeep(enqueued);
    const seen = await startWorker(name, { keepDoneDays: SHORT_KEEP_DAYS });
    // Before: its gate missing, it ended `refused`: an accepted upload never checked.
    await until(() => seen.scans.some((e) => e.scanId === 'late'), 'the late job scanned');
  }, 60_000);

  it('a released job retried after its gate is gone (an outage longer than the gate is kept) still runs', async () => {
    const name = 'aon-retried';
    const { queue } = await openHeld(name);
    await queue.enqueue(
      { scanId: 'retried', source: { kind: 'ref', ref: 'r' } },
      { holdId: 'kept' },
    );
    await queue.release?.('kept', ['retried']);
    let loads = 0;
    const seen = await startWorker(name, {
      load: async () => {
        loads += 1;
        if (loads > 1) return png(200, 200, seed++);
        // The first attempt fails; by its retry the released gate has expired.
        await redisHost.admin.del(gate(name, 'kept'));
        throw new Error('storage unreachable');
      },
    });
    await until(() => seen.scans.some((e) => e.scanId === 'retried'), 'the retried job scanned');
    expect(loads).toBe(2);
  }, 60_000);

  it('workers down longer than keepDoneDays: a refused request’s job still ends refused, unscanned and silent', async () => {
    const name = 'aon-refused-late';
    const guard = await startGuard(name, { defer: true }, SHORT_KEEP_DAYS);
    const refusedAt = Date.now();
    const refused = await uploadPastMaxmemory(guard.url);
    expect(refused.status).toBe(503);
    await outlastShortKeep(refusedAt);

    const seen = await startWorker(name, { dir: guard.dir, keepDoneDays: SHORT_KEEP_DAYS });
    const jobs = await endedJobs(name);
    expect(jobs).toHaveLength(1);
    // Before: run as if released (its age alone), its bytes withdrawn: a `reject` event with
    // the `scanId` of a request answered 503.
    expect(jobs[0]?.returnvalue).toEqual(REFUSED);
    expect(seen.rejects).toEqual([]);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a hold whose guard died, first reached after keepDoneDays, ends refused', async () => {
    const name = 'aon-dead-late';
    const { queue, bull } = await openHeld(name, { keepDoneDays: SHORT_KEEP_DAYS });
    const enqueued = Date.now();
    await enqueueHeld(queue, 'unanswered', 'dead-guard');
    // Its `HOLD_MS` passed with no worker up.
    await expireHold(bull, name, 'dead-guard', 'unanswered');
    await outlastShortKeep(enqueued);

    const seen = await startWorker(name, { keepDoneDays: SHORT_KEEP_DAYS });
    // Before: scanned, though its request was never answered.
    expect(await resultOf(bull, 'unanswered')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a released gate evicted by Redis (maxmemory-policy volatile-ttl) does not refuse the accepted job', async () => {
    const name = 'aon-evicted';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'accepted', 'evicted');
    await queue.release?.('evicted', ['accepted']);
    const { admin } = redisHost;
    // Keys with a time to live are evicted first, the shortest first: the gate (keepDoneDays)
    // before these fillers (30 days). The job itself has none.
    await admin.config('SET', 'maxmemory-policy', 'volatile-ttl');
    await capMemory(2_000_000);
    for (let i = 0; (await admin.exists(gate(name, 'evicted'))) === 1; i++) {
      await admin.set(`filler:${name}:${i}`, Buffer.alloc(100_000), 'EX', 30 * 86_400);
    }
    await admin.config('SET', 'maxmemory', '0');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    const fillers = await admin.keys(`filler:${name}:*`);
    if (fillers.length > 0) await admin.del(...fillers);

    const seen = await startWorker(name);
    // Before: its gate missing, it ended `refused`: an accepted upload never checked.
    expect(await resultOf(bull, 'accepted')).toEqual({ done: true, outcome: 'clean' });
    expect(seen.scans.map((e) => e.scanId)).toEqual(['accepted']);
  }, 60_000);

  it('a release whose promotion is refused still resolves: its jobs run when their delay ends', async () => {
    const name = 'aon-unpromoted';
    const { admin } = redisHost;
    const user = 'aon-promoter';
    await admin.call('ACL', 'SETUSER', user, 'on', '>aon-pw', '~*', '&*', '+@all');
    const { queue, bull } = await openHeld(name, {
      redis: `redis://${user}:aon-pw@127.0.0.1:${redisHost.server.port}`,
    });
    await enqueueHeld(queue, 'unpromoted', 'answered');
    // The release's script runs (it writes the gate and the job's hash); BullMQ's promotion,
    // which writes the queue's lists, is refused.
    await admin.call(
      'ACL',
      'SETUSER',
      user,
      'resetkeys',
      '~photodna-guard:*',
      `~${bull.toKey('unpromoted')}`,
      '%R~*',
    );
    await admin.call('ACL', 'LOG', 'RESET');
    try {
      // Before: it rejected although the hold was released (the request answered 503).
      await queue.release?.('answered', ['unpromoted']);
      // Its promotion, not waited for, refused.
      await until(
        async () => ((await admin.call('ACL', 'LOG')) as unknown[]).length > 0,
        'the promotion refused',
      );
    } finally {
      await admin.call('ACL', 'SETUSER', user, 'resetkeys', '~*');
    }
    expect(await (await bull.getJob('unpromoted'))?.getState()).toBe('delayed');
    // As when its delay ends.
    await (await bull.getJob('unpromoted'))?.promote();
    const seen = await startWorker(name);
    await until(
      () => seen.scans.some((e) => e.scanId === 'unpromoted'),
      'the released job scanned',
    );
  }, 60_000);
  /** A queue on a client of its own whose waits on Redis are counted. */
  async function openCounted(name: string) {
    const client = new Redis(redisHost.server.url, { maxRetriesPerRequest: null });
    closers.push(async () => client.disconnect());
    const waits = countRedisWaits(client);
    const { queue, bull } = await openHeld(name, { redis: client });
    return { queue, bull, waits };
  }

  it('a held enqueue waits on Redis as often as one without a hold (its gate and bytes sent together)', async () => {
    const { queue, waits } = await openCounted('aon-enqueue-waits');
    // The first command of each kind loads its script: not counted.
    await enqueueHeld(queue, 'warm-held', 'warm');
    await queue.enqueue({
      scanId: 'warm-free',
      source: { kind: 'bytes', bytes: png(200, 200, seed++) },
    });
    waits.reset();
    await queue.enqueue({
      scanId: 'free',
      source: { kind: 'bytes', bytes: png(200, 200, seed++) },
    });
    const free = waits.serial;
    waits.reset();
    await enqueueHeld(queue, 'held', 'counted');
    // Before: one more (the gate, then the bytes).
    expect(waits.serial).toBe(free);
  }, 60_000);

  it('a release waits on Redis once, its promotions sent after its answer and not waited for; its jobs marked released, then waiting', async () => {
    const name = 'aon-release-waits';
    const { queue, bull, waits } = await openCounted(name);
    await enqueueHeld(queue, 'warm', 'warm');
    await queue.release?.('warm', ['warm']);
    const scanIds = ['r1', 'r2', 'r3'];
    for (const scanId of scanIds) await enqueueHeld(queue, scanId, 'one-request');
    waits.reset();
    await queue.release?.('one-request', scanIds);
    // Promotions still unanswered as it resolved were sent after its answer, not waited for.
    // Before: three (the release; then each job read; then each promoted).
    expect(waits.serial - (waits.outstanding > 0 ? 1 : 0)).toBe(1);
    const { admin } = redisHost;
    expect(await admin.get(gate(name, 'one-request'))).toBe('released');
    for (const scanId of scanIds) {
      expect(await admin.hget(bull.toKey(scanId), 'photodna-guard:released')).toBe('one-request');
      await until(
        async () => (await (await bull.getJob(scanId))?.getState()) === 'waiting',
        `${scanId} promoted`,
      );
    }
  }, 60_000);

  it('a release refused (one of its jobs gone) leaves the others unmarked and delayed: they end refused once withdrawn, never scanned', async () => {
    const name = 'aon-release-refused';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'kept', 'partial');
    await enqueueHeld(queue, 'gone', 'partial');
    await (await bull.getJob('gone'))?.remove();
    await expect(queue.release?.('partial', ['kept', 'gone'])).rejects.toThrow(/withdrawn or held/);
    expect(await redisHost.admin.hget(bull.toKey('kept'), 'photodna-guard:released')).toBeNull();
    // Not promoted: nothing to run until the request's withdrawal (a worker meeting it earlier,
    // its delay ended, puts it back while its gate is held).
    expect(await (await bull.getJob('kept'))?.getState()).toBe('delayed');
    const seen = await startWorker(name);
    await queue.withdraw?.('partial', ['kept', 'gone']);
    expect(await resultOf(bull, 'kept')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a release answered after its request was refused (the deadline passed first, the hold withdrawn) never runs its jobs', async () => {
    const name = 'aon-late-answer';
    const proxy = await startReplyHoldingProxy(redisHost.server.port);
    closers.push(() => proxy.close());
    const { queue, bull } = await openHeld(name, { redis: proxy.url });
    await enqueueHeld(queue, 'late-answer', 'deadline');
    const seen = await startWorker(name);
    const { admin } = redisHost;
    // Redis runs the release; its answer is slow to come back (the guard's event loop busy, a
    // congested network): the guard's deadline passes first.
    proxy.hold();
    const releasing = queue.release?.('deadline', ['late-answer']);
    await until(
      async () => (await admin.get(gate(name, 'deadline'))) === 'released',
      'the release run by Redis',
    );
    // The worker's chance to take the job before the withdrawal reaches Redis: it ran, or it
    // is still delayed (nothing promoted it).
    await until(async () => {
      const job = await bull.getJob('late-answer');
      return job?.finishedOn !== undefined || (await job?.getState()) === 'delayed';
    }, 'the job run, or left delayed');
    // The request refused 503, its hold withdrawn on the same connection.
    const withdrawing = queue.withdraw?.('deadline', ['late-answer']);
    await until(
      async () => (await admin.get(gate(name, 'deadline'))) === 'refused',
      'the withdrawal run by Redis',
    );
    proxy.pass();
    await Promise.all([releasing, withdrawing]);
    // Before: promoted right behind the release, the job was claimed and scanned.
    expect(await resultOf(bull, 'late-answer')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a held enqueue whose gate script fails (an error reply to it alone) leaves no bytes behind', async () => {
    const name = 'aon-gate-failed';
    const { admin } = redisHost;
    const user = 'aon-gatekeeper';
    await admin.call('ACL', 'SETUSER', user, 'on', '>aon-pw', '~*', '&*', '+@all');
    const { queue } = await openHeld(name, {
      redis: `redis://${user}:aon-pw@127.0.0.1:${redisHost.server.port}`,
    });
    // Scripts refused, plain commands allowed: the gate fails, the bytes sent behind it are stored.
    await admin.call('ACL', 'SETUSER', user, '-eval', '-evalsha');
    try {
      await expect(enqueueHeld(queue, 'ungated', 'gate-failed')).rejects.toThrow(/NOPERM/);
    } finally {
      await admin.call('ACL', 'SETUSER', user, '+@all');
    }
    // Before: kept until a worker's sweep a day later (never under an LFU maxmemory-policy).
    expect(await admin.exists(`photodna-guard:scan-bytes:${name}:ungated`)).toBe(0);
  }, 60_000);

  it('an enqueue into a withdrawn hold is turned away at once, storing neither its bytes nor its job', async () => {
    const name = 'aon-withdrawn-enqueue';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'first', 'withdrawn-request');
    await queue.withdraw?.('withdrawn-request', ['first']);
    // Before: its gate deleted, the enqueue took it for a new hold, stored the job to wait
    // `HOLD_MS` and end refused.
    await expect(enqueueHeld(queue, 'second', 'withdrawn-request')).rejects.toThrow(
      /withdrawn or held/,
    );
    expect(await redisHost.admin.exists(`photodna-guard:scan-bytes:${name}:second`)).toBe(0);
    expect(await bull.getJob('second')).toBeUndefined();
    // Its gate a tombstone, kept no longer than it is needed.
    expect(await redisHost.admin.get(gate(name, 'withdrawn-request'))).toBe('refused');
    expect(await redisHost.admin.pttl(gate(name, 'withdrawn-request'))).toBeGreaterThan(0);
  }, 60_000);

  it('a hold withdrawn while Redis is out of memory is refused all the same', async () => {
    const name = 'aon-withdrawn-oom';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'first', 'oom-request');
    const { admin } = redisHost;
    // Over the limit: Redis refuses a command that may grow its memory.
    await admin.config('SET', 'maxmemory', '1');
    try {
      await queue.withdraw?.('oom-request', ['first']);
      await expect(enqueueHeld(queue, 'second', 'oom-request')).rejects.toThrow();
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    // Its deletions first, then its tombstone (Redis lets a script that wrote write on).
    expect(await admin.get(gate(name, 'oom-request'))).toBe('refused');
    await expect(enqueueHeld(queue, 'second', 'oom-request')).rejects.toThrow(/withdrawn or held/);
    const seen = await startWorker(name);
    expect(await resultOf(bull, 'first')).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('an enqueue into a hold already settled (a worker found it expired) stores neither its bytes nor its job', async () => {
    const name = 'aon-late-enqueue';
    const { queue, bull } = await openHeld(name);
    await enqueueHeld(queue, 'first', 'refused-request');
    await expireHold(bull, name, 'refused-request', 'first');
    const seen = await startWorker(name);
    expect(await resultOf(bull, 'first')).toEqual(REFUSED);
    expect(await redisHost.admin.get(gate(name, 'refused-request'))).toBe('expired');
    await expect(enqueueHeld(queue, 'second', 'refused-request')).rejects.toThrow(
      /withdrawn or held/,
    );
    expect(await redisHost.admin.exists(`photodna-guard:scan-bytes:${name}:second`)).toBe(0);
    expect(await bull.getJob('second')).toBeUndefined();
    expect(seen.scans).toEqual([]);
  }, 60_000);
});
