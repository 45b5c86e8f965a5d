/**
 * Issue 12 figures (`npx tsx bench/queue.ts`, see bench/README.md "queue"): backfill rate against
 * the emulator's limit, with and without duplicates; one embedded process vs three BullMQ workers
 * sharing one Redis; queue overhead per job; peak RSS of `scan --resume` over a million-line
 * manifest vs a thousand-line one. Every figure is a ratio against a baseline of the same run.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EmulatorCall } from '../src/emulator/index.js';
import { createScanWorker, openScanQueue, type QueueEngine } from '../src/queue/index.js';
import type { Matcher } from '../src/types.js';
import { startRedisServer } from '../test/cluster/redis-server.js';
import { until } from '../test/helpers/until.js';
import {
  startEmulatorProcess,
  startWorkerProcess,
  type WorkerEvent,
} from '../test/queue/worker-processes.js';
import { jpeg50k, jpegVariant } from './lib/images.js';

const RATE = Number(process.env.BENCH_RATE ?? 25);
const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const MAXRSS = fileURLToPath(new URL('./lib/report-maxrss.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'pdg-bench-queue-'));
const rows: Array<[string, string]> = [];
const row = (name: string, value: string) => {
  rows.push([name, value]);
  process.stdout.write(`${name}: ${value}\n`);
};

function achievedRate(calls: readonly EmulatorCall[]): number {
  const times = calls.map((c) => c.at).sort((a, b) => a - b);
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? 0;
  return last > first ? ((times.length - 1) * 1000) / (last - first) : 0;
}

function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', MAXRSS, MAIN, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        error && error.code !== 0 && error.code !== 1 ? reject(error) : resolve({ stdout, stderr }),
    );
  });
}

function imagesDir(name: string, distinct: number, duplicates: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const base = jpeg50k(7);
  for (let i = 0; i < distinct; i++)
    writeFileSync(join(dir, `img-${i}.jpg`), jpegVariant(base, `${name}-${i}`));
  for (let i = 0; i < duplicates; i++)
    writeFileSync(join(dir, `dup-${i}.jpg`), jpegVariant(base, `${name}-${i % distinct}`));
  return dir;
}

async function backfill(distinct: number, duplicates: number): Promise<void> {
  const dir = imagesDir(`b${distinct}-${duplicates}`, distinct, duplicates);
  const emulator = await startEmulatorProcess({ rateLimit: { perSecond: RATE } });
  const key = `bench-${distinct}-${duplicates}`;
  await cli([
    'scan',
    dir,
    '--out',
    join(root, `${key}.jsonl`),
    '--api-key',
    key,
    '--base-url',
    emulator.url,
    '--rate',
    String(RATE),
  ]);
  const calls = (await emulator.calls()).filter((c) => c.key === key);
  await emulator.close();
  const ok = calls.filter((c) => c.httpStatus === 200).length;
  const throttled = calls.filter((c) => c.httpStatus === 429).length;
  const rate = achievedRate(calls);
  row(
    `backfill ${distinct + duplicates} files (${duplicates} duplicates) at ${RATE}/s`,
    `${calls.length} calls for ${distinct} distinct (${ok} ok, ${throttled} 429); ${rate.toFixed(2)} calls/s = ${(rate / RATE).toFixed(3)} of the limit`,
  );
}

async function engines(jobs: number): Promise<void> {
  const base = jpeg50k(9);
  const files = join(root, 'engine-files');
  mkdirSync(files);
  const enqueue = Array.from({ length: jobs }, (_, i) => {
    const path = join(files, `e${i}.jpg`);
    writeFileSync(path, jpegVariant(base, `engine-${i}`));
    return { scanId: `e${i}`, path };
  });
  // One embedded process.
  {
    const emulator = await startEmulatorProcess({ rateLimit: { perSecond: RATE } });
    const events: WorkerEvent[] = [];
    const spec = {
      queue: { dir: join(root, 'embedded-q') },
      apiKey: 'emb',
      baseUrl: emulator.url,
      perSecond: RATE,
      quarantineDir: join(root, 'eq'),
      concurrency: 10,
    };
    const worker = await startWorkerProcess({ ...spec, enqueue }, events);
    await until(
      () => events.filter((e) => e.name === 'scan').length === jobs,
      'embedded jobs',
      600_000,
    );
    const calls = await emulator.calls();
    await worker.close();
    await emulator.close();
    row(
      `embedded queue, 1 process, ${jobs} jobs`,
      `${achievedRate(calls).toFixed(2)} calls/s = ${(achievedRate(calls) / RATE).toFixed(3)} of the limit, ${calls.filter((c) => c.httpStatus === 429).length} 429`,
    );
  }
  // Three BullMQ workers on one Redis.
  {
    const redis = await startRedisServer();
    const emulator = await startEmulatorProcess({ rateLimit: { perSecond: RATE } });
    const queue = await openScanQueue({ redis: redis.url });
    const events: WorkerEvent[] = [];
    const spec = {
      queue: { redis: redis.url },
      apiKey: 'bull',
      baseUrl: emulator.url,
      perSecond: RATE,
      quarantineDir: join(root, 'bq'),
      concurrency: 5,
    };
    const workers = [];
    for (const i of [0, 1, 2]) workers.push(await startWorkerProcess(spec, events, i));
    const { readFileSync } = await import('node:fs');
    for (const job of enqueue)
      await queue.enqueue({
        scanId: job.scanId,
        source: { kind: 'bytes', bytes: readFileSync(job.path) },
      });
    await until(
      () => events.filter((e) => e.name === 'scan').length === jobs,
      'bullmq jobs',
      600_000,
    );
    const calls = await emulator.calls();
    await Promise.all(workers.map((w) => w.close()));
    await queue.close();
    await emulator.close();
    await redis.close();
    const shares = [0, 1, 2].map(
      (w) => events.filter((e) => e.name === 'scan' && e.worker === w).length,
    );
    row(
      `BullMQ, 3 worker processes, ${jobs} jobs`,
      `${achievedRate(calls).toFixed(2)} calls/s = ${(achievedRate(calls) / RATE).toFixed(3)} of the limit, ${calls.filter((c) => c.httpStatus === 429).length} 429, jobs per worker ${shares.join('/')}`,
    );
  }
}

/** Enqueue + claim + settle per job, with a matcher that answers at once (no rate limit). */
/** Enqueues at once in the burst half of the overhead part. */
const BURST = 16;

async function overhead(jobs: number): Promise<void> {
  const bytes = jpeg50k(3);
  const instant: Matcher = {
    match: async () => ({ isMatch: false, trackingId: 't', matchFlags: [] }),
  };
  const measure = async (name: string, queue: QueueEngine) => {
    let started = performance.now();
    let elu = performance.eventLoopUtilization();
    for (let i = 0; i < jobs; i++)
      await queue.enqueue({ scanId: `o${i}`, source: { kind: 'bytes', bytes } });
    const enqueueUs = ((performance.now() - started) * 1000) / jobs;
    const busyUs = (performance.eventLoopUtilization(elu).active * 1000) / jobs;
    // The same number again, BURST at once (uploads deferred together): what the event loop
    // spends per job when enqueues overlap, against one at a time above.
    started = performance.now();
    elu = performance.eventLoopUtilization();
    for (let i = 0; i < jobs; i += BURST) {
      await Promise.all(
        Array.from({ length: Math.min(BURST, jobs - i) }, (_, j) =>
          queue.enqueue({ scanId: `p${i + j}`, source: { kind: 'bytes', bytes } }),
        ),
      );
    }
    const burstUs = ((performance.now() - started) * 1000) / jobs;
    const burstBusyUs = (performance.eventLoopUtilization(elu).active * 1000) / jobs;
    row(
      `enqueue, ${name}: event loop busy per job, ${BURST} at once vs one at a time`,
      `${burstBusyUs.toFixed(0)} vs ${busyUs.toFixed(0)} µs = ${(burstBusyUs / busyUs).toFixed(2)} (wall ${burstUs.toFixed(0)} vs ${enqueueUs.toFixed(0)} µs/job)`,
    );
    let done = 0;
    started = performance.now();
    const worker = await createScanWorker({ queue, matcher: instant, concurrency: 10 });
    worker.on('scan', () => {
      done++;
    });
    await until(() => done === 2 * jobs, `${name} drain`, 600_000);
    const drainUs = ((performance.now() - started) * 1000) / (2 * jobs);
    await worker.close();
    await queue.close();
    row(
      `queue overhead, ${name}`,
      `enqueue ${enqueueUs.toFixed(0)} µs/job (50 KB copy, fsync'd), run+settle ${drainUs.toFixed(0)} µs/job`,
    );
  };
  await measure('embedded', await openScanQueue({ dir: join(root, 'overhead-q') }));
  const redis = await startRedisServer();
  await measure('BullMQ (1 worker)', await openScanQueue({ redis: redis.url }));
  await redis.close();
}

/** Peak RSS of `scan --resume` over n finished lines (the worst case: every key in memory). */
async function manifestRss(lines: number): Promise<number> {
  const dir = join(root, `m${lines}`);
  mkdirSync(dir);
  const manifest = join(dir, 'list.jsonl');
  const out = join(dir, 'results.jsonl');
  const m = createWriteStream(manifest);
  const o = createWriteStream(out);
  for (let i = 0; i < lines; i++) {
    const path = `/srv/media/${i}.jpg`;
    m.write(`${JSON.stringify({ path })}\n`);
    o.write(
      `${JSON.stringify({ path, sha256: randomBytes(32).toString('hex'), outcome: 'clean' })}\n`,
    );
  }
  await Promise.all([new Promise((r) => m.end(r)), new Promise((r) => o.end(r))]);
  const { stderr } = await cli([
    'scan',
    '--manifest',
    manifest,
    '--out',
    out,
    '--resume',
    '--api-key',
    'k',
    '--base-url',
    'http://127.0.0.1:9',
  ]);
  const kib = Number(/maxrss-kib=(\d+)/.exec(stderr)?.[1]);
  return kib / 1024;
}

/** `BENCH_PARTS=overhead,engines,backfill,rss` picks parts (default: all). */
const parts = new Set((process.env.BENCH_PARTS ?? 'overhead,engines,backfill,rss').split(','));
try {
  if (parts.has('overhead')) await overhead(2000);
  if (parts.has('engines')) await engines(Number(process.env.BENCH_ENGINE_JOBS ?? 200));
  if (parts.has('backfill')) {
    await backfill(1000, 0);
    await backfill(700, 300);
  }
  if (parts.has('rss')) await rss();
} finally {
  rmSync(root, { recursive: true, force: true });
}

async function rss(): Promise<void> {
  const small = await manifestRss(1_000);
  const large = await manifestRss(1_000_000);
  row('scan --resume over 1,000 finished lines: peak RSS', `${small.toFixed(0)} MiB`);
  row(
    'scan --resume over 1,000,000 finished lines: peak RSS',
    `${large.toFixed(0)} MiB (${(((large - small) * 1024 * 1024) / 999_000).toFixed(0)} bytes per extra line)`,
  );
}
process.stdout.write(
  `\n| measurement | result |\n|---|---|\n${rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n')}\n`,
);
