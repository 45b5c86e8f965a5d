import { startEmulator } from '../src/emulator/index.js';
import { hasRedisServer, startRedisServer } from '../test/cluster/redis-server.js';
import type { BenchSettings } from './lib/benchmark.js';
import { busiestSecond, callsPerSecond, spanMs, tightestWindowMs } from './lib/call-log.js';
import { png } from './lib/fixtures.js';
import { describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Three guard processes sharing one Redis-backed limiter (`rateLimit: { perSecond: 5, redis }`)
 * against one emulator with its default limit of 5/s per key: a burst of `settings.burst`
 * distinct uploads split evenly across the three, fired at once. From the emulator's call log:
 * the achieved calls/s as a fraction of 5 (goal ≥ 0.98) and the 429s (goal 0). The row needs
 * `redis-server` on PATH; without it the row says so.
 */
const PER_SECOND = 5;
const PROCESSES = 3;
const RATE_GOAL = 0.98;

export async function redisRateRow(settings: BenchSettings): Promise<Row> {
  const { burst } = settings;
  const row = {
    benchmark: `PhotoDNA calls/s, ${PROCESSES} processes sharing Redis, burst ${burst}`,
    baseline: `${PER_SECOND} calls/s configured`,
    goal: `≥ ${RATE_GOAL}, 0 × 429`,
  };
  if (!hasRedisServer()) {
    note('redis-server not found on PATH (apt-get install redis-server): Redis row skipped');
    return { ...row, measured: 'skipped (no redis-server)', ratio: undefined };
  }
  note(
    `${PROCESSES} processes sharing Redis, burst ${burst}: expect about ${Math.ceil(burst / PER_SECOND)} s`,
  );
  const uploads = Array.from({ length: burst }, (_, i) =>
    fileUpload(png(200, 200, 5000 + i), `shared-${i}.png`),
  );
  const redis = await startRedisServer();
  const emulator = await startEmulator({ port: 0 });
  const servers = await Promise.all(
    Array.from({ length: PROCESSES }, () =>
      startServer({
        kind: 'photodna',
        baseUrl: emulator.url,
        cache: false,
        perSecond: PER_SECOND,
        maxQueue: 1000,
        scanTimeoutMs: Math.max(120_000, (burst / PER_SECOND) * 2_000),
        redis: redis.url,
      }),
    ),
  );
  const pools = servers.map((server) => loadClient(server.origin, burst));
  try {
    const results = await Promise.all(
      servers.map((_, p) => {
        const share = uploads.filter((_, i) => i % PROCESSES === p);
        return runLoad(pools[p] as (typeof pools)[number], {
          path: '/guarded',
          uploads: share,
          concurrency: share.length,
          requests: share.length,
          maxMs: 150_000 + burst * 1_000,
        });
      }),
    );
    const result = merge(results);
    const calls = emulator.calls.filter((c) => c.operation === 'match-v2');
    const accepted = calls.filter((c) => c.httpStatus === 200);
    const refused = calls.length - accepted.length;
    const achieved = callsPerSecond(accepted);
    const answered = result.statuses[200] ?? 0;
    note(
      `${accepted.length} accepted calls in ${fmt(spanMs(accepted) / 1000, 's')}, ${refused} refused, ` +
        `uploads: ${describeStatuses(result)}, burst done in ${fmt(result.elapsedMs / 1000, 's')}`,
    );
    note(
      `busiest second: ${busiestSecond(calls)} accepted calls; tightest window: ${PER_SECOND + 1} ` +
        `consecutive calls within ${tightestWindowMs(calls, PER_SECOND)} ms (refused below 1000 ms)`,
    );
    return {
      ...row,
      measured: `${achieved.toFixed(3)} calls/s, ${refused} × 429, ${answered}/${burst} × 200`,
      ratio: achieved / PER_SECOND,
      met:
        achieved / PER_SECOND >= RATE_GOAL &&
        refused === 0 &&
        answered === burst &&
        result.errors === 0,
    };
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    await Promise.all(servers.map((server) => server.close()));
    await emulator.close();
    await redis.close();
  }
}

/** The three load results as one (the slowest elapsed time). */
function merge(results: readonly LoadResult[]): LoadResult {
  const statuses: Record<number, number> = {};
  for (const r of results) {
    for (const [status, count] of Object.entries(r.statuses)) {
      statuses[Number(status)] = (statuses[Number(status)] ?? 0) + count;
    }
  }
  const elapsedMs = Math.max(...results.map((r) => r.elapsedMs));
  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  return {
    completed,
    elapsedMs,
    perSecond: (completed / elapsedMs) * 1000,
    latenciesMs: results.flatMap((r) => r.latenciesMs),
    statuses,
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    clientCpu: results.reduce((sum, r) => sum + r.clientCpu, 0),
  };
}
