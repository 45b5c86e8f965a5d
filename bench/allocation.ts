import type { Benchmark } from './lib/benchmark.js';
import type { Allocator } from './lib/heap-sampler.js';
import { jpegOfSize } from './lib/images.js';
import { warmJit } from './lib/jit-warmup.js';
import { describeStatuses, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { orderAt } from './lib/orders.js';
import { type ServerProcess, startServer } from './lib/server-process.js';
import { selectSizes, UPLOAD_SIZES, type UploadSize } from './lib/sizes.js';
import { median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Bytes allocated on the JavaScript heap per request, route against route (issue 16: garbage is
 * work: each byte is written once, and a young generation filled sooner is collected sooner).
 * V8's sampling heap profiler runs in the server over one route's window of requests, counting
 * collected objects too (`lib/heap-sampler.ts`); four passes over the routes in the balanced
 * orders of `lib/orders.ts`, medians compared. Like instruction counts, the figure does not move
 * with the machine's load (two runs agree within about 0.1%). `Buffer` contents (the upload's bytes)
 * live outside the heap and are not in it; their `Buffer` objects are.
 */
const ROUTES = ['/bare', '/minimum', '/required', '/guarded'] as const;
type Path = (typeof ROUTES)[number];
/** Passes over the routes: four, so each route takes each position in the orders once. */
const PASSES = 4;
const CONCURRENCY = 4;
/**
 * Requests per window: enough samples (one per 128 bytes on average) that a window's estimate is
 * good to well under 1% (1,500 × 55 KiB is about 660,000 samples), in about a second per window.
 */
const WINDOW: Readonly<Record<string, number>> = { '50 KiB': 1500, '500 KiB': 400, '3.5 MiB': 80 };

export const allocation: Benchmark = {
  name: 'allocation',
  about:
    'JavaScript heap bytes allocated per request (V8 sampling heap profiler), bare vs minimum vs required vs guarded',
  async run() {
    const server = await startServer({ kind: 'instant' });
    try {
      await warmJit(server.origin, ROUTES);
      const rows: Row[] = [];
      // 50 KiB unless `BENCH_SIZES` says otherwise: larger uploads arrive in a number of chunks
      // that varies from request to request, and busboy and the streams allocate per chunk.
      for (const size of selectSizes(process.env.BENCH_SIZES, UPLOAD_SIZES.slice(0, 1))) {
        rows.push(...(await measureSize(server, size)));
      }
      return rows;
    } finally {
      await server.close();
    }
  },
};

async function measureSize(server: ServerProcess, size: UploadSize): Promise<Row[]> {
  const uploads = [fileUpload(jpegOfSize(size.width, size.height), 'photo.jpg')];
  const requests = WINDOW[size.label] ?? 80;
  const pool = loadClient(server.origin, CONCURRENCY);
  const perRequest = Object.fromEntries(ROUTES.map((p) => [p, [] as number[]])) as Record<
    Path,
    number[]
  >;
  let guardedTop: Allocator[] = [];
  try {
    for (const path of ROUTES) {
      await runLoad(pool, { path, uploads, concurrency: CONCURRENCY, requests, maxMs: 60_000 });
    }
    for (let pass = 0; pass < PASSES; pass++) {
      for (const path of orderAt(ROUTES, pass)) {
        await server.startHeapSampling();
        const result = await runLoad(pool, {
          path,
          uploads,
          concurrency: CONCURRENCY,
          requests,
          maxMs: 120_000,
        });
        const sample = await server.stopHeapSampling();
        const answered = result.statuses[200] ?? 0;
        if (answered !== requests) {
          throw new Error(`${path}: ${describeStatuses(result)} of ${requests}`);
        }
        perRequest[path].push(sample.bytes / answered);
        if (path === '/guarded') {
          guardedTop = sample.top.map((a) => ({ site: a.site, bytes: a.bytes / answered }));
        }
      }
    }
  } finally {
    await pool.close();
  }
  const [bare, minimum, required, guarded] = ROUTES.map((p) => median(perRequest[p])) as [
    number,
    number,
    number,
    number,
  ];
  note(
    `${size.label}: heap bytes per request, ` +
      ROUTES.map((p) => `${p.slice(1)} ${perRequest[p].map((b) => Math.round(b)).join('/')}`).join(
        ', ',
      ),
  );
  note(
    `${size.label}: the guarded route's top allocating functions in its last window (optimized callers include what they inlined):`,
  );
  for (const { site, bytes } of guardedTop) {
    note(`  ${kb(bytes).padStart(8)}  ${site}`);
  }
  return [
    {
      benchmark: `heap allocated per request, guarded vs minimum, ${size.label}`,
      measured: `${kb(guarded)} (${signedKb(guarded - minimum)})`,
      baseline: `${kb(minimum)} (bare ${kb(bare)})`,
      ratio: guarded / minimum,
      goal: '— (info)',
    },
    {
      benchmark: `heap allocated per request, guarded vs required, ${size.label}`,
      measured: `${kb(guarded)} (${signedKb(guarded - required)})`,
      baseline: kb(required),
      ratio: guarded / required,
      goal: '— (info)',
    },
  ];
}

const kb = (bytes: number) => fmt(bytes / 1024, 'KiB');
const signedKb = (bytes: number) => `${bytes < 0 ? '−' : '+'}${kb(Math.abs(bytes))}`;
