/**
 * Full (mark-compact) GCs per 1,000 requests, route against route, at one upload size: a focused
 * version of the throughput benchmark's GC row, with more requests (issue 16). Not part of
 * `npm run bench`; run it directly:
 *
 *   npx tsx bench/gc.ts                        # 500 KiB, 6 rotating rounds of 600 per route
 *   BENCH_GC_SIZE=3.5m BENCH_GC_REQUESTS=150 npx tsx bench/gc.ts
 *   BENCH_GC_NODE_ARGS='--trace-gc' npx tsx bench/gc.ts   # the server's GC trace on stdout
 *   BENCH_GC_FRESH=1 BENCH_GC_ROUTES=/minimum,/guarded npx tsx bench/gc.ts
 *
 * Every round rotates the order of the routes, and a full GC runs before each round, so no route
 * is charged for another's garbage. With `BENCH_GC_FRESH=1` each round of each route runs in its
 * own server process: V8 can settle into running a full GC every ~200 ms whatever the route once
 * its heap limit shrinks, so in one shared process a route's count depends on the routes before
 * it; fresh processes show what each route does alone. The GC counts do not depend on the machine's load the way
 * req/s do: they follow what each request allocates and how long it keeps it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { jpegOfSize } from './lib/images.js';
import { loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { type ServerProcess, startServer } from './lib/server-process.js';

const SIZES = {
  '50k': { width: 480, height: 320 },
  '500k': { width: 1420, height: 1065 },
  '3.5m': { width: 3800, height: 2850 },
} as const;

const sizeName = (process.env.BENCH_GC_SIZE ?? '500k') as keyof typeof SIZES;
const size = SIZES[sizeName];
if (!size) throw new RangeError(`BENCH_GC_SIZE: one of ${Object.keys(SIZES).join(', ')}`);
const requests = Number(process.env.BENCH_GC_REQUESTS ?? 600);
const rounds = Number(process.env.BENCH_GC_ROUNDS ?? 6);
const concurrency = Number(process.env.BENCH_GC_CONCURRENCY ?? 16);
const routes = (process.env.BENCH_GC_ROUTES ?? '/bare,/minimum,/guarded').split(',');
const nodeArgs = (process.env.BENCH_GC_NODE_ARGS ?? '').split(' ').filter(Boolean);

const image = jpegOfSize(size.width, size.height);
const uploads = [fileUpload(image, 'photo.jpg')];
const fresh = process.env.BENCH_GC_FRESH === '1';
const totals = new Map(
  routes.map((r) => [r, { requests: 0, majorGcs: 0, micros: 0, rounds: [] as number[] }]),
);

/** Warms every route of `server` (or only `only`) with 100 requests each. */
async function warm(pool: ReturnType<typeof loadClient>, only?: string): Promise<void> {
  for (const path of only ? [only] : routes) {
    await runLoad(pool, { path, uploads, concurrency, requests: 100, maxMs: 60_000 });
  }
}

/** One round of `path` on `server`, added to the route's totals. */
async function measure(server: ServerProcess, pool: ReturnType<typeof loadClient>, path: string) {
  await server.collect();
  await delay(100); // the collection's own GC entry is counted before the round starts
  const before = await server.usage();
  const load = await runLoad(pool, { path, uploads, concurrency, requests, maxMs: 600_000 });
  const after = await server.usage();
  if (load.errors > 0 || load.statuses[200] !== load.completed) {
    throw new Error(`${path}: not every request answered 200 (${JSON.stringify(load.statuses)})`);
  }
  const total = totals.get(path) as NonNullable<ReturnType<typeof totals.get>>;
  total.requests += load.completed;
  total.majorGcs += after.majorGcs - before.majorGcs;
  total.micros += after.micros - before.micros;
  total.rounds.push(after.majorGcs - before.majorGcs);
}

async function withServer(
  run: (server: ServerProcess, pool: ReturnType<typeof loadClient>) => Promise<void>,
) {
  const server = await startServer({ kind: 'instant' }, { nodeArgs });
  const pool = loadClient(server.origin, concurrency);
  try {
    await run(server, pool);
  } finally {
    await pool.close();
    await server.close();
  }
}

if (fresh) {
  // One server process per round and route: no route runs in a heap another one shaped.
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < routes.length; i++) {
      const path = routes[(i + round) % routes.length] as string;
      await withServer(async (server, pool) => {
        await warm(pool, path);
        await measure(server, pool, path);
      });
    }
  }
} else {
  await withServer(async (server, pool) => {
    await warm(pool);
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < routes.length; i++) {
        await measure(server, pool, routes[(i + round) % routes.length] as string);
      }
    }
  });
}
console.log(
  `${sizeName} JPEG (${(image.length / 1024).toFixed(1)} KiB), c=${concurrency}, ${rounds} rounds of ${requests}${fresh ? ', a fresh server per round' : ''}`,
);
for (const [path, t] of totals) {
  console.log(
    `${path.padEnd(10)} mark-compacts per 1,000: ${((t.majorGcs / t.requests) * 1000).toFixed(1).padStart(6)}` +
      `  (${t.majorGcs} in ${t.requests})  server CPU ${(t.micros / t.requests).toFixed(0)} µs/req; per round: ${t.rounds.join(' ')}`,
  );
}
