import type { BenchSettings } from './lib/benchmark.js';
import type { Row } from './lib/table.js';

/**
 * Extension point: the rate row for three guard processes sharing one Redis-backed limiter
 * (`rateLimit: { perSecond: 5, redis }`). To implement it, start three server processes (see
 * `lib/server-process.ts`; `GuardSpec` will need a `redis` URL) against one emulator with its
 * default 5/s limit, split a burst of `settings.burst` distinct uploads across them, and report,
 * like `rate.ts` does from `emulator.calls`: the achieved calls/s as a fraction of 5 (goal
 * ≥ 0.98) and the 429s (goal 0). Until the Redis limiter exists this prints "n/a".
 */
export async function redisRateRow(settings: BenchSettings): Promise<Row> {
  return {
    benchmark: `PhotoDNA calls/s, 3 processes sharing Redis, burst ${settings.burst}`,
    measured: 'n/a (needs Redis limiter)',
    baseline: '5 calls/s configured',
    ratio: undefined,
    goal: '≥ 0.98, 0 × 429',
  };
}
