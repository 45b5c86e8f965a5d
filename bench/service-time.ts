import type { Pool } from 'undici';
import type { Benchmark } from './lib/benchmark.js';
import { jpegOfSize } from './lib/images.js';
import { loadClient } from './lib/load.js';
import { fileUpload, type Upload } from './lib/multipart.js';
import { startServer } from './lib/server-process.js';
import { selectSizes, type UploadSize } from './lib/sizes.js';
import { median, medianInterval } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

/**
 * Service time per request, the routes compared request by request: one keep-alive client sends
 * one upload to each route in turn (the order rotating every step), so whatever else the machine
 * does in a given second lands on all of them alike. Per block of steps, each route's median;
 * per pair of routes, the median of the per-block ratios with its 95% interval. The resolution
 * that the throughput rows lack on a shared 2-core machine (their per-set ratios spread ±10%):
 * here the control row, the `minimum` route against a copy of itself, shows it (about ±1%).
 *
 * One request at a time measures the work per request and its event-loop hops, not contention:
 * it complements the throughput rows (16 clients), it does not replace them.
 */
const ROUTES = ['/minimum', '/minimum-copy', '/required', '/guarded'] as const;
type Path = (typeof ROUTES)[number];

/** Steps per block and blocks, per size (a step sends one request to every route). */
const PLAN: Readonly<Record<string, { warmup: number; steps: number; blocks: number }>> = {
  '50 KiB': { warmup: 300, steps: 50, blocks: 40 },
  '500 KiB': { warmup: 60, steps: 20, blocks: 40 },
  '3.5 MiB': { warmup: 10, steps: 8, blocks: 30 },
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
  const plan = PLAN[size.label] ?? { warmup: 20, steps: 10, blocks: 30 };
  const upload = fileUpload(jpegOfSize(size.width, size.height), 'photo.jpg');
  for (let i = 0; i < plan.warmup; i++) for (const path of ROUTES) await timed(pool, path, upload);

  const blockMedians = Object.fromEntries(ROUTES.map((p) => [p, [] as number[]])) as Record<
    Path,
    number[]
  >;
  const all = Object.fromEntries(ROUTES.map((p) => [p, [] as number[]])) as Record<Path, number[]>;
  for (let block = 0; block < plan.blocks; block++) {
    const times = Object.fromEntries(ROUTES.map((p) => [p, [] as number[]])) as Record<
      Path,
      number[]
    >;
    for (let step = 0; step < plan.steps; step++) {
      const shift = block * plan.steps + step;
      for (let i = 0; i < ROUTES.length; i++) {
        const path = ROUTES[(i + shift) % ROUTES.length] as Path;
        times[path].push(await timed(pool, path, upload));
      }
    }
    for (const path of ROUTES) {
      blockMedians[path].push(median(times[path]));
      all[path].push(...times[path]);
    }
  }
  note(
    `${size.label}: median service time µs, ` +
      ROUTES.map((p) => `${p.slice(1)} ${Math.round(median(all[p]) * 1000)}`).join(', ') +
      ` (${plan.blocks} blocks of ${plan.steps} requests per route)`,
  );
  return PAIRS.map(([measured, baseline, label]) => {
    const ratios = blockMedians[measured].map(
      (value, i) => value / (blockMedians[baseline][i] as number),
    );
    return {
      benchmark: `service time, ${label}, ${size.label} (c=1, paired)`,
      measured: fmt(median(all[measured]), 'ms'),
      baseline: fmt(median(all[baseline]), 'ms'),
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
