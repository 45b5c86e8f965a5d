import { startEmulator } from '../src/emulator/index.js';
import type { EmulatorCall } from '../src/emulator/types.js';
import type { Benchmark } from './lib/benchmark.js';
import { png } from './lib/fixtures.js';
import { allAnswered, describeStatuses, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { fmt, note } from './lib/table.js';
import { redisRateRow } from './rate-redis.js';

/**
 * A burst of distinct uploads fired at once at a guard whose PhotoDNA client talks to the
 * emulator (its default rate limit on: 5/s for v2). The emulator's call log says how fast calls
 * actually arrived (first to last accepted call) and whether any was refused with 429.
 */
const PER_SECOND = 5;
const RATE_GOAL = 0.98;

export const rate: Benchmark = {
  name: 'rate',
  about: `burst of distinct 200x200 PNG uploads vs the emulator's ${PER_SECOND}/s limit (about burst/${PER_SECOND} s)`,
  async run(settings) {
    const { burst } = settings;
    note(`burst ${burst}: expect about ${Math.ceil(burst / PER_SECOND)} s`);
    const uploads = Array.from({ length: burst }, (_, i) =>
      fileUpload(png(200, 200, 1000 + i), `burst-${i}.png`),
    );
    const emulator = await startEmulator({ port: 0 });
    const server = await startServer({
      kind: 'photodna',
      baseUrl: emulator.url,
      cache: false,
      perSecond: PER_SECOND,
      maxQueue: 1000,
      scanTimeoutMs: 120_000,
    });
    const pool = loadClient(server.origin, burst);
    try {
      const result = await runLoad(pool, {
        path: '/guarded',
        uploads,
        concurrency: burst,
        requests: burst,
        maxMs: 150_000,
      });
      const calls = emulator.calls.filter((c) => c.operation === 'match-v2');
      const accepted = calls.filter((c) => c.httpStatus === 200);
      const refused = calls.filter((c) => c.httpStatus === 429).length;
      const achieved = callsPerSecond(accepted);
      const ok = allAnswered(result);
      note(
        `${accepted.length} accepted calls in ${fmt(spanMs(accepted) / 1000, 's')}, ${refused} × 429, ` +
          `uploads: ${describeStatuses(result)}, burst done in ${fmt(result.elapsedMs / 1000, 's')}`,
      );
      note(
        `tightest window: ${PER_SECOND + 1} consecutive calls arrived within ${tightestWindowMs(calls)} ms ` +
          `(the emulator refuses the last one below 1000 ms; the guard aims for 1015)`,
      );
      for (const call of calls.filter((c) => c.httpStatus === 429)) {
        const before = accepted.filter((c) => c.at <= call.at && c.at > call.at - 1000);
        note(
          `429 at +${call.at - (calls[0]?.at ?? 0)} ms: accepted calls in the second before it arrived ` +
            `${before.map((c) => `${c.at - call.at} ms`).join(', ')}`,
        );
      }
      return [
        {
          benchmark: `PhotoDNA calls/s under a burst of ${burst}`,
          measured: `${achieved.toFixed(3)} calls/s`,
          baseline: `${PER_SECOND} calls/s configured`,
          ratio: achieved / PER_SECOND,
          goal: `≥ ${RATE_GOAL}`,
          met: achieved / PER_SECOND >= RATE_GOAL,
        },
        {
          benchmark: `429s from PhotoDNA under a burst of ${burst}`,
          measured: `${refused} × 429`,
          baseline: `${calls.length} calls`,
          ratio: undefined,
          goal: '0',
          met: refused === 0,
        },
        {
          benchmark: `uploads answered 200 under a burst of ${burst}`,
          measured: `${result.statuses[200] ?? 0} / ${burst}`,
          baseline: `${burst} sent`,
          ratio: (result.statuses[200] ?? 0) / burst,
          goal: 'all',
          met: ok && result.completed === burst,
        },
        await redisRateRow(settings),
      ];
    } finally {
      await pool.close();
      await server.close();
      await emulator.close();
    }
  },
};

/**
 * The shortest time from one call to the `PER_SECOND`-th accepted call after it, over the log:
 * below 1000 ms the later one is refused (the emulator's one-second sliding window).
 */
function tightestWindowMs(calls: readonly EmulatorCall[]): number {
  let tightest = Number.POSITIVE_INFINITY;
  const accepted = calls.filter((c) => c.httpStatus === 200);
  for (const call of calls) {
    const earlier = accepted.filter((c) => c.at <= call.at && c !== call);
    const first = earlier[earlier.length - PER_SECOND];
    if (first) tightest = Math.min(tightest, call.at - first.at);
  }
  return tightest;
}

function spanMs(calls: readonly EmulatorCall[]): number {
  const first = calls[0]?.at ?? 0;
  const last = calls[calls.length - 1]?.at ?? 0;
  return last - first;
}

/** Calls per second from the first to the last call: (n - 1) intervals over that span. */
function callsPerSecond(calls: readonly EmulatorCall[]): number {
  const span = spanMs(calls);
  return calls.length < 2 || span <= 0 ? Number.NaN : ((calls.length - 1) / span) * 1000;
}
