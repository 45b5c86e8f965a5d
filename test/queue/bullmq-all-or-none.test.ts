import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import express from 'express';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import type { MatchEvent, QuarantineEvent, RejectEvent, ScanEvent } from '../../src/events.js';
import { type GuardOptions, photodnaGuard } from '../../src/index.js';
import { createScanWorker, openScanQueue } from '../../src/queue/index.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { listen } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';

/**
 * All or none: a request's deferred jobs run only once its verdict is final. A request refused
 * after some of its files were queued (another file could not be queued, matched, or was refused
 * as bad) answered no `scanId`, so the host stored none: those jobs must never be scanned,
 * quarantined or announced; they end `refused`. A request that passed has all its jobs run.
 */

const emu = useEmulator({ rateLimit: false });
let seed = 97_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describeWithRedis('BullMQ: a request’s deferred jobs run all or none', () => {
  const redisHost = useRedisWithAdmin();
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    emu.emulator.faults.clear();
    await redisHost.admin.config('SET', 'maxmemory', '0');
    await redisHost.admin.config('SET', 'maxmemory-policy', 'noeviction');
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A guard queueing to `name` (no worker of its own) behind `POST /upload`. */
  async function startGuard(name: string, extra: GuardOptions, keepDoneDays?: number) {
    const dir = mkdtempSync(join(tmpdir(), 'pdg-all-or-none-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const guard = photodnaGuard(
      emu.options({
        queue: { redis: redisHost.server.url, name, keepDoneDays },
        queueWorker: false,
        policy: 'quarantine',
        quarantine: { dir },
        ...extra,
      }),
    );
    const app = express();
    app.post('/upload', guard.any(), (req, res) => void res.json({ photodna: req.photodna }));
    const server = await listen(app);
    closers.push(async () => {
      await server.close();
      await guard.close();
    });
    return { url: server.url, dir };
  }

  /** A worker of queue `name`, with its own quarantine store, recording its events. */
  async function startWorker(name: string, dir: string, keepDoneDays?: number) {
    const worker = await createScanWorker({
      queue: { redis: redisHost.server.url, name, keepDoneDays },
      apiKey: 'all-or-none-worker',
      baseUrl: emu.emulator.url,
      quarantine: { dir },
      concurrency: 1,
    });
    closers.push(() => worker.close());
    const seen = {
      scans: [] as ScanEvent[],
      matches: [] as MatchEvent[],
      rejects: [] as RejectEvent[],
      quarantined: [] as QuarantineEvent[],
    };
    worker.on('scan', (e) => void seen.scans.push(e));
    worker.on('match', (e) => void seen.matches.push(e));
    worker.on('reject', (e) => void seen.rejects.push(e));
    worker.on('quarantine', (e) => void seen.quarantined.push(e));
    return seen;
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

  const REFUSED = { done: true, outcome: 'refused' };

  it('defer: true, the second file refused by Redis (maxmemory): 503, and the first file’s job ends refused, unscanned and silent', async () => {
    const name = 'aon-oom';
    const guard = await startGuard(name, { defer: true });
    const { admin } = redisHost;
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    // Room for the first file (4 KB) and its job, none for the second (2.5 MB).
    await admin.config('SET', 'maxmemory', String(used + 1_000_000));
    const refused = await request(guard.url)
      .post('/upload')
      .attach('a', knownImage(), 'a.png')
      .attach('b', png(200, 200, seed++, 2_500_000), 'b.png');
    await admin.config('SET', 'maxmemory', '0');
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('SCAN_UNAVAILABLE');

    const seen = await startWorker(name, guard.dir);
    const jobs = await endedJobs(name);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.returnvalue).toEqual(REFUSED);
    expect(await admin.keys(`photodna-guard:scan-bytes:${name}:*`)).toEqual([]);
    expect(seen.scans).toEqual([]);
    expect(seen.matches).toEqual([]);
    expect(seen.quarantined).toEqual([]);
    expect(seen.rejects).toEqual([]);

    // A request that passes has every one of its jobs run.
    const accepted = await request(guard.url)
      .post('/upload')
      .attach('a', png(200, 200, seed++), 'a.png')
      .attach('b', png(200, 200, seed++), 'b.png');
    expect(accepted.status).toBe(200);
    const scanIds = (accepted.body.photodna.files as Array<{ scanId: string }>).map(
      (f) => f.scanId,
    );
    expect(scanIds).toHaveLength(2);
    await until(
      () => scanIds.every((id) => seen.scans.some((e) => e.scanId === id)),
      'both accepted files scanned',
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
    const rejected = await request(guard.url)
      .post('/upload')
      .attach('a', png(200, 200, seed++), 'a.png')
      .attach('b', png(200, 200, seed++), 'b.png');
    expect(rejected.status).toBe(422);
    expect(rejected.body.error.code).toBe('INVALID_IMAGE');

    const seen = await startWorker(name, guard.dir);
    const jobs = await endedJobs(name);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.returnvalue).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
    expect(seen.rejects).toEqual([]);
  }, 60_000);

  /** The engine alone: a hold's jobs, with BullMQ's own view of them. */
  async function openHeld(name: string) {
    const queue = await openScanQueue({ redis: redisHost.server.url, name });
    closers.push(() => queue.close());
    const bull = new Queue(name, {
      connection: { host: '127.0.0.1', port: redisHost.server.port },
    });
    closers.push(() => bull.close());
    return { queue, bull };
  }

  it('a hold whose guard died before its verdict (its gate expired) ends refused, and a release after that fails', async () => {
    const name = 'aon-expired';
    const { queue, bull } = await openHeld(name);
    await queue.enqueue(
      { scanId: 'orphan', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'dead-guard' },
    );
    expect(await (await bull.getJob('orphan'))?.getState()).toBe('delayed');
    // As when its `HOLD_MS` passed: the gate gone, the job's delay over.
    await redisHost.admin.del(`photodna-guard:scan-hold:${name}:dead-guard`);
    await (await bull.getJob('orphan'))?.promote();

    const seen = await startWorker(name, mkdtempSync(join(tmpdir(), 'pdg-aon-q-')));
    await until(async () => (await bull.getJob('orphan'))?.finishedOn !== undefined, 'ended');
    expect((await bull.getJob('orphan'))?.returnvalue).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
    await expect(queue.release?.('dead-guard', ['orphan'])).rejects.toThrow(/withdrawn or held/);
  }, 60_000);

  it('a held job a worker meets before its release is put back, and runs once released', async () => {
    const name = 'aon-early';
    const { queue, bull } = await openHeld(name);
    await queue.enqueue(
      { scanId: 'early', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'slow-verdict' },
    );
    // Its delay over before its release (another machine's clock).
    await (await bull.getJob('early'))?.promote();
    const seen = await startWorker(name, mkdtempSync(join(tmpdir(), 'pdg-aon-q-')));
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
    // keepDoneDays of two seconds: the released gate is kept that long.
    const keepDoneDays = 2 / 86_400;
    const queue = await openScanQueue({ redis: redisHost.server.url, name, keepDoneDays });
    closers.push(() => queue.close());
    const enqueued = Date.now();
    await queue.enqueue(
      { scanId: 'late', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'accepted' },
    );
    await queue.release?.('accepted', ['late']);
    // No worker for longer than the gate is kept: it expired (deleted here, as Redis would).
    await redisHost.admin.del(`photodna-guard:scan-hold:${name}:accepted`);
    await until(() => Date.now() - enqueued > 2_500, 'the job older than keepDoneDays');
    const worker = await createScanWorker({
      queue: { redis: redisHost.server.url, name, keepDoneDays },
      apiKey: 'all-or-none-worker',
      baseUrl: emu.emulator.url,
      concurrency: 1,
    });
    closers.push(() => worker.close());
    worker.on('error', () => undefined);
    const scans: ScanEvent[] = [];
    worker.on('scan', (e) => void scans.push(e));
    // Before: its gate missing, it ended `refused`: an accepted upload never checked.
    await until(() => scans.some((e) => e.scanId === 'late'), 'the late job scanned');
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
    const worker = await createScanWorker({
      queue: { redis: redisHost.server.url, name },
      apiKey: 'all-or-none-worker',
      baseUrl: emu.emulator.url,
      concurrency: 1,
      load: async () => {
        loads += 1;
        if (loads > 1) return png(200, 200, seed++);
        // The first attempt fails; by its retry the released gate has expired.
        await redisHost.admin.del(`photodna-guard:scan-hold:${name}:kept`);
        throw new Error('storage unreachable');
      },
    });
    closers.push(() => worker.close());
    worker.on('error', () => undefined);
    const scans: ScanEvent[] = [];
    worker.on('scan', (e) => void scans.push(e));
    await until(() => scans.some((e) => e.scanId === 'retried'), 'the retried job scanned');
    expect(loads).toBe(2);
  }, 60_000);

  it('workers down longer than keepDoneDays: a refused request’s job still ends refused, unscanned and silent', async () => {
    const name = 'aon-refused-late';
    // keepDoneDays of two seconds: workers that start later were down "longer than that".
    const keepDoneDays = 2 / 86_400;
    const guard = await startGuard(name, { defer: true }, keepDoneDays);
    const { admin } = redisHost;
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory', String(used + 1_000_000));
    const refusedAt = Date.now();
    const refused = await request(guard.url)
      .post('/upload')
      .attach('a', knownImage(), 'a.png')
      .attach('b', png(200, 200, seed++, 2_500_000), 'b.png');
    await admin.config('SET', 'maxmemory', '0');
    expect(refused.status).toBe(503);
    await until(() => Date.now() - refusedAt > 2_500, 'the job older than keepDoneDays');

    const seen = await startWorker(name, guard.dir, keepDoneDays);
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
    const keepDoneDays = 2 / 86_400;
    const queue = await openScanQueue({ redis: redisHost.server.url, name, keepDoneDays });
    closers.push(() => queue.close());
    const bull = new Queue(name, {
      connection: { host: '127.0.0.1', port: redisHost.server.port },
    });
    closers.push(() => bull.close());
    const enqueued = Date.now();
    await queue.enqueue(
      { scanId: 'unanswered', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'dead-guard' },
    );
    // Its `HOLD_MS` passed with no worker up: the gate gone, the job's delay over.
    await redisHost.admin.del(`photodna-guard:scan-hold:${name}:dead-guard`);
    await (await bull.getJob('unanswered'))?.promote();
    await until(() => Date.now() - enqueued > 2_500, 'the job older than keepDoneDays');

    const seen = await startWorker(name, mkdtempSync(join(tmpdir(), 'pdg-aon-q-')), keepDoneDays);
    await until(async () => (await bull.getJob('unanswered'))?.finishedOn !== undefined, 'ended');
    // Before: scanned, though its request was never answered.
    expect((await bull.getJob('unanswered'))?.returnvalue).toEqual(REFUSED);
    expect(seen.scans).toEqual([]);
  }, 60_000);

  it('a released gate evicted by Redis (maxmemory-policy volatile-ttl) does not refuse the accepted job', async () => {
    const name = 'aon-evicted';
    const { queue, bull } = await openHeld(name);
    await queue.enqueue(
      { scanId: 'accepted', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'evicted' },
    );
    await queue.release?.('evicted', ['accepted']);
    const { admin } = redisHost;
    const gate = `photodna-guard:scan-hold:${name}:evicted`;
    // Keys with a time to live are evicted first, the shortest first: the gate (keepDoneDays)
    // before these fillers (30 days). The job itself has none.
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory-policy', 'volatile-ttl');
    await admin.config('SET', 'maxmemory', String(used + 2_000_000));
    for (let i = 0; (await admin.exists(gate)) === 1; i++) {
      await admin.set(`filler:${name}:${i}`, Buffer.alloc(100_000), 'EX', 30 * 86_400);
    }
    await admin.config('SET', 'maxmemory', '0');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    const fillers = await admin.keys(`filler:${name}:*`);
    if (fillers.length > 0) await admin.del(...fillers);

    const seen = await startWorker(name, mkdtempSync(join(tmpdir(), 'pdg-aon-q-')));
    await until(async () => (await bull.getJob('accepted'))?.finishedOn !== undefined, 'ended');
    // Before: its gate missing, it ended `refused`: an accepted upload never checked.
    expect((await bull.getJob('accepted'))?.returnvalue).toEqual({ done: true, outcome: 'clean' });
    expect(seen.scans.map((e) => e.scanId)).toEqual(['accepted']);
  }, 60_000);

  it('a release whose promotion cannot be sent (the job not readable) still resolves: its jobs run when their delay ends', async () => {
    const name = 'aon-unpromoted';
    const { admin } = redisHost;
    const user = 'aon-promoter';
    await admin.call('ACL', 'SETUSER', user, 'on', '>aon-pw', '~*', '&*', '+@all');
    const url = `redis://${user}:aon-pw@127.0.0.1:${redisHost.server.port}`;
    const queue = await openScanQueue({ redis: url, name });
    closers.push(() => queue.close());
    const bull = new Queue(name, {
      connection: { host: '127.0.0.1', port: redisHost.server.port },
    });
    closers.push(() => bull.close());
    await queue.enqueue(
      { scanId: 'unpromoted', source: { kind: 'bytes', bytes: png(200, 200, seed++) } },
      { holdId: 'answered' },
    );
    // The release's script runs; BullMQ's read of the job before its promotion is refused.
    await admin.call('ACL', 'SETUSER', user, '-hgetall');
    try {
      // Before: it rejected although the hold was released (the request answered 503).
      await queue.release?.('answered', ['unpromoted']);
    } finally {
      await admin.call('ACL', 'SETUSER', user, '+hgetall');
    }
    expect(await (await bull.getJob('unpromoted'))?.getState()).toBe('delayed');
    // As when its delay ends.
    await (await bull.getJob('unpromoted'))?.promote();
    const seen = await startWorker(name, mkdtempSync(join(tmpdir(), 'pdg-aon-q-')));
    await until(
      () => seen.scans.some((e) => e.scanId === 'unpromoted'),
      'the released job scanned',
    );
  }, 60_000);
});
