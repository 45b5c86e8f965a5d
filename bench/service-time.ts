import type { Pool } from 'undici';
import type { Benchmark } from './lib/benchmark.js';
import { jpegOfSize } from './lib/images.js';
import { warmJit } from './lib/jit-warmup.js';
import { loadClient } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { ORDERS_CYCLE, orderAt } from './lib/orders.js';
import { startServer } from './lib/server-process.js';
import { selectSizes, type UploadSize } from './lib/sizes.js';
import { median, medianInterval } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Service time per request, the routes compared request by request: one keep-alive client sends
 * one upload to each route in turn, so whatever else the machine does in a given second lands on
 * all of them alike. The order changes every step through the balanced orders of
 * `lib/orders.ts`: a request pays for some of what the one before it left, and with the order
 * only rotated each route always came after the same one. Per pair of routes, the ratio of their
 * service times within each step (the nearest pairing there is), and the median of those ratios
 * with its 95% interval. The resolution that the throughput rows lack on a shared 2-core machine
 * (their per-set ratios spread ±10%): the control row, the `minimum` route against a copy of
 * itself, shows it.
 *
 * One request at a time measures the work per request and its event-loop hops, not contention:
 * it complements the throughput rows (16 clients), it does not replace them.
 */
const ROUTES = ['/minimum', '/minimum-copy', '/required', '/guarded'] as const;
type Path = (typeof ROUTES)[number];

/**
 * Warm-up rounds (after the JIT warm-up of `lib/jit-warmup.ts`: this size's own buffers and heap)
 * and measured steps per size: whole cycles of the orders (a step sends one request to every
 * route).
 */
const PLAN: Readonly<Record<string, { warmup: number; steps: number }>> = {
  '50 KiB': { warmup: 300, steps: 160 * ORDERS_CYCLE },
  '500 KiB': { warmup: 60, steps: 72 * ORDERS_CYCLE },
  '3.5 MiB': { warmup: 10, steps: 24 * ORDERS_CYCLE },
};

/** The comparisons printed: [measured, baseline], each as a ratio of service times. */
const PAIRS: ReadonlyArray<readonly [Path, Path, string]> = [
  ['/minimum-copy', '/minimum', 'control: minimum vs a copy of itself (the resolution)'],
  ['/required', '/minimum', 'required vs minimum'],
  ['/guarded', '/required', 'guarded vs required'],
  ['/guarded', '/minimum', 'guarded vs minimum'],
];

export const serviceTime: Benchmark = {
  name: 'service-time',
  about:
    'service time per request, minimum vs its copy vs required vs guarded, one client alternating the routes request by request',
  async run() {
    const server = await startServer({ kind: 'instant' });
    const pool = loadClient(server.origin, 1);
    const rows: Row[] = [];
    try {
      await warmJit(server.origin, ROUTES);
      for (const size of selectSizes(process.env.BENCH_SIZES)) {
        rows.push(...(await measureSize(pool, size)));
      }
    } finally {
      await pool.close();
      await server.close();
    }
    return rows;
  },
};

async function measureSize(pool: Pool, size: UploadSize): Promise<Row[]> {
  const plan = PLAN[size.label] ?? { warmup: 20, steps: 24 * ORDERS_CYCLE };
  const upload = fileUpload(jpegOfSize(size.width, size.height), 'photo.jpg');
  for (let i = 0; i < plan.warmup; i++) for (const path of ROUTES) await timed(pool, path, upload);

  // Each route's service times, step by step: index i of every list is the same step.
  const times = Object.fromEntries(ROUTES.map((p) => [p, [] as number[]])) as Record<
    Path,
    number[]
  >;
  for (let step = 0; step < plan.steps; step++) {
    for (const path of orderAt(ROUTES, step)) times[path].push(await timed(pool, path, upload));
  }
  note(
    `${size.label}: median service time µs, ` +
      ROUTES.map((p) => `${p.slice(1)} ${Math.round(median(times[p]) * 1000)}`).join(', ') +
      ` (${plan.steps} requests per route)`,
  );
  return PAIRS.map(([measured, baseline, label]) => {
    const ratios = times[measured].map((value, i) => value / (times[baseline][i] as number));
    return {
      benchmark: `service time, ${label}, ${size.label} (c=1, paired)`,
      measured: fmt(median(times[measured]), 'ms'),
      baseline: fmt(median(times[baseline]), 'ms'),
      ratio: median(ratios),
      interval: medianInterval(ratios),
      goal: '— (info)',
    };
  });
}

/** One upload to `path`, answered 200; its service time as the client sees it, in ms. */
async function timed(pool: Pool, path: Path, upload: Upload): Promise<number> {
  const sent = performance.now();
  const response = await pool.request({
    path,
    method: 'POST',
    headers: { 'content-type': upload.contentType },
    body: upload.body,
  });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${path} answered ${response.statusCode}`);
  return performance.now() - sent;
}
