import { limitsSchema } from '../src/options.js';
import type { Benchmark } from './lib/benchmark.js';
import { png } from './lib/fixtures.js';
import { describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { MIB, median } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * Peak RSS of the server process while `CONCURRENCY` uploads of exactly `maxFileSize` bytes
 * arrive at once (matcher answering at once, no cache), over its RSS after warm-up and full GCs.
 * Each server runs in a fresh process (`lib/server-child.ts`) and is sampled every 10 ms from a
 * worker thread. The peak depends on how many bodies happen to be buffered at the same moment, so
 * each route is measured in `RUNS` fresh processes, alternating: the worst guarded figure is held
 * against the bound the limits imply, and the medians of the guarded and a bare `multer().any()`
 * route are compared.
 */
const CONCURRENCY = 200;
const RUNS = 3;
const WARMUP_UPLOADS = 10;
const FILES_PER_REQUEST = 1;
/**
 * multer's buffer of each file, plus one transient copy (its concatenation or our validation
 * copy), plus the body `app.use(guard)` rebuilds for the host's own parsers (issue 10: part
 * headers around the same file buffers). The bench's `guard.any()` route is the route's own
 * parser and rebuilds nothing, so the bound is generous for it.
 */
const COPIES = 3;

interface Peak {
  baseline: number;
  peak: number;
  result: LoadResult;
}

async function measure(path: '/bare' | '/guarded', upload: Upload): Promise<Peak> {
  const server = await startServer({ kind: 'instant' });
  const pool = loadClient(server.origin, CONCURRENCY);
  try {
    const spec = { path, uploads: [upload], maxMs: 120_000 };
    await runLoad(pool, { ...spec, concurrency: 2, requests: WARMUP_UPLOADS });
    const baseline = await server.startSampling();
    const result = await runLoad(pool, {
      ...spec,
      concurrency: CONCURRENCY,
      requests: CONCURRENCY,
    });
    const { peak } = await server.stopSampling();
    note(
      `${path}: baseline ${fmt(baseline / MIB, 'MiB')}, peak ${fmt(peak / MIB, 'MiB')}, ` +
        `Δ ${fmt((peak - baseline) / MIB, 'MiB')}, burst ${fmt(result.elapsedMs / 1000, 's')}, ${describeStatuses(result)}`,
    );
    return { baseline, peak, result };
  } finally {
    await pool.close();
    await server.close();
  }
}

export const memory: Benchmark = {
  name: 'memory',
  about: `peak RSS of the server under ${CONCURRENCY} concurrent uploads of maxFileSize bytes, ${RUNS} fresh processes per route (guarded, bare multer, alternating)`,
  async run() {
    const { maxFileSize, maxBufferedBytes } = limitsSchema.parse({});
    const image = png(200, 200, 7, maxFileSize);
    const upload = fileUpload(image, 'large.png');
    note(`upload: a ${image.length}-byte PNG (= maxFileSize), ${CONCURRENCY} at once`);
    const runs: Record<'/bare' | '/guarded', Peak[]> = { '/bare': [], '/guarded': [] };
    for (let run = 0; run < RUNS; run++) {
      for (const path of ['/guarded', '/bare'] as const)
        runs[path].push(await measure(path, upload));
    }
    const deltas = (path: '/bare' | '/guarded') => runs[path].map((r) => r.peak - r.baseline);
    const worstGuarded = Math.max(...deltas('/guarded'));
    const guardedDelta = median(deltas('/guarded'));
    const bareDelta = median(deltas('/bare'));
    // `limits.maxBufferedBytes` counts the bytes of uploads as they arrive: the upload whose bytes
    // take the total past it is refused mid-body (503 SCAN_BUSY), its buffers dropped, so what the
    // guard holds at once is the burst or the budget, whichever is smaller.
    const inFlight = Math.min(CONCURRENCY * FILES_PER_REQUEST * maxFileSize, maxBufferedBytes);
    const bound = inFlight * COPIES;
    const ok = runs['/guarded'].every((r) => answeredOrBusy(r.result));
    note(
      `guarded Δ: median ${fmt(guardedDelta / MIB, 'MiB')}, worst ${fmt(worstGuarded / MIB, 'MiB')} ` +
        `(${(worstGuarded / inFlight).toFixed(2)} × the ${fmt(inFlight / MIB, 'MiB')} of file bytes buffered at most: the burst or maxBufferedBytes)`,
    );
    return [
      {
        benchmark: `peak RSS Δ, ${CONCURRENCY} × 4 MiB uploads, guarded (worst of ${RUNS})`,
        measured: fmt(worstGuarded / MIB, 'MiB'),
        baseline: `${fmt(bound / MIB, 'MiB')} bound (min(${CONCURRENCY}×4 MiB, maxBufferedBytes)×${COPIES})`,
        ratio: worstGuarded / bound,
        goal: '≤ 1.00',
        met: worstGuarded <= bound && ok,
      },
      {
        benchmark: `peak RSS Δ, ${CONCURRENCY} × 4 MiB uploads, guarded vs bare (median of ${RUNS})`,
        measured: fmt(guardedDelta / MIB, 'MiB'),
        baseline: `${fmt(bareDelta / MIB, 'MiB')} bare multer`,
        ratio: guardedDelta / bareDelta,
        goal: '— (info)',
      },
    ];
  },
};

/**
 * Every request of the burst answered: 200, or 503 where its bytes arrived while the process's
 * upload budget was full (more at once than `maxBufferedBytes` allows), and at least one passed.
 */
function answeredOrBusy(result: LoadResult): boolean {
  const passed = result.statuses[200] ?? 0;
  const busy = result.statuses[503] ?? 0;
  return (
    result.errors === 0 &&
    passed > 0 &&
    passed + busy === CONCURRENCY &&
    result.completed === CONCURRENCY
  );
}
