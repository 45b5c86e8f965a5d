import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Redis } from 'ioredis';
import type { Pool } from 'undici';
import { photodnaGuard } from '../src/index.js';
import { openScanQueue, type QueueEngine, type ScanQueue } from '../src/queue/index.js';
import type { Matcher } from '../src/types.js';
import {
  hasRedisServer,
  type RedisServer,
  startRedisServer,
} from '../test/cluster/redis-server.js';
import { countRedisWaits, type RedisWaits } from '../test/cluster/redis-waits.js';
import type { Benchmark } from './lib/benchmark.js';
import { intFromEnv } from './lib/env.js';
import { jpeg50k, jpegVariant } from './lib/images.js';
import { allAnswered, describeStatuses, loadClient, runLoad } from './lib/load.js';
import { filesUpload, type Upload } from './lib/multipart.js';
import { median, medianInterval, percentile } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * What holding a request's deferred jobs costs it (`defer: true`: its jobs enqueued under one
 * hold, released before the handler answers), through a listening Express guard with an instant
 * matcher: the same route and queue with holds (`held`) and without (`unheld`: the queue handed
 * to the guard without `release`/`withdraw`, as a host's own `ScanQueue`, whose jobs run once
 * stored), both routes on one server and one queue. Per engine (embedded; BullMQ on a
 * `redis-server` started here), for one 50 KB JPEG and for 3 of them in one request, at 1 and 16
 * clients, each client alternating the two routes request by request, so that whatever else the
 * machine does lands on both alike: `BENCH_HOLD_REPS` runs (default 3), each on a fresh queue and
 * guards after a warm-up; the ratio held / unheld of each run's medians and p99s, printed as the
 * median of the runs with their spread (min–max). At 1 client also the paired ratio: each held
 * request against the unheld one next to it, the median of all pairs with its 95% interval.
 *
 * Counted per request apart from the timed runs (counting disturbs them): BullMQ's commands as
 * its client sent them, the serial round trips among them (a command sent while none of the
 * process's was outstanding, at 1 client: the waits on the request's path), and the commands
 * Redis ran (`INFO commandstats`, those of scripts included); the embedded queue's `fsync` and
 * `fdatasync` calls (`strace -c` attached to this process, when it is installed).
 *
 * The server and the load client share this process (as the queue tests' do): both variants
 * pay for that alike.
 */
const FILES = [1, 3] as const;
const CLIENTS = [1, 16] as const;
/** Steps (a request to each route) per timed run, by clients; and the warm-up of each run. */
const REQUESTS: Readonly<Record<number, number>> = { 1: 200, 16: 400 };
const WARMUP = 100;
/** Requests of the counting runs. */
const COUNTED = 100;

type Engine = 'embedded' | 'bullmq';
const VARIANTS = ['held', 'unheld'] as const;
type Variant = (typeof VARIANTS)[number];

const instant: Matcher = {
  match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }),
};

export const holds: Benchmark = {
  name: 'holds',
  about:
    'deferred uploads with holds vs without, embedded and BullMQ, 1 and 3 files, 1 and 16 clients',
  async run() {
    const reps = intFromEnv('BENCH_HOLD_REPS', 3, 1);
    const engines = (process.env.BENCH_HOLD_ENGINES ?? 'embedded,bullmq').split(',') as Engine[];
    const image = jpeg50k(11);
    const uploads = (files: number): Upload[] =>
      Array.from({ length: 16 }, (_, i) =>
        filesUpload(
          Array.from({ length: files }, (_, f) => ({
            bytes: jpegVariant(image, `hold-${i}-${f}`),
            filename: `photo-${f}.jpg`,
          })),
        ),
      );
    const rows: Row[] = [];
    let redis: RedisServer | undefined;
    try {
      for (const engine of engines) {
        if (engine === 'bullmq') {
          if (!hasRedisServer()) {
            note('redis-server not found on PATH: BullMQ rows skipped');
            continue;
          }
          redis = await startRedisServer();
        }
        for (const files of FILES) {
          const bodies = uploads(files);
          for (const clients of CLIENTS) {
            rows.push(...(await timedPairs(engine, redis, bodies, files, clients, reps)));
          }
          note(await counts(engine, redis, bodies, files));
        }
      }
    } finally {
      await redis?.close();
    }
    return rows;
  },
};

/**
 * `requests` uploads from `clients` keep-alive clients, each alternating `/held` and `/unheld`
 * (the first route alternating between clients): both routes under the same load at the same
 * moments. The latencies of each route, in the order sent; at 1 client, index i of each is one
 * step (a held and an unheld request one after the other).
 */
async function alternating(
  pool: Pool,
  bodies: readonly Upload[],
  clients: number,
  requests: number,
): Promise<Record<Variant, number[]>> {
  const times: Record<Variant, number[]> = { held: [], unheld: [] };
  let next = 0;
  const client = async (c: number) => {
    while (next < requests) {
      const step = next++;
      const body = bodies[step % bodies.length] as Upload;
      for (const variant of c % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const sent = performance.now();
        const response = await pool.request({
          path: `/${variant}`,
          method: 'POST',
          headers: { 'content-type': body.contentType },
          body: body.body,
        });
        await response.body.text();
        if (response.statusCode !== 200)
          throw new Error(`/${variant} answered ${response.statusCode}`);
        times[variant].push(performance.now() - sent);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return times;
}

/** held / unheld, `reps` runs on fresh queues; the ratio of each run's medians and p99s. */
async function timedPairs(
  engine: Engine,
  redis: RedisServer | undefined,
  bodies: readonly Upload[],
  files: number,
  clients: number,
  reps: number,
): Promise<Row[]> {
  const runs: Array<Record<Variant, number[]>> = [];
  for (let rep = 0; rep < reps; rep++) {
    const routes = await deferredRoutes(engine, redis);
    const pool = loadClient(routes.origin, clients);
    try {
      await alternating(pool, bodies, clients, WARMUP);
      runs.push(await alternating(pool, bodies, clients, REQUESTS[clients] ?? 200));
    } finally {
      await pool.close();
      await routes.close();
    }
  }
  const of = (run: Record<Variant, number[]>, stat: (x: number[]) => number) =>
    stat(run.held) / stat(run.unheld);
  const p99 = (x: number[]) => percentile(x, 99);
  const ratios = { median: runs.map((r) => of(r, median)), p99: runs.map((r) => of(r, p99)) };
  const mid = (variant: Variant, stat: (x: number[]) => number) =>
    median(runs.map((r) => stat(r[variant])));
  note(
    `${engine}, ${files} file(s), c=${clients}, held/unheld ms (median, p99) per run: ` +
      runs
        .map(
          (r) =>
            `${median(r.held).toFixed(2)}/${median(r.unheld).toFixed(2)}, ${p99(r.held).toFixed(1)}/${p99(r.unheld).toFixed(1)}`,
        )
        .join('; '),
  );
  const label = `deferred ${files === 1 ? '1 file' : `${files} files`}, ${engine}, held vs unheld, c=${clients}`;
  const spread = (values: number[]): [number, number] => [Math.min(...values), Math.max(...values)];
  const rows: Row[] = [
    {
      benchmark: `${label}, median (${reps} runs, spread min–max)`,
      measured: fmt(mid('held', median), 'ms'),
      baseline: fmt(mid('unheld', median), 'ms'),
      ratio: median(ratios.median),
      interval: spread(ratios.median),
      goal: '— (info)',
    },
    {
      benchmark: `${label}, p99 (${reps} runs, spread min–max)`,
      measured: fmt(mid('held', p99), 'ms'),
      baseline: fmt(mid('unheld', p99), 'ms'),
      ratio: median(ratios.p99),
      interval: spread(ratios.p99),
      goal: '— (info)',
    },
  ];
  if (clients === 1) {
    // One client: each held request paired with the unheld one next to it.
    const paired = runs.flatMap((r) => r.held.map((h, i) => h / (r.unheld[i] as number)));
    rows.push({
      benchmark: `${label}, paired request by request (${paired.length} pairs, 95% interval)`,
      measured: '',
      baseline: '',
      ratio: median(paired),
      interval: medianInterval(paired),
      goal: '— (info)',
    });
  }
  return rows;
}

/** What one request costs the queue, held and unheld, counted at 1 client apart from the timing. */
async function counts(
  engine: Engine,
  redis: RedisServer | undefined,
  bodies: readonly Upload[],
  files: number,
): Promise<string> {
  const parts: string[] = [];
  const setup = await deferredRoutes(engine, redis);
  const pool = loadClient(setup.origin, 1);
  try {
    for (const variant of VARIANTS) {
      const load = async (requests: number) => {
        const result = await runLoad(pool, {
          path: `/${variant}`,
          uploads: bodies,
          concurrency: 1,
          requests,
          maxMs: 120_000,
        });
        if (!allAnswered(result)) throw new Error(`/${variant}: ${describeStatuses(result)}`);
      };
      await load(20);
      if (engine === 'bullmq' && setup.admin && setup.sent) {
        const before = await commandStats(setup.admin);
        setup.sent.reset();
        await load(COUNTED);
        const after = await commandStats(setup.admin);
        const ran = [...after].map(([cmd, n]) => [cmd, n - (before.get(cmd) ?? 0)] as const);
        // The INFO of `before` is counted in `after`.
        const server = ran
          .filter(([cmd, n]) => n > 0 && cmd !== 'info')
          .sort((a, b) => b[1] - a[1]);
        const total = server.reduce((sum, [, n]) => sum + n, 0);
        parts.push(
          `${variant}: ${(setup.sent.commands / COUNTED).toFixed(1)} commands sent ` +
            `(${perRequest(setup.sent.byName)}), ${(setup.sent.serial / COUNTED).toFixed(1)} serial round trips, ` +
            `${(total / COUNTED).toFixed(1)} run by Redis (${server.map(([c, n]) => `${c} ${(n / COUNTED).toFixed(1)}`).join(', ')})`,
        );
      } else {
        const traced = await traceFsyncs(() => load(COUNTED));
        parts.push(
          traced === undefined
            ? `${variant}: strace not found, fsyncs not counted`
            : `${variant}: ${(traced / COUNTED).toFixed(2)} fsync/fdatasync calls`,
        );
      }
    }
  } finally {
    await pool.close();
    await setup.close();
  }
  return `${engine}, ${files} file(s), per request: ${parts.join('; ')}`;
}

/**
 * A listening Express app deferring `POST /held` and `POST /unheld` to one fresh queue of
 * `engine`: `/unheld`'s guard has it as a host's own `ScanQueue` (no `release`), so its jobs are
 * not held.
 */
interface DeferredRoutes {
  origin: string;
  /** BullMQ: an admin connection, and the guards' commands as sent. */
  admin?: Redis;
  sent?: RedisWaits;
  close(): Promise<void>;
}

async function deferredRoutes(
  engine: Engine,
  redis: RedisServer | undefined,
): Promise<DeferredRoutes> {
  const dir = mkdtempSync(join(tmpdir(), 'pdg-bench-holds-'));
  let engineQueue: QueueEngine;
  let admin: Redis | undefined;
  let client: Redis | undefined;
  let sent: RedisWaits | undefined;
  if (engine === 'bullmq') {
    if (!redis) throw new Error('BullMQ needs the redis-server');
    admin = new Redis(redis.url);
    await admin.flushall();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    sent = countRedisWaits(client);
    engineQueue = await openScanQueue({ redis: client as never });
  } else {
    engineQueue = await openScanQueue({ dir: join(dir, 'queue') });
  }
  const unheld: ScanQueue = {
    engine: engineQueue.engine,
    enqueue: (input, options) => engineQueue.enqueue(input, { signal: options?.signal }),
    depth: () => engineQueue.depth(),
    close: () => engineQueue.close(),
  };
  const options = { matcher: instant, cache: false, defer: true, queueWorker: false } as const;
  const guards = {
    held: photodnaGuard({ ...options, queue: engineQueue }),
    unheld: photodnaGuard({ ...options, queue: unheld }),
  };
  const app = express();
  for (const variant of VARIANTS)
    app.post(
      `/${variant}`,
      guards[variant].any(),
      (req, res) => void res.json({ photodna: req.photodna }),
    );
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    ...(admin ? { admin } : {}),
    ...(sent ? { sent } : {}),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      for (const variant of VARIANTS) await guards[variant].close();
      await engineQueue.close();
      await client?.quit();
      if (admin) {
        await admin.flushall();
        await admin.quit();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `counts` per command, per request of the counting run, most first. */
function perRequest(counts: ReadonlyMap<string, number>): string {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${(n / COUNTED).toFixed(1)}`)
    .join(', ');
}

/** Redis's `INFO commandstats` as calls per command. */
async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const stats = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    stats.set(match[1] as string, Number(match[2]));
  return stats;
}

/**
 * The `fsync` and `fdatasync` calls of this process (every thread: SQLite's on the main one, the
 * byte copies' on libuv's) while `work` runs, from `strace -c` attached to it; `undefined` when
 * strace cannot attach.
 */
async function traceFsyncs(work: () => Promise<unknown>): Promise<number | undefined> {
  const out = join(mkdtempSync(join(tmpdir(), 'pdg-bench-strace-')), 'summary');
  let strace: ChildProcess;
  try {
    strace = spawn(
      'strace',
      ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-o', out, '-p', String(process.pid)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    strace.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const failed = once(strace, 'error').then(() => false);
    const exited = once(strace, 'exit').then(() => false);
    // Attached once it said so: `Process N attached with T threads`, once all of them are.
    const attached = new Promise<boolean>((resolve) => {
      const poll = setInterval(() => {
        if (/attached/.test(stderr)) {
          clearInterval(poll);
          resolve(true);
        }
      }, 10);
      void Promise.race([failed, exited]).then(() => {
        clearInterval(poll);
        resolve(false);
      });
    });
    if (!(await attached)) return undefined;
  } catch {
    return undefined;
  }
  await work();
  const exited = once(strace, 'exit');
  strace.kill('SIGINT');
  await exited;
  const summary = readFileSync(out, 'utf8');
  rmSync(join(out, '..'), { recursive: true, force: true });
  let calls = 0;
  for (const match of summary.matchAll(
    /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$/gm,
  ))
    calls += Number(match[1]);
  return calls;
}
