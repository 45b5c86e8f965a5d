import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Benchmark } from './lib/benchmark.js';
import { intFromEnv } from './lib/env.js';
import { jpegOfSize } from './lib/images.js';
import { jitWarmupRequests, warmJit } from './lib/jit-warmup.js';
import { describeStatuses, loadClient, runLoad } from './lib/load.js';
import { fileUpload } from './lib/multipart.js';
import { orderAt } from './lib/orders.js';
import { type ServerProcess, startServer } from './lib/server-process.js';
import { selectSizes, UPLOAD_SIZES, type UploadSize } from './lib/sizes.js';
import { median } from './lib/stats.js';
import { fmt, note, type Row } from './lib/table.js';

const run = promisify(execFile);

/**
 * Instructions per request, the one figure the other jobs on a shared machine do not move. The
 * server process runs under `valgrind --tool=callgrind` (every thread of the real JIT, GC and
 * compiler threads included; children not traced). After a warm-up of every route,
 * `callgrind_control --zero` and `--dump` bracket `REQUESTS` requests of one route: the dump's
 * total over the count is that route's instructions per request, reported for the main thread
 * (the request's own work, the steadier figure) and for all threads (V8's compiler and GC helper
 * threads swing by ±0.7M per window when a background compile or a marking cycle lands in it).
 * No GC is forced before a window (one dropped optimized code broadly, see below): with several
 * passes (`BENCH_CALLGRIND_PASSES`) the medians take a mark-compact that lands in one window;
 * with one, it stays in that window's figure. Each pass runs every route once, in the balanced
 * orders of `lib/orders.ts`; the medians are compared.
 */
const CONCURRENCY = 4;
const WARMUP = 100;
/** Requests per route before anything is measured (see `lib/jit-warmup.ts`). */
const CALLGRIND_JIT_WARMUP = 2_000;
/** Requests per window and passes over the routes: `BENCH_CALLGRIND_REQUESTS`, `BENCH_CALLGRIND_PASSES`. */
const REQUESTS = intFromEnv('BENCH_CALLGRIND_REQUESTS', 60, 1);
const PASSES = intFromEnv('BENCH_CALLGRIND_PASSES', 1, 1);
/**
 * `BENCH_CALLGRIND_CACHE=1`: valgrind also simulates the caches and the branch predictor
 * (`--cache-sim=yes --branch-sim=yes`, about twice as slow), and the main thread's misses per
 * request are reported: what an instruction count alone cannot show, the instructions that cost
 * more than one cycle.
 */
const CACHE = process.env.BENCH_CALLGRIND_CACHE === '1';
const ROUTES = ['/bare', '/minimum', '/required', '/guarded'] as const;
type Path = (typeof ROUTES)[number];

/**
 * Requests per window and warm-up scale with the upload's cost (a 500 KiB request costs about
 * 6× a 50 KiB one, a 3.5 MiB one about 60×). `BENCH_CALLGRIND_SIZES="50 KiB,500 KiB"` measures
 * those sizes; 50 KiB alone by default.
 */
const sizes = () => selectSizes(process.env.BENCH_CALLGRIND_SIZES, UPLOAD_SIZES.slice(0, 1));
const SHARE: Readonly<Record<string, number>> = {
  '50 KiB': 1,
  '500 KiB': 1 / 6,
  '3.5 MiB': 1 / 60,
};

export const callgrind: Benchmark = {
  name: 'callgrind',
  about: `instructions per request under callgrind${CACHE ? ' (with cache and branch simulation)' : ''}, bare vs minimum vs required vs guarded, JPEGs of ${process.env.BENCH_CALLGRIND_SIZES || '50 KiB'}, ${PASSES} passes of ${REQUESTS} at 50 KiB (not in the default set: about 4 minutes for 3 passes of 300 at 50 KiB on a quiet machine, the JIT warm-up included; more with 500 KiB)`,
  async run() {
    const out = join(tmpdir(), `photodna-guard-callgrind-${process.pid}`);
    let server: ServerProcess | undefined;
    try {
      server = await startServer(
        { kind: 'instant' },
        {
          callgrindOut: `${out}.%p`,
          callgrindArgs: CACHE ? ['--cache-sim=yes', '--branch-sim=yes'] : [],
        },
      );
      // Under valgrind about 60 requests/s: fewer than the other benches' 8,000 per route, which
      // still brings the guard's functions to the optimizing tier (1 December: guarded and
      // `required` then ran the same main-thread instructions per request within 0.7%).
      await warmJit(server.origin, ROUTES, jitWarmupRequests(CALLGRIND_JIT_WARMUP));
      const dumps = { prefix: `${out}.${server.pid}`, count: 0 };
      const rows: Row[] = [];
      for (const size of sizes()) rows.push(...(await measureSize(server, size, dumps)));
      return rows;
    } finally {
      await server?.close();
      if (server) await removeDumps(`${out}.${server.pid}`);
    }
  },
};

/** A count in thousands, as the rows print it. */
const k = (n: number) => fmt(n / 1000, 'K');

/** Every route's instructions per request at one size: `PASSES` windows each, medians compared. */
async function measureSize(
  server: ServerProcess,
  size: UploadSize,
  dumps: { prefix: string; count: number },
): Promise<Row[]> {
  const uploads = [fileUpload(jpegOfSize(size.width, size.height), 'photo.jpg')];
  const requests = Math.max(3, Math.round(REQUESTS * (SHARE[size.label] ?? 1)));
  const pool = loadClient(server.origin, CONCURRENCY);
  const load = async (path: Path, count: number) => {
    const result = await runLoad(pool, {
      path,
      uploads,
      concurrency: CONCURRENCY,
      requests: count,
      maxMs: 900_000,
    });
    // Under valgrind a request can outlast a socket: counted, shown, and left out of the figure.
    const answered = result.statuses[200] ?? 0;
    if (answered !== count) note(`${path}: ${describeStatuses(result)} of ${count}`);
    return Math.max(1, answered);
  };
  for (const path of ROUTES)
    await load(path, Math.max(10, Math.round(WARMUP * (SHARE[size.label] ?? 1))));
  const figures = perRoute((): number[] => []);
  const mains = perRoute((): number[] => []);
  const gcs = perRoute(() => 0);
  const events = perRoute((): Events[] => []);
  for (let pass = 0; pass < PASSES; pass++) {
    for (const path of orderAt(ROUTES, pass)) {
      // No forced GC before the window: a forced full collection drops optimized code broadly
      // (`--trace-opt`: decide, scanFile, filesOf, Express's and busboy's functions all compiled
      // again after each), so every window began partly unoptimized, a route of many functions
      // more than one of a single function.
      await control(server.pid, '--zero');
      const before = await server.usage();
      const answered = await load(path, requests);
      await control(server.pid, '--dump');
      const after = await server.usage();
      dumps.count++;
      const { main, total, mainEvents } = await totalsOf(`${dumps.prefix}.${dumps.count}`);
      events[path].push(perRequest(mainEvents, answered));
      figures[path].push(total / answered);
      mains[path].push(main / answered);
      gcs[path] += after.majorGcs - before.majorGcs;
      note(
        `${size.label} pass ${pass + 1} ${path}: ${fmt(main / answered / 1000, 'K')} main thread, ` +
          `${fmt(total / answered / 1000, 'K')} all threads, instructions/request`,
      );
    }
  }
  await pool.close();
  const per = (path: Path) => median(figures[path]);
  const [bare, min, , guarded] = ROUTES.map(per) as [number, number, number, number];
  const [bareMain, minMain, requiredMain, guardedMain] = ROUTES.map((p) => median(mains[p])) as [
    number,
    number,
    number,
    number,
  ];
  note(
    `${size.label}: mark-compacts over ${PASSES * requests} requests: ` +
      ROUTES.map((p) => `${p.slice(1)} ${gcs[p]}`).join(', '),
  );
  const rows: Row[] = [
    {
      benchmark: `main-thread instructions per request, guarded vs minimum, ${size.label}`,
      measured: `${k(guardedMain)} (${signed(guardedMain - minMain, k)})`,
      baseline: `${k(minMain)} (bare ${k(bareMain)})`,
      ratio: guardedMain / minMain,
      goal: '— (info)',
    },
    {
      benchmark: `main-thread instructions per request, guarded vs required, ${size.label}`,
      measured: `${k(guardedMain)} (${signed(guardedMain - requiredMain, k)})`,
      baseline: k(requiredMain),
      ratio: guardedMain / requiredMain,
      goal: '— (info)',
    },
    {
      benchmark: `instructions per request, guarded vs minimum, ${size.label} (callgrind)`,
      measured: `${k(guarded)} (${signed(guarded - min, k)})`,
      baseline: k(min),
      ratio: guarded / min,
      goal: '— (info)',
    },
    {
      benchmark: `instructions per request, minimum vs bare, ${size.label} (callgrind)`,
      measured: k(min),
      baseline: k(bare),
      ratio: min / bare,
      goal: '— (info)',
    },
  ];
  if (CACHE) rows.push(...missRows(size.label, events));
  return rows;
}

/**
 * The simulations' rows (`BENCH_CALLGRIND_CACHE=1`), main thread, per request, route medians:
 * L1 instruction and data misses and mispredicted branches, guarded vs required, and KCachegrind's
 * cycle estimate (CEst = Ir + 10 × mispredicts + 10 × L1 misses + 100 × last-level misses) for
 * guarded vs required and vs minimum: a miss costs the cycles of many instructions.
 */
function missRows(label: string, events: Record<Path, Events[]>): Row[] {
  const figure = (path: Path, of: (e: Events) => number) => median(events[path].map(of));
  const l1i = (e: Events) => e.I1mr ?? 0;
  const l1d = (e: Events) => (e.D1mr ?? 0) + (e.D1mw ?? 0);
  const mispredicts = (e: Events) => (e.Bcm ?? 0) + (e.Bim ?? 0);
  const lastLevel = (e: Events) => (e.ILmr ?? 0) + (e.DLmr ?? 0) + (e.DLmw ?? 0);
  const cycles = (e: Events) =>
    (e.Ir ?? 0) + 10 * mispredicts(e) + 10 * (l1i(e) + l1d(e)) + 100 * lastLevel(e);
  const row = (what: string, of: (e: Events) => number, baseline: Path): Row => {
    const guarded = figure('/guarded', of);
    const base = figure(baseline, of);
    return {
      benchmark: `main-thread ${what} per request, guarded vs ${baseline.slice(1)}, ${label}`,
      measured: `${k(guarded)} (${signed(guarded - base, k)})`,
      baseline: k(base),
      ratio: guarded / base,
      goal: '— (info)',
    };
  };
  return [
    row('L1 instruction misses', l1i, '/required'),
    row('L1 data misses', l1d, '/required'),
    row('mispredicted branches', mispredicts, '/required'),
    row('estimated cycles (CEst)', cycles, '/required'),
    row('estimated cycles (CEst)', cycles, '/minimum'),
  ];
}

/** A window's event totals divided by the requests it answered. */
function perRequest(events: Events, answered: number): Events {
  return Object.fromEntries(Object.entries(events).map(([name, n]) => [name, n / answered]));
}

async function control(pid: number, command: '--zero' | '--dump'): Promise<void> {
  await run('callgrind_control', [command, String(pid)]);
}

function perRoute<T>(initial: () => T): Record<Path, T> {
  return Object.fromEntries(ROUTES.map((path) => [path, initial()])) as Record<Path, T>;
}

/**
 * The event totals of one dump, one file per thread (`<file>-01` is the main thread): the main
 * thread's and the sum over all threads. The files are removed once read.
 */
async function totalsOf(
  file: string,
): Promise<{ main: number; total: number; mainEvents: Events }> {
  const dir = dirname(file);
  const prefix = `${basename(file)}-`;
  const names = (await readdir(dir)).filter((name) => name.startsWith(prefix)).sort();
  if (names.length === 0) throw new Error(`no callgrind dump ${file}-*`);
  let mainEvents: Events = {};
  let total = 0;
  for (const name of names) {
    const path = join(dir, name);
    const events = eventsOf(await readFile(path, 'utf8'), path);
    await rm(path, { force: true });
    if (name === `${prefix}01`) mainEvents = events;
    total += events.Ir ?? 0;
  }
  return { main: mainEvents.Ir ?? 0, total, mainEvents };
}

/** A dump's totals by event (`Ir`, and with the simulations `I1mr`, `D1mr`, `Bcm`...). */
type Events = Record<string, number>;

/** The event totals of a callgrind dump: its `events:` names, its `totals:` or `summary:` counts. */
function eventsOf(text: string, file: string): Events {
  const names = /^events: (.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  const counts = /^(?:totals|summary): (.+)$/m.exec(text)?.[1]?.trim().split(/\s+/);
  if (!names || !counts) throw new Error(`no totals in ${file}`);
  return Object.fromEntries(names.map((name, i) => [name, Number(counts[i] ?? 0)]));
}

/** The final dump of each thread (written when the server exits) and any left over. */
async function removeDumps(file: string): Promise<void> {
  const prefix = basename(file);
  for (const name of await readdir(dirname(file))) {
    if (name.startsWith(prefix)) await rm(join(dirname(file), name), { force: true });
  }
}

function signed(n: number, format: (n: number) => string): string {
  return n >= 0 ? `+${format(n)}` : `−${format(-n)}`;
}
