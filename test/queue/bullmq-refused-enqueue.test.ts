import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import { photodnaGuard } from '../../src/index.js';
import { createScanWorker, openScanQueue, type ScanWorker } from '../../src/queue/index.js';
import type { QueueEngine } from '../../src/queue/types.js';
import { useRedisWithAdmin } from '../cluster/redis-admin.js';
import { describeWithRedis } from '../cluster/requires-redis.js';
import { png } from '../fixtures/images.js';
import { knownImage, useEmulator } from '../helpers/emulated.js';
import { serveUploads } from '../helpers/express-app.js';
import { until } from '../helpers/until.js';
import { recordOutcomes, uploadAccepted } from './outcomes.js';

/**
 * A deferred upload whose enqueue outlives the route's deadline is refused 503: the host keeps
 * nothing of it. ioredis queues the enqueue's commands while Redis does not answer (a frozen
 * server, a stalled or broken connection) and sends them when it answers again, so the bytes and
 * the job could still be stored after the 503. Such a job must never run as if it were accepted:
 * no `scan`, `match` or `reject` event for a `scanId` the host never heard of, no evidence stored
 * for it, and nothing of the refused upload left in Redis.
 *
 * The engine's side is driven with `CLIENT PAUSE WRITE` (reads answer, writes wait in Redis): an
 * enqueue is aborted while its bytes or its job are known to be waiting there, then Redis runs them.
 */

const emu = useEmulator({ rateLimit: false });
let seed = 91_000;

describeWithRedis('a deferred upload refused because its enqueue timed out', () => {
  const redisHost = useRedisWithAdmin();
  const redis = redisHost.server;
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    // A test that failed while Redis was frozen must not leave it frozen for the next.
    redis.thaw();
    for (const close of closers.splice(0).reverse()) await close();
  });

  /** A guard deferring every upload to queue `name`, and a worker elsewhere with its own store. */
  async function start(name: string) {
    const dir = mkdtempSync(join(tmpdir(), 'pdg-refused-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const guard = photodnaGuard(
      emu.options({
        queue: { redis: redis.url, name },
        queueWorker: false,
        defer: true,
        policy: 'quarantine',
        quarantine: { dir },
        scanTimeoutMs: 1_000,
      }),
    );
    const server = await serveUploads(guard);
    closers.push(() => server.close());
    const worker: ScanWorker = await createScanWorker({
      queue: { redis: redis.url, name },
      apiKey: 'refused-worker-key',
      baseUrl: emu.emulator.url,
      quarantine: { dir },
      // One job at a time, in order: a job added before another is done before it.
      concurrency: 1,
    });
    closers.push(() => worker.close());
    const seen = recordOutcomes(worker);
    const upload = (bytes: Buffer) =>
      request(server.url).post('/upload').attach('f', bytes, 'a.png');
    /** An upload the guard accepts: its scanId, once the worker has scanned it. */
    const accepted = async (): Promise<string> =>
      (await uploadAccepted(server.url, seen, png(200, 200, seed++)))[0] as string;
    return { upload, accepted, seen };
  }

  it('a known image refused 503 while Redis was frozen is never scanned, matched or quarantined once Redis answers', async () => {
    const name = 'refused-frozen';
    const s = await start(name);
    // The guard's and the worker's connections are up and working.
    const first = await s.accepted();

    redis.freeze();
    const refused = await s.upload(knownImage());
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('SCAN_UNAVAILABLE');
    redis.thaw();

    // Added after the refused upload's commands on the guard's connection, and run after them by
    // the one-at-a-time worker: once it is scanned, whatever became of the refused one is done.
    const second = await s.accepted();
    await until(
      async () => (await redisHost.admin.keys(`photodna-guard:scan-bytes:${name}:*`)).length === 0,
      'no bytes left in Redis',
    );
    expect(s.seen.scans.map((e) => e.scanId)).toEqual([first, second]);
    expect(s.seen.matches).toEqual([]);
    expect(s.seen.quarantined).toEqual([]);
    expect(s.seen.rejects).toEqual([]);
  }, 60_000);

  /** The queue `name`, warmed up (connected, BullMQ's scripts loaded on its connection). */
  async function openQueue(name: string): Promise<QueueEngine> {
    const queue = await openScanQueue({ redis: redis.url, name });
    closers.push(() => queue.close());
    await queue.enqueue({ scanId: 'warm-up', source: { kind: 'bytes', bytes: png(200, 200, 1) } });
    return queue;
  }

  /** Resolves once a client's `command` waits in Redis, held by `CLIENT PAUSE WRITE`. */
  async function held(command: RegExp): Promise<void> {
    await until(async () => {
      const clients = String(await redisHost.admin.call('CLIENT', 'LIST')).split('\n');
      return clients.some((c) => /flags=\S*b/.test(c) && command.test(c));
    }, `a ${command} held in Redis`);
  }

  /** Runs `enqueue` while Redis holds writes; aborts it once `command` is held, then lets go. */
  async function abortWhileHeld(
    enqueue: (signal: AbortSignal) => Promise<unknown>,
    command: RegExp,
  ): Promise<void> {
    await redisHost.admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    try {
      const deadline = new AbortController();
      const enqueued = enqueue(deadline.signal);
      await held(command);
      deadline.abort(new Error('the deadline passed'));
      await expect(enqueued).rejects.toThrow('the deadline passed');
    } finally {
      await redisHost.admin.call('CLIENT', 'UNPAUSE');
    }
  }

  /** A worker of queue `name` that records its events and the refs it loads. */
  async function startWorker(name: string) {
    const loaded: string[] = [];
    const worker = await createScanWorker({
      queue: { redis: redis.url, name },
      apiKey: 'refused-worker-key',
      baseUrl: emu.emulator.url,
      concurrency: 1,
      load: async (ref) => {
        loaded.push(ref);
        return png(200, 200, 2);
      },
    });
    closers.push(() => worker.close());
    const events: Array<{ scanId: string | undefined; name: string }> = [];
    for (const event of ['scan', 'match', 'reject'] as const)
      worker.on(event, (e) => void events.push({ scanId: e.scanId, name: event }));
    return { loaded, events };
  }

  it('bytes sent before the abort are deleted once Redis runs them, and no job is added', async () => {
    const name = 'refused-bytes';
    const queue = await openQueue(name);
    await abortWhileHeld(
      (signal) =>
        queue.enqueue(
          { scanId: 'late-bytes', source: { kind: 'bytes', bytes: png(200, 200, 3) } },
          { signal },
        ),
      /cmd=set /,
    );
    await until(
      async () =>
        (await redisHost.admin.exists(`photodna-guard:scan-refused:${name}:late-bytes`)) === 1,
      'the refusal recorded',
    );
    expect(await redisHost.admin.exists(`photodna-guard:scan-bytes:${name}:late-bytes`)).toBe(0);
    expect(await redisHost.admin.exists(`bull:${name}:late-bytes`)).toBe(0);
  });

  it('a job whose add reached Redis before the abort is removed after it, never run', async () => {
    const name = 'refused-add';
    const queue = await openQueue(name);
    await abortWhileHeld(
      (signal) =>
        queue.enqueue({ scanId: 'late-add', source: { kind: 'ref', ref: 'late-add' } }, { signal }),
      /cmd=(evalsha|eval) /,
    );
    await until(
      async () => (await redisHost.admin.exists(`bull:${name}:late-add`)) === 0,
      'the added job removed',
    );
    expect(await redisHost.admin.get(`photodna-guard:scan-refused:${name}:late-add`)).toMatch(
      /^[0-9a-f-]{36}$/,
    );

    const worker = await startWorker(name);
    await queue.enqueue({ scanId: 'after', source: { kind: 'ref', ref: 'after' } });
    await until(() => worker.events.some((e) => e.scanId === 'after'), 'the next job scanned');
    expect(worker.loaded).toEqual(['after']);
    expect(worker.events.map((e) => e.scanId).sort()).toEqual(['after', 'warm-up']);
  });

  it("a job Redis adds after the refusal (ioredis resends BullMQ's script after NOSCRIPT) ends refused, unchecked and silent", async () => {
    const name = 'refused-noscript';
    const queue = await openQueue(name);
    // As after a Redis restart: the connection believes BullMQ's scripts loaded, Redis has none.
    await redisHost.admin.call('SCRIPT', 'FLUSH');
    await abortWhileHeld(
      (signal) =>
        queue.enqueue(
          { scanId: 'resent-add', source: { kind: 'ref', ref: 'resent-add' } },
          { signal },
        ),
      /cmd=evalsha /,
    );
    await until(
      async () => (await redisHost.admin.exists(`bull:${name}:resent-add`)) === 1,
      'the job added after its refusal',
    );

    const worker = await startWorker(name);
    await until(
      async () => (await redisHost.admin.hget(`bull:${name}:resent-add`, 'finishedOn')) !== null,
      'the refused job ended',
    );
    const ended = await redisHost.admin.hmget(`bull:${name}:resent-add`, 'returnvalue', 'data');
    expect(JSON.parse(ended[0] as string)).toEqual({ done: true, outcome: 'refused' });
    expect(JSON.parse(ended[1] as string)).toEqual({ scanId: 'resent-add' });
    expect(worker.loaded).not.toContain('resent-add');
    expect(worker.events.filter((e) => e.scanId === 'resent-add')).toEqual([]);
  });

  it("a refusal leaves another enqueue's job of the same scanId alone", async () => {
    const name = 'refused-other';
    const queue = await openQueue(name);
    const kept = new AbortController();
    await queue.enqueue(
      { scanId: 'shared-id', source: { kind: 'bytes', bytes: png(200, 200, 4) } },
      { signal: kept.signal },
    );
    // Frozen: the second enqueue's look-up of the scanId is sent and waits; aborted after that
    // turn, its refusal follows it, and finds the first enqueue's job.
    redis.freeze();
    const deadline = new AbortController();
    const again = queue.enqueue(
      { scanId: 'shared-id', source: { kind: 'bytes', bytes: png(200, 200, 5) } },
      { signal: deadline.signal },
    );
    await new Promise((resolve) => setImmediate(resolve));
    deadline.abort(new Error('the deadline passed'));
    await expect(again).rejects.toThrow('the deadline passed');
    redis.thaw();
    await until(
      async () =>
        (await redisHost.admin.exists(`photodna-guard:scan-refused:${name}:shared-id`)) === 1,
      'the refusal recorded',
    );
    expect(await redisHost.admin.exists(`photodna-guard:scan-bytes:${name}:shared-id`)).toBe(1);

    const worker = await startWorker(name);
    await until(() => worker.events.some((e) => e.scanId === 'shared-id'), 'the first job scanned');
    expect(worker.events.find((e) => e.scanId === 'shared-id')?.name).toBe('scan');
  });
});
