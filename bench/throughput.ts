import type { Benchmark } from './lib/benchmark.js';
import { jpeg50k } from './lib/images.js';
import { allAnswered, describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { median, percentile } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * Guarded route (`guard.any()`, matcher answering at once, no cache) against a bare
 * `multer().any()` route in the same server process, under the same closed-loop load: rounds
 * alternate between the two routes so that drift (CPU frequency, GC) affects both alike.
 */
const CONCURRENCY = 16;
const WARMUP_REQUESTS = 600;
const ROUNDS = 3;
const REQUESTS_PER_ROUND = 3_000;
const ROUND_MAX_MS = 8_000;
const THROUGHPUT_GOAL = 0.9;

export const throughput: Benchmark = {
  name: 'throughput',
  about: `guarded vs bare multer route: ${CONCURRENCY} keep-alive clients, ~50 KB JPEG, ${ROUNDS} rounds of ${REQUESTS_PER_ROUND} requests per route`,
  async run() {
    const image = jpeg50k();
    const uploads = [fileUpload(image, 'photo.jpg')];
    const server = await startServer({ kind: 'instant' });
    const pool = loadClient(server.origin, CONCURRENCY);
    try {
      const load = (path: string, requests: number) =>
        runLoad(pool, { path, uploads, concurrency: CONCURRENCY, requests, maxMs: ROUND_MAX_MS });
      for (const path of ['/bare', '/guarded']) await load(path, WARMUP_REQUESTS);

      const runs: Record<'/bare' | '/guarded', LoadResult[]> = { '/bare': [], '/guarded': [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const path of ['/bare', '/guarded'] as const) {
          const result = await load(path, REQUESTS_PER_ROUND);
          runs[path].push(result);
          note(
            `round ${round + 1} ${path}: ${fmt(result.perSecond, 'req/s')}, p99 ${fmt(percentile(result.latenciesMs, 99), 'ms')}, ` +
              `client CPU ${fmt(result.clientCpu * 100, '%')}, ${describeStatuses(result)}`,
          );
        }
      }
      const summary = (path: '/bare' | '/guarded') => ({
        perSecond: median(runs[path].map((r) => r.perSecond)),
        p99: percentile(
          runs[path].flatMap((r) => r.latenciesMs),
          99,
        ),
        ok: runs[path].every((r) => allAnswered(r)),
      });
      const bare = summary('/bare');
      const guarded = summary('/guarded');
      note(
        `upload ${fmt(image.length / 1024, 'KiB')} JPEG; all answered 200: bare ${bare.ok}, guarded ${guarded.ok}`,
      );
      const ratio = guarded.perSecond / bare.perSecond;
      return [
        {
          benchmark: `throughput, guarded vs bare multer (c=${CONCURRENCY})`,
          measured: fmt(guarded.perSecond, 'req/s'),
          baseline: fmt(bare.perSecond, 'req/s'),
          ratio,
          goal: `≥ ${THROUGHPUT_GOAL.toFixed(2)}`,
          met: ratio >= THROUGHPUT_GOAL && bare.ok && guarded.ok,
        },
        {
          benchmark: `p99 latency, guarded vs bare multer (c=${CONCURRENCY})`,
          measured: fmt(guarded.p99, 'ms'),
          baseline: fmt(bare.p99, 'ms'),
          ratio: guarded.p99 / bare.p99,
          goal: '— (info)',
        },
      ];
    } finally {
      await pool.close();
      await server.close();
    }
  },
};
