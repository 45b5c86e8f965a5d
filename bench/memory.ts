import { limitsSchema } from '../src/options.js';
import type { Benchmark } from './lib/benchmark.js';
import { png } from './lib/fixtures.js';
import { allAnswered, describeStatuses, type LoadResult, loadClient, runLoad } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { MIB } from './lib/stats.js';
import { fmt, note } from './lib/table.js';

/**
 * Peak RSS of the server process while `CONCURRENCY` uploads of exactly `maxFileSize` bytes
 * arrive at once (matcher answering at once, no cache), over its RSS after warm-up and full GCs.
 * Each server runs in a fresh process (`lib/server-child.ts`) and is sampled every 10 ms from a
 * worker thread. The guarded route is compared with the bound the limits imply, and with a bare
 * `multer().any()` route measured the same way in another fresh process.
 */
const CONCURRENCY = 200;
const WARMUP_UPLOADS = 10;
const FILES_PER_REQUEST = 1;
/** multer's buffer of each file, plus one transient copy (its concatenation or our validation copy). */
const COPIES = 2;

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
  about: `peak RSS of the server under ${CONCURRENCY} concurrent uploads of maxFileSize bytes (guarded, then bare multer)`,
  async run() {
    const { maxFileSize } = limitsSchema.parse({});
    const image = png(200, 200, 7, maxFileSize);
    const upload = fileUpload(image, 'large.png');
    note(`upload: a ${image.length}-byte PNG (= maxFileSize), ${CONCURRENCY} at once`);
    const guarded = await measure('/guarded', upload);
    const bare = await measure('/bare', upload);
    const bound = CONCURRENCY * FILES_PER_REQUEST * maxFileSize * COPIES;
    const guardedDelta = guarded.peak - guarded.baseline;
    const bareDelta = bare.peak - bare.baseline;
    const ok = allAnswered(guarded.result) && guarded.result.completed === CONCURRENCY;
    return [
      {
        benchmark: `peak RSS Δ, ${CONCURRENCY} × 4 MiB uploads, guarded`,
        measured: fmt(guardedDelta / MIB, 'MiB'),
        baseline: `${fmt(bound / MIB, 'MiB')} bound (${CONCURRENCY}×4 MiB×${COPIES})`,
        ratio: guardedDelta / bound,
        goal: '≤ 1.00',
        met: guardedDelta <= bound && ok,
      },
      {
        benchmark: `peak RSS Δ, ${CONCURRENCY} × 4 MiB uploads, guarded vs bare`,
        measured: fmt(guardedDelta / MIB, 'MiB'),
        baseline: `${fmt(bareDelta / MIB, 'MiB')} bare multer`,
        ratio: guardedDelta / bareDelta,
        goal: '— (info)',
      },
    ];
  },
};
