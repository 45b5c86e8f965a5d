import type { Pool } from 'undici';
import { PhotoDnaClient } from '../src/client/client.js';
import { MatchHashBatcher } from '../src/client/match-hash-batcher.js';
import { startEmulator } from '../src/emulator/index.js';
import { testHashOf } from '../test/helpers/test-hasher.js';
import type { Benchmark } from './lib/benchmark.js';
import { png } from './lib/fixtures.js';
import { allAnswered, describeStatuses, loadClient, runLoad } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { type GuardSpec, startServer } from './lib/server-process.js';
import { median, percentile } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * MatchHash batches (`hasher`) against one Match per image.
 *
 * 1. Images per second per key: the same burst of distinct uploads, fired at once, at a guard
 *    with `rateLimit.perSecond: 5` talking to the emulator at its real limits (5/s on v2 Match,
 *    10/s on v1, where MatchHash counts), first with one Match per image, then with the test
 *    stand-in hasher (MatchHash, up to five hashes per call).
 * 2. The latency the batching window adds when nothing else is waiting: one client, one upload at
 *    a time, interleaved over three guards (Match; hasher with `batchWindowMs: 0`; hasher with the
 *    default 5 ms), rate limits off so that no call waits for a slot.
 */
const PER_SECOND = 5;
const LATENCY_WARMUP = 20;
const LATENCY_SAMPLES = 200;
const DEFAULT_WINDOW_MS = 5;

export const matchHash: Benchmark = {
  name: 'hashes',
  about: `MatchHash batches vs one Match per image: images/s per key at ${PER_SECOND} calls/s (burst), and the window's latency (c=1)`,
  async run(settings) {
    const rows: Row[] = [];
    rows.push(...(await imagesPerSecond(settings.burst)));
    rows.push(await windowDelay());
    rows.push(...(await windowLatency()));
    return rows;
  },
};

async function imagesPerSecond(burst: number): Promise<Row[]> {
  note(
    `burst ${burst}: about ${Math.ceil(burst / PER_SECOND)} s with Match, a fifth of it with MatchHash`,
  );
  const emulator = await startEmulator({ port: 0 });
  try {
    const base = {
      kind: 'photodna',
      baseUrl: emulator.url,
      cache: false,
      perSecond: PER_SECOND,
      maxQueue: 1000,
      scanTimeoutMs: 120_000,
    } as const;
    const measure = async (label: string, spec: GuardSpec, seed: number) => {
      const uploads = Array.from({ length: burst }, (_, i) =>
        fileUpload(png(200, 200, seed + i), `burst-${i}.png`),
      );
      const from = emulator.calls.length;
      const server = await startServer(spec);
      const pool = loadClient(server.origin, burst);
      try {
        const result = await runLoad(pool, {
          path: '/guarded',
          uploads,
          concurrency: burst,
          requests: burst,
          maxMs: 150_000,
        });
        const calls = emulator.calls.slice(from);
        const refused = calls.filter((c) => c.httpStatus === 429).length;
        const perSecond = ((result.statuses[200] ?? 0) / result.elapsedMs) * 1000;
        note(
          `${label}: ${calls.length} calls (${fmt(burst / Math.max(1, calls.length), 'images/call')}), ` +
            `${refused} × 429, uploads ${describeStatuses(result)} in ${fmt(result.elapsedMs / 1000, 's')}: ` +
            `${fmt(perSecond, 'images/s')}`,
        );
        return { perSecond, refused, calls: calls.length, ok: allAnswered(result) };
      } finally {
        await pool.close();
        await server.close();
      }
    };
    const match = await measure('Match per image', base, 20_000);
    const hashes = await measure(
      'MatchHash batches',
      { ...base, hasher: { windowMs: DEFAULT_WINDOW_MS } },
      30_000,
    );
    return [
      {
        benchmark: `images/s per key, MatchHash batches vs Match (burst ${burst}, ${PER_SECOND} calls/s)`,
        measured: `${fmt(hashes.perSecond, 'images/s')} (${hashes.calls} calls)`,
        baseline: `${fmt(match.perSecond, 'images/s')} (${match.calls} calls)`,
        ratio: hashes.perSecond / match.perSecond,
        goal: '≥ 4 (5 hashes per call)',
        met: hashes.perSecond / match.perSecond >= 4,
      },
      {
        benchmark: `429s and uploads answered 200, MatchHash burst ${burst}`,
        measured: `${hashes.refused} × 429, ${hashes.ok ? 'all' : 'NOT all'} answered 200`,
        baseline: `Match: ${match.refused} × 429`,
        ratio: undefined,
        goal: '0 × 429, all 200',
        met: hashes.refused === 0 && hashes.ok,
      },
    ];
  } finally {
    await emulator.close();
  }
}

/**
 * The window itself, in-process: the time from `MatchHashBatcher.match()` to the moment its batch
 * is sealed (the rate-limiter slot granted, the body built), for one hash at a time, with a 0 ms
 * and a 5 ms window interleaved. No HTTP upload in the measurement, so a loaded machine blurs it
 * far less than the end-to-end rows.
 */
async function windowDelay(): Promise<Row> {
  const emulator = await startEmulator({ port: 0, rateLimit: false });
  const sealDelays: Record<'0' | '5', number[]> = { '0': [], '5': [] };
  class TimedClient extends PhotoDnaClient {
    started = 0;
    sealedAfter = Number.NaN;
    override matchHashBatch(take: () => readonly string[], options = {}) {
      return super.matchHashBatch(() => {
        this.sealedAfter = performance.now() - this.started;
        return take();
      }, options);
    }
  }
  const client = new TimedClient({
    apiKey: 'bench-key',
    baseUrl: emulator.url,
    rateLimit: { perSecond: 1000 },
  });
  const batchers = {
    '0': new MatchHashBatcher(client, { windowMs: 0, size: 5 }),
    '5': new MatchHashBatcher(client, { windowMs: DEFAULT_WINDOW_MS, size: 5 }),
  };
  try {
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      for (const key of ['0', '5'] as const) {
        client.started = performance.now();
        await batchers[key].match(
          testHashOf(Buffer.from(`window ${key} ${i}`)),
          new AbortController().signal,
        );
        if (i >= LATENCY_WARMUP) sealDelays[key].push(client.sealedAfter);
      }
    }
  } finally {
    await client.close();
    await emulator.close();
  }
  const zero = median(sealDelays['0']);
  const five = median(sealDelays['5']);
  note(
    `match() to sealed batch, p50 / p99 ms: window 0 ${fmt(zero, '')}/ ${fmt(percentile(sealDelays['0'], 99), '')}, ` +
      `window ${DEFAULT_WINDOW_MS} ${fmt(five, '')}/ ${fmt(percentile(sealDelays['5'], 99), '')}`,
  );
  return {
    benchmark: `batching window (in-process, c=1): match() to sealed batch, ${DEFAULT_WINDOW_MS} ms vs 0 ms`,
    measured: `${fmt(five, 'ms')} (+${fmt(five - zero, 'ms')})`,
    baseline: `${fmt(zero, 'ms')} window 0`,
    ratio: five / zero,
    goal: `added ≤ ${DEFAULT_WINDOW_MS} ms`,
    met: five - zero <= DEFAULT_WINDOW_MS,
  };
}

async function windowLatency(): Promise<Row[]> {
  const emulator = await startEmulator({ port: 0, rateLimit: false });
  const base = {
    kind: 'photodna',
    baseUrl: emulator.url,
    cache: false,
    perSecond: 1000,
    maxQueue: 100,
    scanTimeoutMs: 30_000,
  } as const;
  const kinds = [
    { name: 'match', spec: base as GuardSpec },
    { name: 'window 0', spec: { ...base, hasher: { windowMs: 0 } } as GuardSpec },
    {
      name: `window ${DEFAULT_WINDOW_MS}`,
      spec: { ...base, hasher: { windowMs: DEFAULT_WINDOW_MS } } as GuardSpec,
    },
  ];
  const servers = await Promise.all(kinds.map((kind) => startServer(kind.spec)));
  const pools: Pool[] = servers.map((server) => loadClient(server.origin, 1));
  try {
    const latency: number[][] = kinds.map(() => []);
    for (let i = 0; i < LATENCY_WARMUP + LATENCY_SAMPLES; i++) {
      for (let k = 0; k < kinds.length; k++) {
        const upload: Upload = fileUpload(png(200, 200, 40_000 + i * kinds.length + k), 'one.png');
        const result = await runLoad(pools[k] as Pool, {
          path: '/guarded',
          uploads: [upload],
          concurrency: 1,
          requests: 1,
          maxMs: 30_000,
        });
        if (i >= LATENCY_WARMUP) latency[k]?.push(...result.latenciesMs);
      }
    }
    const [match, zero, window] = latency.map((samples) => ({
      p50: median(samples),
      p99: percentile(samples, 99),
    })) as [
      { p50: number; p99: number },
      { p50: number; p99: number },
      { p50: number; p99: number },
    ];
    note(
      `p50 / p99 ms: Match ${fmt(match.p50, '')}/ ${fmt(match.p99, '')}, hasher window 0 ` +
        `${fmt(zero.p50, '')}/ ${fmt(zero.p99, '')}, window ${DEFAULT_WINDOW_MS} ${fmt(window.p50, '')}/ ${fmt(window.p99, '')}`,
    );
    return [
      {
        benchmark: `upload latency p50 (c=1, HTTP), hasher window ${DEFAULT_WINDOW_MS} ms vs 0 ms`,
        measured: `${fmt(window.p50, 'ms')} (${window.p50 >= zero.p50 ? '+' : ''}${fmt(window.p50 - zero.p50, 'ms')})`,
        baseline: `${fmt(zero.p50, 'ms')} window 0`,
        ratio: window.p50 / zero.p50,
        goal: '— (info)',
      },
      {
        benchmark: 'upload latency p50 (c=1), MatchHash (window 0) vs Match',
        measured: `${fmt(zero.p50, 'ms')}`,
        baseline: `${fmt(match.p50, 'ms')} Match`,
        ratio: zero.p50 / match.p50,
        goal: '— (info)',
      },
    ];
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    await Promise.all(servers.map((server) => server.close()));
    await emulator.close();
  }
}
