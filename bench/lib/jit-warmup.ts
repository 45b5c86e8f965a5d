import { intFromEnv } from './env.js';
import { jpegOfSize } from './images.js';
import { allAnswered, describeStatuses, loadClient, runLoad } from './load.js';
import { fileUpload } from './multipart.js';
import { UPLOAD_SIZES } from './sizes.js';
import { note } from './table.js';

/**
 * Requests per route that bring the server's JavaScript to V8's optimizing tier before anything
 * is measured, whatever the upload size measured next (compilation counts calls, not bytes).
 *
 * V8 optimizes a function only after it ran often enough, and a route made of many functions
 * gets there later than one hand-written function: with `--trace-opt` (1 December, one client,
 * the three routes in turn), `required` was optimized within its first 500 requests, while the
 * guard's functions reached the optimizing tier up to its 5,000th (`validateFile` after 1,750,
 * `filesOf` after 5,000). The guarded route's paired service time against
 * `required` was 1.079–1.086 after 300 warm-up steps, 1.048–1.049 after 3,000 and 1.033–1.049
 * after 10,000. A server runs the steady state; the transient is its first few thousand requests.
 * `BENCH_JIT_WARMUP=0` measures it; `BENCH_JIT_WARMUP=N` sets it for every bench.
 */
export function jitWarmupRequests(fallback = 8_000): number {
  return intFromEnv('BENCH_JIT_WARMUP', fallback, 0);
}

/** The warm-up's rounds: the routes take turns, so each one's garbage and caches touch them all. */
const ROUNDS = 8;
const CONCURRENCY = 4;

/**
 * Sends `requests` uploads of the smallest bench JPEG to each route, the routes in turn, over
 * its own connections.
 */
export async function warmJit(
  origin: string,
  routes: readonly string[],
  requests = jitWarmupRequests(),
): Promise<void> {
  if (requests === 0) return;
  const size = UPLOAD_SIZES[0] as (typeof UPLOAD_SIZES)[number];
  const uploads = [fileUpload(jpegOfSize(size.width, size.height), 'warm-up.jpg')];
  const pool = loadClient(origin, CONCURRENCY);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // `requests` in all: the remainder of the division goes to the first rounds.
      const perRound = Math.floor(requests / ROUNDS) + (round < requests % ROUNDS ? 1 : 0);
      if (perRound === 0) continue;
      for (const path of routes) {
        const result = await runLoad(pool, {
          path,
          uploads,
          concurrency: CONCURRENCY,
          requests: perRound,
          maxMs: 3_600_000,
        });
        // Not a measurement: shown, not fatal (under valgrind a request can outlast a socket).
        if (!allAnswered(result)) note(`JIT warm-up of ${path}: ${describeStatuses(result)}`);
      }
    }
  } finally {
    await pool.close();
  }
}
